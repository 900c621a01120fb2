"""Whole-model runs of worlds small enough to solve on paper."""

import numpy as np
import pytest

from wattyear.sim.model import WattyearModel
from wattyear.sim.units import SECONDS_PER_YEAR
from tests.worlds import resolved, tiny_world

MONTH_SECONDS = SECONDS_PER_YEAR / 12  # 2,629,800


def test_one_lab_one_segment_exact_month():
    """1,000 W of hardware at 1 token/J; 100 customers x 1,000 tokens; $2 per Mtok.

    capacity  = 1000 x 2,629,800 = 2.6298e9 tokens a month; demand 1e5, all served
    revenue   = 1e5 x 2 / 1e6 = $0.20
    energy    = 1000 W x PUE 1 x $100/MWh x 0.008766 MWh/W-yr / 12 = $73.05
    site opex = 1000 x $0.5 / 12 = $41.666...
    deprec.   = 1000 x $12/W / 4 yr / 12 = $250
    profit    = 0.20 - 73.05 - 41.666... - 250 = -$364.5166...
    cash      = 1000 + profit + depreciation (non-cash) = $885.4833...
    CPWY      = (876.6 + 500 + 3000) / 1000 = $4.3766 per W-yr
    """
    model = WattyearModel(resolved(tiny_world()))
    model.step()
    m = model.last_books
    lab = model.by_id["solo"].column
    assert m.tokens_capacity[0, lab] == pytest.approx(1000 * MONTH_SECONDS, rel=1e-14)
    assert m.tokens_served[0, lab] == pytest.approx(1e5, rel=1e-12)
    assert m.token_revenue_usd[0, lab] == pytest.approx(0.2, rel=1e-12)
    assert m.operating_profit_usd[0, lab] == pytest.approx(0.2 - 73.05 - 500 / 12 - 250, rel=1e-12)
    assert m.cash_usd[0, lab] == pytest.approx(1000 + 0.2 - 73.05 - 500 / 12, rel=1e-12)
    assert m.cost_usd_per_watt_year[0, lab] == pytest.approx(4.3766, rel=1e-12)
    assert m.mtok_per_watt_year[0, lab] == pytest.approx(SECONDS_PER_YEAR / 1e6, rel=1e-14)  # 1 token/W-s
    assert m.utilization[0, lab] == pytest.approx(1e5 / (1000 * MONTH_SECONDS), rel=1e-12)
    assert m.rate_limited_share[0, lab] == 0.0
    assert m.revenue_usd_per_watt_year[0, lab] == pytest.approx(0.2 * 12 / 1000, rel=1e-12)


def test_two_labs_one_over_capacity_spill_over_on_paper():
    """Two identical labs, 1 token per W a month; A has 30 W, B 100 W; demand 100.

    Equal utility: 50 tokens asked of each. A serves its 30 and turns away 20,
    which re-choose B (the outside option is e^-60 away): B serves 70.
    A is rate-limited on 20/50 = 40% of what it was asked; B on none.
    """
    raw = tiny_world(**{
        "hardware.hopper.tokens_per_joule": 1.0 / MONTH_SECONDS,
        "labs.solo.watts": 30.0,
        "segments.api.tokens_per_customer_per_month": 1.0,
    })
    raw["labs"]["other"] = dict(raw["labs"]["solo"], name="Other", watts=100.0)
    model = WattyearModel(resolved(raw))
    model.step()
    m = model.last_books
    a, b = model.by_id["solo"].column, model.by_id["other"].column
    assert m.tokens_served[0, a] == pytest.approx(30.0, rel=1e-9)
    assert m.tokens_served[0, b] == pytest.approx(70.0, rel=1e-9)
    assert m.rate_limited_share[0, a] == pytest.approx(0.4, rel=1e-9)
    assert m.rate_limited_share[0, b] == pytest.approx(0.0, abs=1e-12)
    assert model.last_market.unserved[0].sum() == pytest.approx(0.0, abs=1e-9)


def test_training_run_takes_watts_off_inference_up_to_its_cap():
    """A run of 4 x 1,000 W-yr planned over 6 months needs 8,000 W: more than the
    lab's 1,000 W, so training takes the cap, half the watts. Capacity (TPWY) still
    counts all watts; only half serve, so utilisation is at most 0.5."""
    raw = tiny_world(**{
        "labs.solo.max_training_share": 0.5,
        "labs.solo.last_run_compute_watt_years": 1000.0,
        "segments.api.tokens_per_customer_per_month": 1e8,  # 1e10 asked, more than it can serve
    })
    model = WattyearModel(resolved(raw))
    model.step()
    m = model.last_books
    lab = model.by_id["solo"].column
    assert m.training_share[0, lab] == 0.5
    assert m.tokens_served[0, lab] == pytest.approx(0.5 * 1000 * MONTH_SECONDS, rel=1e-12)
    assert m.utilization[0, lab] == pytest.approx(0.5, rel=1e-12)
    assert model.state.quality[0, lab] == 1.0  # 41.7 of 4,000 W-yr done


def test_small_run_finishes_on_plan_and_raises_quality():
    """A run of 4 x 1 W-yr over 6 months needs 8 W (0.8% of the fleet); at 8/12 W-yr
    a month it is done in the 6th month and quality rises by 0.1 x ln 4."""
    raw = tiny_world(**{
        "labs.solo.max_training_share": 0.5,
        "labs.solo.last_run_compute_watt_years": 1.0,
        "labs.solo.quality_per_ln_compute": 0.1,
    })
    model = WattyearModel(resolved(raw))
    model.step()
    lab = model.by_id["solo"].column
    assert model.last_books.training_share[0, lab] == pytest.approx(8 / 1000, rel=1e-12)
    for _ in range(6):
        model.step()
    assert model.state.generations[0, 0] == 1  # 6 x 8/12 = 4 W-yr, up to rounding
    assert model.state.quality[0, lab] == pytest.approx(1.0 + 0.1 * np.log(4.0), rel=1e-12)


def test_lease_moves_watts_and_rent_both_sides():
    """Lab 'solo' lets 400 of its 1,000 W to 'other' at $6/W-yr: $200 a month each way."""
    raw = tiny_world()
    raw["labs"]["other"] = dict(raw["labs"]["solo"], name="Other", watts=0.0)
    raw["leases"] = [{"lessor": "solo", "lessee": "other", "watts": 400.0, "start": "2026-01", "months": 2,
                      "price_usd_per_w_year": 6.0}]
    model = WattyearModel(resolved(raw))
    model.step()
    m = model.last_books
    a, b = model.by_id["solo"].column, model.by_id["other"].column
    assert m.watts[0, a] == 600.0 and m.watts[0, b] == 400.0
    assert m.lease_income_usd[0, a] == pytest.approx(200.0) and m.rent_paid_usd[0, b] == pytest.approx(200.0)
    model.step()
    model.step()  # month 2: the lease has ended
    assert model.last_books.watts[0, a] == 1000.0 and model.last_books.watts[0, b] == 0.0


def test_release_without_lag_uses_this_months_frontier():
    """A run finishing in month 0 lifts the lab to 1 + 0.1 x ln 4; a release in month 1 with
    no lag copies q x that frontier, not the frontier of a month before (0.5 x 1.0)."""
    raw = tiny_world(**{
        "labs.solo.max_training_share": 0.5, "labs.solo.last_run_compute_watt_years": 1.0,
        "labs.solo.quality_per_ln_compute": 0.1, "labs.solo.run_progress": 0.99,
        "open_weights.next_release_month": 1, "open_weights.lag_months": 0,
    })
    model = WattyearModel(resolved(raw))
    fringe = model.fringe.column
    assert model.state.quality[0, fringe] == 0.5  # q x the starting frontier, derived, not typed in
    model.step()
    model.step()
    assert model.state.quality[0, fringe] == pytest.approx(0.5 * (1.0 + 0.1 * np.log(4.0)), rel=1e-12)


def test_cost_stack_of_one_lab_by_hand():
    """The world of the first test: its 1,000 W cost $73.05 of energy, $41.666… of site opex and $250 of
    depreciation a month and no rent: $364.7166… = CPWY $4.3766 × 1,000 W / 12. It served 0.1 Mtok, so
    a token cost it $3,647.17 per Mtok; nothing trains, so all of it is serving cost."""
    model = WattyearModel(resolved(tiny_world()))
    model.step()
    m = model.last_books
    lab = model.by_id["solo"].column
    assert (m.energy_usd[0, lab], m.watt_site_opex_usd[0, lab], m.watt_depreciation_usd[0, lab],
            m.watt_rent_usd[0, lab]) == pytest.approx((73.05, 500 / 12, 250.0, 0.0), rel=1e-12)
    total = 73.05 + 500 / 12 + 250.0
    assert total == pytest.approx(4.3766 * 1000 / 12, rel=1e-12)
    assert m.cost_usd_per_mtok[0, lab] == pytest.approx(total / 0.1, rel=1e-12)
    assert m.serving_cost_usd_per_mtok[0, lab] == pytest.approx(total / 0.1, rel=1e-12)
