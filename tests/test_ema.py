"""The EMA Workbench adapter (wattyear.experiments.analysis.ema) and the scenario-discovery example."""

import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ema_workbench")

import wattyear  # noqa: E402
from wattyear.experiments.analysis import ema  # noqa: E402
from wattyear.experiments.analysis import scenario_discovery as sd  # noqa: E402
from wattyear.sim.capital_market import crossing_step  # noqa: E402
from wattyear.sim.config import CONFIG_DIR, ConfigError, field_at  # noqa: E402

MONTHS = 24
BOUNDS = tomllib.loads((CONFIG_DIR / "bounds.toml").read_text())["bounds"]


@pytest.fixture(scope="module")
def study():
    """Four LHS scenarios of every bounds.toml uncertainty, 24 months, two replicates each."""
    from ema_workbench import perform_experiments

    m = ema.model(months=MONTHS, replicates=2, rpt_month="2027-06")
    experiments, outcomes = perform_experiments(m, scenarios=4, uncertainty_sampling_kwargs={"rng": 7})
    return m, experiments, outcomes


def test_names_round_trip_and_are_identifiers():
    for path in BOUNDS:
        name = ema.ema_name(path)
        assert name.isidentifier() and "." not in name
        assert ema.dotted_path(name) == path
    assert ema.ema_name("open_weights.quality_fraction") == "open_weights__quality_fraction"
    assert ema.dotted_path("scenario") == "scenario"
    for bad in ("labs.x-ai.generation_compute_multiple", "world._pue", "world.a__b", "world..pue"):
        with pytest.raises(ConfigError, match="identifiers"):
            ema.ema_name(bad)


def test_uncertainties_follow_bounds_toml():
    from ema_workbench import IntegerParameter, RealParameter

    params = ema.uncertainties()
    assert [ema.dotted_path(p.name) for p in params] == list(BOUNDS)
    for p in params:
        path = ema.dotted_path(p.name)
        is_int = field_at(path).kind == "int"
        assert isinstance(p, IntegerParameter) if is_int else (isinstance(p, RealParameter)
                                                               and not isinstance(p, IntegerParameter))
        assert (p.lower_bound, p.upper_bound) == (BOUNDS[path]["low"], BOUNDS[path]["high"])
    assert {ema.dotted_path(p.name) for p in params if isinstance(p, IntegerParameter)} == {
        "open_weights.lag_months", "open_weights.release_every_months"}
    chosen = ema.uncertainties(["world.pue"], ranges={"world.pue": (1.2, 1.3)})
    assert [(p.name, p.lower_bound, p.upper_bound) for p in chosen] == [("world__pue", 1.2, 1.3)]


def test_unknown_paths_and_refused_overrides_are_named():
    with pytest.raises(ConfigError, match="world.nonsense"):
        ema.uncertainties(["world.nonsense", "world.pue"])
    with pytest.raises(ConfigError, match="world.idle_power_fraction.*no range"):
        ema.uncertainties(["world.idle_power_fraction"])
    # a schema path whose lab the base config lacks: refused when the model is built, before any run
    with pytest.raises(ConfigError, match="nobody"):
        ema.model(paths=["labs.nobody.generation_compute_multiple"],
                  ranges={"labs.nobody.generation_compute_multiple": (4.0, 5.0)}, months=3)
    with pytest.raises(ConfigError, match="rpt_month"):
        ema.outcome_names("2030/12")


def test_missing_workbench_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ema_workbench", None)  # import ema_workbench now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'wattyear\[ema\]'"):
        ema.uncertainties()


def test_outcome_names():
    assert ema.OUTCOMES == ema.outcome_names("2030-12", ema.LABS)
    assert len(ema.OUTCOMES) == 4 * len(ema.LABS) and "anthropic_rpt_2030_12" in ema.OUTCOMES


def test_perform_experiments_gives_every_outcome_with_censoring(study):
    m, experiments, outcomes = study
    assert len(experiments) == 4
    assert set(outcomes) == set(ema.outcome_names("2027-06", ema.LABS))
    for i in range(4):  # each replicate: a month within the horizon (0-23) or the censoring value 24
        table = m.function.replicate_outcomes(**{u.name: experiments.iloc[i][u.name] for u in m.uncertainties})
        assert list(table.index) == ema.replicate_seeds(0, 2)
        for lab in ema.LABS:
            each = table[f"{lab}_crossing_month"]
            assert each.isin([*range(MONTHS), MONTHS]).all(), (i, lab, each.tolist())
            # two replicates: the Kaplan–Meier median is the earlier month (half have crossed by then), not
            # their mean with a censored one
            assert outcomes[f"{lab}_crossing_month"][i] == each.min()
    for lab in ema.LABS:
        crossing = outcomes[f"{lab}_crossing_month"]
        assert crossing.shape == (4,) and np.all((crossing >= 0) & (crossing <= MONTHS))
        for kind in ("final_margin", "outside_capital_bn", "rpt_2027_06"):
            assert np.all(np.isfinite(outcomes[f"{lab}_{kind}"])), (lab, kind)
        assert np.all(outcomes[f"{lab}_outside_capital_bn"] >= 0)
        assert np.all(outcomes[f"{lab}_rpt_2027_06"] > 0)
    # OpenAI never self-funds within two years in the baseline (its free users and signed tranches): censored at
    # the horizon
    assert np.all(outcomes["openai_crossing_month"] == MONTHS)


def test_outcomes_are_the_median_of_separate_runs(study):
    m, experiments, outcomes = study
    row = experiments.iloc[1]
    params = {u.name: row[u.name] for u in m.uncertainties}
    overrides = m.function.overrides(**params)
    assert isinstance(overrides["open_weights.lag_months"], int)
    assert overrides["open_weights.lag_months"] == int(round(float(row["open_weights__lag_months"])))
    seeds = ema.replicate_seeds(0, 2)
    assert m.function.seeds == seeds == [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1))
                                         for c in np.random.SeedSequence(0).spawn(2)]
    runs = [wattyear.run(overrides=overrides, months=MONTHS, seed=s) for s in seeds]
    each = [ema.outcome_values(r.metrics, rpt_month="2027-06") for r in runs]
    for name in outcomes:  # bit-identical members; a crossing month: the earlier of two (Kaplan–Meier median)
        middle = min if name.endswith("_crossing_month") else np.median
        assert outcomes[name][1] == middle([e[name] for e in each]), name
    # one outcome by hand, straight from a run's metrics
    lab = runs[0].metrics.query("agent == 'gemini'").sort_values("step")
    hit = crossing_step(lab["self_funding_ratio"].to_numpy(), lab["raised_usd"].to_numpy())
    assert each[0]["gemini_crossing_month"] == (MONTHS if hit is None else hit)
    assert each[0]["gemini_outside_capital_bn"] == lab["outside_capital_usd"].iloc[-1] / 1e9


def test_rpt_month_beyond_the_horizon_is_nan():
    m = ema.model(paths=["world.pue"], months=3)
    values = m.function(world__pue=1.2)
    assert np.isnan(values["openai_rpt_2030_12"]) and np.isfinite(values["openai_final_margin"])
    assert values["anthropic_crossing_month"] == 3.0  # never within 3 months: censored at the horizon


def test_for_prim_gives_float_uncertainty_columns(study):
    m, experiments, _ = study
    assert experiments["open_weights__lag_months"].dtype.kind == "i"  # as EMA returns it
    x = ema.for_prim(experiments)
    assert list(x.columns) == list(BOUNDS)
    assert all(dtype == np.float64 for dtype in x.dtypes)
    np.testing.assert_array_equal(x["world.pue"].to_numpy(), experiments["world__pue"].to_numpy())
    kept = ema.for_prim(experiments, m, dotted=False)
    assert list(kept.columns) == [u.name for u in m.uncertainties] and all(kept.dtypes == np.float64)


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_for_prim_lets_prim_paste_integer_parameters():
    """PRIM pastes integer columns at half-way values (5.5), which pandas 3 refuses in an int64 column."""
    from ema_workbench.analysis import prim

    rng = np.random.default_rng(0)
    experiments = pd.DataFrame({"world__serving_multiplier_growth_per_year": rng.uniform(0, 3.5, 60),
                                "open_weights__lag_months": rng.integers(3, 11, 60), "scenario": range(60)})
    y = (experiments["open_weights__lag_months"] <= 5).to_numpy() & (
        experiments["world__serving_multiplier_growth_per_year"] > 1).to_numpy()
    box = prim.Prim(ema.for_prim(experiments), y).find_box()
    assert box.coverage == 1.0 and box.density == 1.0
    assert 5 <= box.box_lims[-1]["open_weights.lag_months"].iloc[1] < 6


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_a_tiny_prim_runs(study):
    from ema_workbench.analysis import prim

    _, experiments, outcomes = study
    x = ema.for_prim(experiments)
    y = np.array([True, False, True, False])
    box = prim.Prim(x, y, peel_alpha=0.1, mass_min=0.25).find_box()
    assert 0 < box.coverage <= 1 and 0 < box.density <= 1
    stats, limits = box.inspect(style="data")[0]
    assert set(limits.index) <= set(x.columns)
    split = sd.Split(lab="anthropic", year=2030, threshold=48, y=y, shares_by_year={2030: 0.5})
    found = sd.run_prim(x, split, peel_alpha=0.1, mass_min=0.25)
    assert found.chosen is not None and found.stats["coverage"] > 0
    assert list(found.limits.columns)[:3] == ["uncertainty", "low", "high"]


def test_the_split_moves_its_year_only_when_lopsided():
    crossing = np.array([10.0, 30, 50, 120, 120, 120, 120, 120, 120, 120])
    kept = sd.split_cases(crossing, start="2026-01", months=120)  # 20% cases: uneven, kept, and said so
    assert (kept.year, kept.threshold, kept.y.sum()) == (2030, 48, 2) and "uneven" in kept.note
    even = sd.split_cases(np.array([10.0, 30, 50, 120]), start="2026-01", months=120)
    assert (even.year, even.note) == (2030, "")
    rare = np.array([10.0] + [60.0] * 4 + [120.0] * 15)  # 5% before 2030, 25% before 2032
    moved = sd.split_cases(rare, start="2026-01", months=120)
    assert moved.year == 2032 and "lopsided" in moved.note and moved.y.sum() == 5
    short = sd.split_cases(np.array([5.0, 24.0]), start="2026-01", months=24)  # 24 = censored
    assert short.y.tolist() == [True, False] and "horizon" in short.note


def test_the_example_writes_its_report(tmp_path):
    out = tmp_path / "sd"
    assert sd.main(["--scenarios", "6", "--months", "36", "--out", str(out), "--seed", "3"]) == 0
    text = (out / "scenario_discovery.md").read_text()
    assert "## The case" in text and "## PRIM" in text and "--scenarios 6" in text
    assert (out / "crossing_months.png").is_file() and (out / "experiments.csv").is_file()
    table = pd.read_csv(out / "experiments.csv")
    assert len(table) == 6 and "case" in table and "world.pue" in table
