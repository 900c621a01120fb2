"""Patterns of the calibrated baseline over its whole horizon, over eight seeds, set against public figures: the
rows of the pattern table in docs/odd.md that no other test checked. Public figures are read from
configs/sources.csv (never retyped here)."""

import functools

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.calibration.least_squares import figures
from wattyear.sim.capital_market import crossing_steps

pytestmark = pytest.mark.slow

SEEDS = list(range(1, 9))


@functools.lru_cache(maxsize=None)
def decade():
    """The baseline's metrics and market over ten years, seeds 1–8, with a calendar year column."""
    e = wattyear.run_ensemble(seeds=SEEDS, months=120)
    year = lambda d: d.assign(year=pd.to_datetime(d["date"]).dt.year)  # noqa: E731
    return year(e.metrics), year(e.market)


def by_year(metrics, agent, column, how="sum"):
    """(scenarios, years) frame of one agent's column, summed (or averaged) within each year."""
    d = metrics[metrics["agent"] == agent].groupby(["scenario", "year"])[column]
    return (d.sum() if how == "sum" else d.mean()).unstack()


def test_openais_burn_to_2029_is_within_half_again_of_its_plan():
    """OpenAI's cash burn over 2026–2029 (minus its free cash flow: capex, rent and operating losses, before
    raises), median over seeds, within ×1.5 of the $115B it projected (measured: $132B, seeds $97–151B)."""
    plan = figures()["openai_projected_burn_2026_2029_usd"]["value"]
    m, _ = decade()
    burn = -by_year(m, "openai", "cash_flow_usd").loc[:, 2026:2029].sum(axis=1)
    assert plan / 1.5 <= burn.median() <= plan * 1.5, burn.median() / 1e9


def test_openai_funds_itself_within_two_years_of_its_target():
    """OpenAI's sustained self-funding month (12 months with SFR ≥ 1 and no raise) in the median seed falls
    within two years of the year it targets for positive cash flow (2030; measured: 2030-08, crossing in 4 of
    8 seeds)."""
    target = figures()["openai_cash_flow_positive_target_year"]["value"]
    m, _ = decade()
    o = m[m["agent"] == "openai"]
    sfr = o.pivot_table(index="step", columns="scenario", values="self_funding_ratio").to_numpy()
    raised = o.pivot_table(index="step", columns="scenario", values="raised_usd").to_numpy()
    steps = np.array([np.inf if s is None or s != s else s for s in crossing_steps(sfr, raised)])
    median = np.sort(steps)[len(steps) // 2 - 1]  # the lower median: "never" is later than any month
    assert np.isfinite(median)
    assert abs(2026 + median // 12 - target) <= 2, median


def test_industry_capex_does_not_collapse_while_demand_grows():
    """Industry AI capex (every owner's builds), median over seeds, falls by no more than 30% from one year to
    the next before 2031 (measured: −16% in 2027, −7% in 2028, then growth), and 2026's is the largest
    programme the guidance implies, within $0.5–1T (measured $704B)."""
    m, _ = decade()
    capex = m.groupby(["scenario", "year"])["capex_usd"].sum().unstack().median()
    change = capex.pct_change().loc[2027:2030]
    assert (change >= -0.30).all(), change
    assert 0.5e12 <= capex[2026] <= 1.0e12, capex[2026]


def test_the_clouds_ai_units_earn_money_every_year():
    """Microsoft's and Amazon's AI units (cloud rent from labs and other customers, less the cost of the watts)
    make an operating profit in every year, median over seeds (measured: $10–169B and $18–260B a year)."""
    m, _ = decade()
    for cloud in ("microsoft", "amazon"):
        profit = by_year(m, cloud, "operating_profit_usd").median()
        assert (profit > 0).all(), (cloud, profit)


def test_frontier_prices_fall_but_slower_than_prices_at_a_fixed_capability():
    """Each closed lab's mean API list price falls from 2026 to 2030, by 1.1–9× a year: the frontier's price
    falls as hardware and serving get cheaper, but its models get better, so it falls slower than the price
    of a fixed capability (9–900× a year, median 40×: ``llm_price_decline_epoch_*``; measured 1.4–1.5× a
    year)."""
    _, k = decade()
    api = k[(k["segment"] == "api") & k["provider"].isin(["openai", "anthropic", "gemini"])]
    price = api.groupby(["provider", "year"])["price_usd_per_mtok"].mean().unstack()
    per_year = (price[2026] / price[2030]) ** (1 / 4)
    assert per_year.between(1.1, 9.0).all(), per_year


def test_openais_fleet_is_busy_but_not_full_most_months():
    """OpenAI's peak load (the share of its operated watts busy at the evening peak, training included) is
    within 40–95% in most months of 2026–2030 (measured: 86% of its months). Anthropic's is at 95% or above
    in most months (it is compute-constrained) and Gemini's in about half: docs/odd.md marks both."""
    m, _ = decade()
    peak = m[(m["agent"] == "openai") & (m["year"] <= 2030)]["peak_load"]
    assert peak.between(0.40, 0.95).mean() > 0.5


def test_no_standing_lab_loses_more_than_its_revenue_after_2030():
    """OpenAI's, Anthropic's and Gemini's operating margins stay above −100% in every year after 2030, in
    every seed (measured worst: −34%, −52%, −27%). xAI's does not: docs/odd.md says why."""
    m, _ = decade()
    for lab in ("openai", "anthropic", "gemini"):
        margin = (by_year(m, lab, "operating_profit_usd") / by_year(m, lab, "revenue_usd")).loc[:, 2031:]
        assert margin.min().min() > -1.0, (lab, margin.min().min())
