"""Every value the schema accepts runs to the horizon with finite outputs.

Hypothesis draws configs from the whole schema-allowed space around the baseline, with the run-time guard
(``sim.guard``) on: a draw either breaks a cross-table rule (a ``ConfigError`` naming it, which is the
validation gate doing its job) or runs every month with finite, conserved books. A ``ModelError`` (the
guard stopping a run) or any other exception fails the test, with the draw shown.

Two strategies: a few parameters at a time pushed to their bounds (where arithmetic breaks), and every
numeric parameter at once drawn anywhere in its range (where combinations break), leaving out only the
families that cross-table rules tie together (funding shares, stakes, lease and owned watts, customers).
Draws are derandomised, so CI sees the same examples each run.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from wattyear.sim.config import ConfigError, field_at, load_config, resolve
from wattyear.sim.config_checks import TINY
from wattyear.sim.model import WattyearModel

#: the guard is the judge here: an intermediate overflow the model absorbs (an exp() of a huge utility that
#: a min() then caps) is not a failure, a non-finite or unconserved output is
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

BASE = load_config()
#: horizon of each draw: long enough for growth, adoption and releases to compound (the guard checks
#: every month), short enough for ~100 draws in well under a minute
MONTHS = 36


def _leaves(node, prefix=""):
    """(dotted path, value) of every number in a config."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{prefix}{i}.")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield prefix[:-1], node


PARAMETERS = {path: field_at(path) for path, _ in _leaves(BASE)}
PARAMETERS = {path: f for path, f in PARAMETERS.items() if f is not None and path not in ("run.months", "run.seed")}
#: families a cross-table rule ties to other values (drawn alone they are mostly refused, which tests little)
TIED = (".funding.", ".stakes.", "leases.", "commitments.", "customers", "watts", "max_training_share",
        "long_run_training_share", "conversion_per_year", "churn_per_year", "consumer_paid.adoption_rate_per_year",
        "consumer_paid.price_elasticity")
#: a parent's money is tied to the parent being named: only the labs the baseline gives a parent draw it
TIED += tuple(f"labs.{lab}.parent_" for lab, profile in BASE["labs"].items() if not profile["parent"])
FREE = {path: f for path, f in PARAMETERS.items() if not any(t in path for t in TIED)}


def value_in(f) -> st.SearchStrategy:
    """A value anywhere in a field's range, its ends included: 0 where allowed, and magnitudes from the
    smallest validation accepts (``TINY``) up, log-uniform over wide ranges."""
    low = f.min if f.min is not None else -1e3
    high = f.max
    if f.kind == "int":
        return st.one_of(st.sampled_from([int(low), int(high)]), st.integers(int(low), int(high)))

    def spread(a: float, b: float) -> st.SearchStrategy:  # a < b, both > 0
        if b / a > 1e3:
            return st.floats(math.log(a), math.log(b)).map(lambda x: min(max(math.exp(x), a), b))
        return st.floats(a, b)

    parts = [st.sampled_from([float(high)] + ([] if f.exclusive_min else [float(low)]))]
    if low < 0:
        parts.append(spread(TINY, -low if high >= 0 else -high).map(lambda x: -x))
    if low < 0 <= high or (low == 0 and not f.exclusive_min):
        parts.append(st.just(0.0))
    if high > 0:
        parts.append(spread(max(low, TINY), float(high)) if max(low, TINY) < high else st.just(float(high)))
    return st.one_of(parts).filter(lambda v: low <= v <= high and (v > low or not f.exclusive_min))


def check(overrides: dict, seed: int) -> None:
    overrides = {**overrides, "run.months": MONTHS, "run.seed": seed}
    note(repr(overrides))
    try:
        cfg = resolve(BASE, overrides=overrides)
    except ConfigError as exc:
        note(str(exc))
        assume(False)  # a cross-table rule refused the draw, naming it (most draws must pass: see settings)
        return
    WattyearModel(cfg).run()  # the guard raises ModelError on any bad month


#: no shrinking: a failure prints its whole draw at once (shrinking ~300 parameters takes minutes)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(st.data(), st.integers(0, 2**31))
def test_parameters_at_their_bounds_run_finite(data, seed):
    paths = data.draw(st.lists(st.sampled_from(sorted(PARAMETERS)), min_size=1, max_size=6, unique=True))
    check({p: data.draw(value_in(PARAMETERS[p]), label=p) for p in paths}, seed)


@SETTINGS
@given(st.data(), st.integers(0, 2**31))
def test_every_parameter_anywhere_in_its_range_runs_finite(data, seed):
    check({p: data.draw(value_in(f), label=p) for p, f in sorted(FREE.items())}, seed)


def test_the_space_is_the_whole_schema():
    """Every numeric parameter of the baseline has both bounds (an open range cannot be searched, and a
    value far outside anything real is a typo to catch, not a scenario to run)."""
    open_ranges = [p for p, f in PARAMETERS.items() if f.max is None or (f.min is None and f.kind != "int")]
    assert not open_ranges
    assert len(PARAMETERS) > 300 and len(FREE) > 150


def _draw(f, rng) -> float | int:
    """A value anywhere in a field's range: log-uniform over wide positive ranges, uniform otherwise."""
    low = f.min if f.min is not None else -1e3
    high = f.max
    if f.kind == "int":
        return int(rng.integers(int(low), int(high) + 1))
    floor = max(low, TINY) if low >= 0 else low
    if low >= 0 and high / floor > 1e3:
        value = math.exp(rng.uniform(math.log(floor), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if f.exclusive_min and value <= low:
        value = high
    return float(min(max(value, low), high))


#: parameters that may differ between the scenarios of one ensemble (the others set the model's structure)
VARYING = {path: f for path, f in FREE.items() if f.varies}


def test_a_thousand_scenarios_anywhere_in_the_schema_write_only_numbers_or_undefined_values():
    """1,000 scenarios, every parameter that may vary between scenarios drawn anywhere in its range at once,
    stepped as one 36-month ensemble: the guard passes every month, and every column the run's files would
    hold is finite, or NaN only in a column that may be undefined and only where its definition says
    (no NaN where a number is defined). Draws a cross-table rule refuses lose the refused values."""
    import numpy as np

    from wattyear.experiments.results import funding_frame, leases_frame, market_frame, stacked_metrics
    from wattyear.sim import outputs
    from wattyear.sim.guard import check_frame

    rng = np.random.default_rng(2026)
    configs = []
    while len(configs) < 1000:
        overrides = {p: _draw(f, rng) for p, f in sorted(VARYING.items())}
        for _ in range(10):
            try:
                configs.append(resolve(BASE, overrides={**overrides, "run.months": MONTHS}))
                break
            except ConfigError as exc:
                for problem in exc.problems:
                    overrides.pop(problem.key, None)
    model = WattyearModel(configs, seeds=list(range(len(configs)))).run()
    m = stacked_metrics(model)  # (months, S, agents)
    for name in outputs.METRIC_NAMES:
        values = m[name]
        if values.dtype.kind not in "fi":
            continue
        assert not np.isinf(values).any(), name
        if name not in outputs.MAY_BE_NAN:
            assert not np.isnan(values).any(), name
    providers = np.arange(m["watts"].shape[-1]) < model.world.n_providers
    no_tokens = m["tokens_capacity"] <= 0
    np.testing.assert_array_equal(np.isnan(m["mtok_per_watt_year"]), no_tokens)
    np.testing.assert_array_equal(np.isnan(m["revenue_usd_per_mtok"]), no_tokens | ~providers)
    np.testing.assert_array_equal(np.isnan(m["cost_usd_per_watt_year"]), m["watts"] <= 0)
    np.testing.assert_array_equal(np.isnan(m["blended_price_usd_per_mtok"]), m["tokens_served"] <= 0)
    np.testing.assert_array_equal(np.isnan(m["cost_usd_per_mtok"]), m["tokens_served"] < 1.0)
    for s in range(model.n_scenarios):  # the derived tables, as a run would write them
        for table, frame in (("market", market_frame), ("leases", leases_frame), ("funding", funding_frame)):
            check_frame(table, frame(model, s), s)
