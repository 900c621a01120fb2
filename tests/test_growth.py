"""Demand growth fitted to the 2025 path and carried to the baseline's start (experiments/calibration/growth.py)."""

import csv

import numpy as np
import pandas as pd
import pytest

from wattyear.experiments.calibration import growth
from wattyear.experiments.calibration.leaks import as_of_month
from wattyear.sim.config import CONFIG_DIR, load_config, resolve
from wattyear.sim.model import WattyearModel


def test_growth_targets_are_figures_known_before_the_baseline_starts():
    """Information date: the fit behind the baseline's growth sees only figures dated before 2026-01, each a
    row of the cited sources."""
    with (CONFIG_DIR / "sources.csv").open(newline="") as fh:
        dated = {row["key"]: as_of_month(row["as_of"]) for row in csv.DictReader(fh)}
    table = pd.read_csv(growth.TARGETS, dtype=str)
    assert len(table) >= 8
    late = [(r.key, r.end) for r in table.itertuples() if r.end >= "2026-01" or dated[r.key] >= (2026, 1)]
    assert not late, late
    assert set(table["metric"]) <= {"revenue_usd", "revenue_run_rate_usd", "tokens_served"}


def test_carrying_growth_a_year_on_is_the_same_path():
    """g·2^(−1/h) from 2026 is the 2025 curve a year on: a segment started with the carried value grows in
    each month as the 2025 one does twelve months later (hand: g = 3, h = 1 → 1.5; g = 2, h = 0.5 → 0.5)."""
    assert growth.carry(np.array([3.0, 2.0]), np.array([1.0, 0.5])).tolist() == [1.5, 0.5]
    g, h = 2.7, 1.8
    models = [WattyearModel(resolve(load_config("baseline"), overrides={
        "run.months": 1, "segments.enterprise.usage_growth_per_year": value,
        "segments.enterprise.usage_growth_halflife_years": h})) for value in (g, float(growth.carry(g, h)))]
    early, late = ([s for s in m.segments if s.agent_id == "enterprise"][0] for m in models)
    for t in (0, 1, 7, 30):
        assert late.usage_growth(t) == pytest.approx(early.usage_growth(t + 12), rel=1e-12)


def test_weighted_quantiles_and_the_conditional_growth_by_hand():
    v, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])  # cumulative midpoints 1/8, 3/8, 3/4
    assert growth.weighted_quantiles(v, w, (0.125, 0.5625, 0.75)).tolist() == [1.0, 2.5, 3.0]
    sample = pd.DataFrame({"segments.api.usage_growth_per_year": [1.0, 2.0, 9.0],
                           "segments.api.usage_growth_halflife_years": [0.9, 1.2, 3.0], "weight": [1.0, 1.0, 1.0]})
    n, q = growth.conditional(sample, "api", 1.0)
    assert n == 2 and q[1] == 1.5  # the particle at h = 3 is left out
    assert growth.conditional(sample, "api", 2.0)[0] == 0


def test_a_scenario_is_consistent_with_the_projections_only_within_one_and_a_half_times_each():
    months = 36
    run = {"openai": np.zeros((3, months)), "anthropic": np.zeros((3, months))}
    run["openai"][:, :12] = np.array([[30e9], [30e9], [19e9]]) / 12   # 2026: $30B, $30B, $19B (below 30/1.5)
    run["anthropic"][:, 24:36] = np.array([[70e9], [110e9], [70e9]]) / 12  # 2028: $70B, $110B (above 105), $70B
    assert growth.within_projections(run).tolist() == [True, False, False]


def test_the_growth_fit_writes_a_baseline_posterior_carried_a_year_on(tmp_path):
    """A tiny budget end to end: the carried folder is a posterior of the baseline that every reader accepts,
    each particle g(2025)·2^(−1/h) with its weight, and the report has the forecast."""
    from wattyear.experiments.calibration.posterior import read_posterior

    assert growth.main(["--particles", "12", "--generations", "1", "--draws", "3", "--out", str(tmp_path)]) == 0
    fitted = pd.read_parquet(tmp_path / "posterior" / "posterior.parquet")
    carried = read_posterior(tmp_path / "baseline")
    assert carried.config.name == "baseline.toml"
    for segment in growth.SEGMENTS:
        g, h = (f"segments.{segment}.usage_growth_per_year", f"segments.{segment}.usage_growth_halflife_years")
        np.testing.assert_allclose(carried.values[g], fitted[g] * 2.0 ** (-1.0 / fitted[h]), rtol=1e-15)
        np.testing.assert_array_equal(carried.values[h], fitted[h])
    np.testing.assert_allclose(carried.weights, fitted["weight"] / fitted["weight"].sum())
    text = (tmp_path / "growth.md").read_text()
    assert "## The baseline's forecast" in text and "| anthropic | 2026 |" in text


def test_the_growth_fit_refuses_a_budget_it_cannot_run(capsys):
    with pytest.raises(SystemExit):
        growth.main(["--particles", "1"])
    assert "--particles: expected at least 2, found 1" in capsys.readouterr().err


def test_the_forecast_reads_each_labs_revenue_of_each_scenario():
    """forecast() against single runs of the same overrides and seeds: scenario by scenario, month by month."""
    overrides = [{}, {"segments.api.usage_growth_per_year": 3.0}]
    got = growth.forecast(overrides, [5, 6], months=4)
    for s, (o, seed) in enumerate(zip(overrides, (5, 6))):
        one = WattyearModel(resolve(load_config("baseline"), overrides={**o, "run.months": 4, "run.seed": seed})).run()
        for lab in ("openai", "anthropic"):
            expected = [r.books.revenue_usd[0, one.by_id[lab].column] for r in one.history]
            np.testing.assert_array_equal(got[lab][s], expected)
    assert got["openai"].shape == (2, 4) and not np.array_equal(got["openai"], got["anthropic"])


def test_a_forecast_too_short_for_the_projections_is_refused():
    with pytest.raises(ValueError, match="does not reach the end of 2028"):
        growth.within_projections({"openai": np.zeros((1, 24)), "anthropic": np.zeros((1, 24))})


def test_the_projections_are_cited_figures_dated_before_the_start():
    with (CONFIG_DIR / "sources.csv").open(newline="") as fh:
        dated = {row["key"]: as_of_month(row["as_of"]) for row in csv.DictReader(fh)}
    assert all(dated[key] < (2026, 1) for _agent, _year, key, _value in growth.PROJECTIONS)


def test_the_growth_fit_refuses_a_folder_of_another_kind_before_fitting(tmp_path, capsys):
    """A run's folder as --out, or a study's where the carried posterior goes: refused at once, nothing written."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    with pytest.raises(SystemExit):
        growth.main(["--out", str(tmp_path / "run"), "--particles", "2", "--generations", "1", "--draws", "0"])
    assert "found a run folder" in capsys.readouterr().err
    (tmp_path / "g" / "baseline").mkdir(parents=True)
    (tmp_path / "g" / "baseline" / "manifest.jsonl").write_text("")
    assert growth.main(["--out", str(tmp_path / "g"), "--particles", "2", "--generations", "1", "--draws", "0"]) == 2
    assert "a study folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["baseline"]
    with pytest.raises(SystemExit):
        growth.main(["--doc", str(tmp_path / "nowhere" / "g.md"), "--out", str(tmp_path / "h")])
    assert "--doc: expected a file in an existing folder" in capsys.readouterr().err
