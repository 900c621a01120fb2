"""Scenarios that differ in their numbers run as one ensemble, each exactly as it runs alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from wattyear.sim.paths import set_at
from wattyear.sim.records import as_dict
from wattyear.sim import batch
from wattyear.sim.config import ConfigError, load_config, resolve
from wattyear.sim.model import WattyearModel


def perturbed(base: dict, rng: np.random.Generator, scale: float = 0.03) -> dict:
    """``base`` with every per-scenario number moved by up to ±``scale`` (integers by ±1), within
    the schema's bounds; a move the config's cross-checks refuse is left out. Funding shares keep
    summing to 1 by staying as they are."""
    cfg = copy.deepcopy(base)
    for path, f, value in batch.leaves(base):
        if not f.varies or path.endswith(".share"):
            continue
        if f.kind == "int":
            new = int(value) + int(rng.integers(-1, 2))
        else:
            new = float(value) * (1 + scale * rng.uniform(-1, 1))
        lo = -np.inf if f.min is None else f.min
        hi = np.inf if f.max is None else f.max
        new = min(max(new, lo), hi)
        if f.exclusive_min and new == lo:
            continue
        trial = copy.deepcopy(cfg)
        set_at(trial, path, new)
        try:
            resolve(trial)
        except ConfigError:
            continue
        cfg = trial
    return resolve(cfg)


@pytest.fixture(scope="module")
def design():
    base = load_config(overrides={"run.months": 30})
    rng = np.random.default_rng(5)
    points = [base] + [perturbed(base, rng) for _ in range(2)]
    # three design points and five seeds, interleaved: a point appears with several seeds
    configs = [points[i % 3] for i in range(5)]
    seeds = [11, 12, 13, 11, 15]
    return points, configs, seeds


def test_the_design_points_differ_in_most_numbers(design):
    points, _, _ = design
    stacked = batch.stack(points)
    per_scenario = [np.asarray(v) for _, f, v in batch.leaves(stacked) if f.varies]
    varied = sum(len(set(v.tolist())) > 1 for v in per_scenario)
    assert varied > 0.8 * len(per_scenario)


def test_a_mixed_batch_gives_each_scenario_exactly_its_single_run(design):
    """Every metric and market array of every month, to the bit."""
    _, configs, seeds = design
    together = WattyearModel(configs, seeds=seeds).run()
    first_month_revenue = set()
    for i, (cfg, seed) in enumerate(zip(configs, seeds)):
        alone = WattyearModel(cfg, rng=seed).run()
        assert len(alone.history) == len(together.history)
        for b, a in zip(together.history, alone.history):
            for key, value in as_dict(a.books).items():
                assert getattr(b.books, key)[i].tobytes() == value[0].tobytes(), (i, key)
            for key, value in as_dict(a.market).items():
                assert getattr(b.market, key)[i].tobytes() == value[0].tobytes(), (i, key)
        first_month_revenue.add(float(together.history[0].books.revenue_usd[i].sum()))
    assert len(first_month_revenue) == 3  # the points really are different worlds


def test_a_release_calendar_per_scenario():
    """Cadence and first release are per-scenario numbers: each scenario releases on its own dates."""
    base = load_config(overrides={"run.months": 14})
    fast = resolve(base, overrides={"open_weights.release_every_months": 3, "open_weights.next_release_month": 1})
    slow = resolve(base, overrides={"open_weights.release_every_months": 12, "open_weights.next_release_month": 1})
    model = WattyearModel([fast, slow], seeds=[1, 1]).run()
    # releases in months 1, 4, 7, 10, 13 against 1, 13
    assert model.publisher.next_release.tolist() == [16, 25]
    cost = np.array([r.books.operating_cost_usd[:, model.publisher.column] for r in model.history])
    paid = fast["open_weights"]["training_cost_usd"]
    assert cost[4, 0] - cost[4, 1] == pytest.approx(paid, rel=1e-9)
    assert cost[3, 0] == cost[3, 1]


def test_scenarios_that_differ_in_structure_are_refused_with_the_key():
    base = load_config(overrides={"run.months": 2})
    other = resolve(base, overrides={"segments.enterprise.size_classes": 3})
    with pytest.raises(ConfigError, match="segments.enterprise.size_classes"):
        batch.stack([base, other])
    assert batch.structure_key(base) != batch.structure_key(other)
    assert batch.structure_key(base) == batch.structure_key(
        resolve(base, overrides={"world.energy_usd_per_mwh": 99.0, "run.seed": 3}))


def test_a_batch_of_one_keeps_every_number_as_a_scenario_array():
    config = load_config(overrides={"run.months": 1})
    model = WattyearModel(config)
    assert model.config["world"]["pue"].shape == (1,)
    assert model.scenario_config(0) == config


def test_a_wide_batch_of_many_points_keeps_each_run_exact():
    """Forty-eight scenarios (sixteen design points, three seeds): the vintage and lease tables hold
    every row any scenario needed (many more than one run's), and the runs checked alone still
    match to the bit."""
    base = load_config(overrides={"run.months": 48})
    rng = np.random.default_rng(9)
    points = [perturbed(base, rng, scale=0.08) for _ in range(16)]
    configs = [points[i % 16] for i in range(48)]
    seeds = [100 + i // 16 for i in range(48)]
    together = WattyearModel(configs, seeds=seeds).run()
    alone_rows = []
    for i in (0, 17, 35, 47):
        alone = WattyearModel(configs[i], rng=seeds[i]).run()
        alone_rows.append(alone.leases.watts.shape[1])
        for b, a in zip(together.history, alone.history):
            for key, value in as_dict(a.books).items():
                assert getattr(b.books, key)[i].tobytes() == value[0].tobytes(), (i, key)
    assert together.leases.watts.shape[1] > max(alone_rows)  # rows other scenarios needed were there


def test_entries_in_another_order_are_refused():
    """The order of labs and segments sets ledger columns, sums and ties: a batch must share it."""
    base = load_config(overrides={"run.months": 2})
    reordered = copy.deepcopy(base)
    reordered["labs"] = dict(reversed(list(base["labs"].items())))
    with pytest.raises(ConfigError, match="labs"):
        batch.stack([base, reordered])


def test_a_renewal_takes_each_scenarios_own_rent():
    """Where a scenario's rent of the day is not a number, it keeps the old price; the others renew
    at theirs."""
    from wattyear.sim.fleet import LeaseBook

    book = LeaseBook(1, 2, watts=np.zeros((2, 0)), price_usd_per_w_year=np.zeros((2, 0)))
    book.add(0, 1, np.array([5.0, 5.0]), 0, 12, np.array([10.0, 10.0]), renew=True)
    book.renew_expiring(12, rent_now=np.array([[np.inf, np.nan], [12.5, np.nan]]))
    assert book.price_usd_per_w_year[:, -1].tolist() == [10.0, 12.5]


def test_a_model_that_keeps_some_months_keeps_them_exactly_and_follows_crossings_over_all(design):
    """``keep_months`` (what a study that keeps summaries asks): the kept months' records are the full run's
    to the bit and no other month is kept; the crossing months followed online are ``crossing_steps`` of the
    whole history, for every scenario and agent (some of them finite within 30 months)."""
    from wattyear.experiments.results import kept_records
    from wattyear.sim.capital_market import crossing_steps

    _, configs, seeds = design
    full = WattyearModel(configs, seeds=seeds).run()
    kept = WattyearModel(configs, seeds=seeds, keep_months=[29, 5]).run()
    assert [r.step for r in kept.history] == [5, 29] and kept.months_run == full.months_run == 30
    for record in kept.history:
        whole = full.history[record.step]
        for key, value in as_dict(whole.books).items():
            assert getattr(record.books, key).tobytes() == value.tobytes(), (record.step, key)
        for key, value in as_dict(whole.market).items():
            assert getattr(record.market, key).tobytes() == value.tobytes(), (record.step, key)
    sfr = np.stack([r.books.self_funding_ratio for r in full.history])
    raised = np.stack([r.books.raised_usd for r in full.history])
    expected = crossing_steps(sfr, raised)
    assert np.isfinite(expected).any() and np.isnan(expected).any()
    np.testing.assert_array_equal(kept.crossing_step, expected)
    np.testing.assert_array_equal(full.crossing_step, expected)
    with pytest.raises(KeyError, match=r"months \[6\] were not kept"):
        kept_records(kept, [5, 6])
    # a table cut from the kept months' stack names each row by its month (month 29 is the stack's row 1)
    from wattyear.experiments.results import metrics_frame, stacked_metrics

    frame = metrics_frame(kept, 2, stacked_metrics(kept), steps=[29])
    np.testing.assert_array_equal(frame["cash_usd"], full.history[29].books.cash_usd[2])


def test_the_online_crossing_is_the_crossing_of_the_whole_history():
    """``SelfFundingStreak`` month by month against ``crossing_steps`` over random SFR paths with NaNs and
    raises, at several streak lengths, including paths whose streak is cut by the horizon."""
    from wattyear.sim.capital_market import SelfFundingStreak, crossing_steps

    rng = np.random.default_rng(3)
    for sustain in (1, 2, 5, 12):
        sfr = rng.uniform(0.6, 1.6, size=(40, 50, 4))
        sfr[rng.random(sfr.shape) < 0.05] = np.nan
        raised = np.where(rng.random(sfr.shape) < 0.03, 1e9, 0.0)
        streak = SelfFundingStreak(sfr.shape[1:], sustain=sustain)
        for t in range(len(sfr)):
            streak.update(t, sfr[t], raised[t])
        np.testing.assert_array_equal(streak.crossing, crossing_steps(sfr, raised, sustain=sustain))
