"""The cost view: the stack per million tokens adds up, by hand and on the baseline, and the command
refuses what it cannot show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.analysis.costs import STACK, cost_stack, cost_text, segment_prices


def month(agent, step, tokens, energy, depreciation, site, rent, theta, operating, revenue):
    return {"agent": agent, "kind": "lab", "step": step, "date": pd.Timestamp(2026, step + 1, 1),
            "tokens_served": tokens, "energy_usd": energy, "watt_depreciation_usd": depreciation,
            "watt_site_opex_usd": site, "watt_rent_usd": rent, "training_share": theta,
            "cost_usd_per_watt_year": 12.0 * (energy + depreciation + site + rent), "watts": 1.0,
            "operating_cost_usd": operating, "token_revenue_usd": revenue}


def test_the_stack_per_mtok_by_hand():
    """Two months of 10⁶ tokens each; the watts cost $3, $1, $0.5 and $0.5 a month in energy, depreciation,
    site opex and rent, with θ = 0.4: $5.00/Mtok of watts, $2.00 of it training's, $3.00 serving's; an
    operating cost of $6 a month leaves $1.00/Mtok of other costs; revenue $4/Mtok: gross margin 1 − 3/4."""
    rows = [month("solo", t, 1e6, 3.0, 1.0, 0.5, 0.5, 0.4, 6.0, 4.0) for t in (0, 1)]
    s = cost_stack(pd.DataFrame(rows)).iloc[0]
    assert (s["energy"], s["depreciation"], s["site_opex"], s["rent"]) == (3.0, 1.0, 0.5, 0.5)
    assert s["watts"] == 5.0 and s["training"] == pytest.approx(2.0) and s["serving"] == pytest.approx(3.0)
    assert s["other"] == 1.0 and s["total"] == 6.0 and s["revenue"] == 4.0
    assert s["gross_margin"] == pytest.approx(0.25) and s["mtok"] == 2.0


def test_a_year_without_tokens_is_undefined_not_zero():
    rows = [month("idle", 0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0)]
    s = cost_stack(pd.DataFrame(rows)).iloc[0]
    assert np.isnan(s["watts"]) and np.isnan(s["gross_margin"]) and s["mtok"] == 0.0


def test_the_baseline_stack_adds_up_to_the_cost_of_watts_to_a_cent():
    """Every provider (the four labs and the open-weights fringe), every year of four: energy + depreciation
    + site opex + rent per Mtok, times the Mtok served, is Σ CPWY × W / 12 to a cent; training + serving is
    the cost of watts; the fringe's rent is in its stack."""
    result = wattyear.run(months=48)
    s = cost_stack(result.metrics)
    assert set(s["agent"]) == {"openai", "anthropic", "xai", "gemini", "open_weights_fringe"}
    parts = sum(s[p] for p in STACK) * s["mtok"]
    assert np.all(np.abs(parts - s["cpwy_usd"]) < 0.01)
    assert np.all(np.abs(s["watts_usd"] - s["cpwy_usd"]) < 0.01)
    np.testing.assert_allclose(s["training"] + s["serving"], s["watts"], rtol=1e-12)
    fringe = s[s["agent"] == "open_weights_fringe"]
    assert (fringe["rent"] > 0).all() and (fringe["depreciation"] == 0).all()
    assert "2029" in cost_text(s, [2029]) and "gross margin" in cost_text(s, [2029])
    prices = segment_prices(result.market)
    paid = prices[prices["segment"].isin(["api", "enterprise"])]
    assert (paid["price"] > paid["marginal_cost"]).all()  # every per-token price is above its marginal cost
    assert prices[prices["segment"] == "consumer_free"]["lerner"].isna().all()


def test_the_costs_command_writes_its_tables_and_refuses_years_outside_the_run(tmp_path, capsys):
    from wattyear.experiments.cli import main

    assert main(["costs", "--out", str(tmp_path), "--years", "2026,2030"]) == 0
    out = capsys.readouterr().out
    assert "openai" in out and "2030" in out
    table = pd.read_csv(tmp_path / "costs.csv")
    assert {"energy", "rent", "watts", "revenue", "gross_margin"} <= set(table.columns)
    assert (tmp_path / "costs.png").is_file() and (tmp_path / "segment_prices.csv").is_file()
    assert main(["costs", "--out", str(tmp_path), "--years", "2099"]) == 2
    assert "years within the run" in capsys.readouterr().err
