"""Capacity that follows returns, in worlds solved by hand: the newsvendor cover, the cost of a watt at the
owner's cost of capital, leases renewed and vintages replaced only as far as the plan still needs them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from tests.test_leases_and_funding import landlord
from tests.worlds import resolved, tiny_world
from wattyear.sim import investment
from wattyear.sim.model import WattyearModel
from wattyear.sim.units import SECONDS_PER_YEAR

MONTH_SECONDS = SECONDS_PER_YEAR / 12
TOKENS_PER_W_YEAR = SECONDS_PER_YEAR  # 1 token/J


def test_equivalent_annual_cost_on_paper():
    """$12 of capex at 10%, built over 18 months, living 4 years, $0.5 of site opex: A(0.1, 4) = 3.169865,
    12 · 1.1^1.5 / 3.169865 + 0.5 = $4.8675 a year."""
    annuity = (1 - 1.1 ** -4) / 0.1
    assert float(investment.equivalent_annual_cost_usd_per_w_year(12.0, 4.0, 0.1, 1.5, 0.5)) == pytest.approx(
        12 * 1.1 ** 1.5 / annuity + 0.5, rel=1e-12)
    assert annuity == pytest.approx(3.169865, rel=1e-6)


@pytest.mark.parametrize("sigma", [0.0, 0.2])
def test_a_lab_holds_its_forecast_times_the_newsvendor_cover(sigma):
    """'solo' owns 1,000 W and has power to build; its customers want 1,000 W worth of tokens, not growing.
    A used watt earns $2/Mtok × 31,557,600 tokens less its energy (8.766 MWh × $100 × PUE 1, drawn busy or
    idle) = $62.2386 a year; a built watt costs c = $4.8675 a year (above). With σ = 0.2 a year over an
    18-month lead, σ_L = 0.2·√1.5 and the plan holds 1,000 · exp(σ_L · Φ⁻¹(1 − c/m)) W: the cluster it
    plans is that less the 1,000 W it has. With σ = 0 it holds the forecast: nothing to add (the floor of
    20% of its watts is the next cluster)."""
    raw = tiny_world(**{"segments.api.tokens_per_customer_per_month": 1000 * MONTH_SECONDS / 100,
                        "labs.solo.power_secured_w_per_year": 1e6, "world.demand_forecast_sigma_per_year": sigma})
    model = WattyearModel(resolved(raw))
    model.step()
    lab = model.by_id["solo"].column
    margin = 2e-6 * TOKENS_PER_W_YEAR - 8.766 * 0.1
    cost = 12 * 1.1 ** 1.5 / ((1 - 1.1 ** -4) / 0.1) + 0.5
    cover = np.exp(sigma * np.sqrt(1.5) * ndtri(1 - cost / margin))
    assert model.state.target_watts[0, lab] == pytest.approx(1000.0 * cover, rel=1e-9)
    expected = max(1000.0 * cover - 1000.0, 200.0)
    assert model.last_books.next_cluster_watts[0, lab] == pytest.approx(expected, rel=1e-9)
    if sigma:
        assert 1.35 < cover < 1.5  # c/m = 0.078: a cheap watt buys insurance above the forecast


def test_a_higher_cost_of_capital_holds_less():
    """The same world at 10% and 30%: the dearer capital raises c and lowers the cover, so the lab plans a
    smaller cluster. A watt dearer than what it earns (capex of $400/W, at 100%: c ≥ m) is not held at all."""
    planned = []
    for rate in (0.1, 0.3, 20.0):
        raw = tiny_world(**{"segments.api.tokens_per_customer_per_month": 1000 * MONTH_SECONDS / 100,
                            "labs.solo.power_secured_w_per_year": 1e6, "labs.solo.cost_of_capital": min(rate, 1.0),
                            "hardware.hopper.capex_usd_per_w": 12.0 if rate < 1 else 400.0,
                            "world.demand_forecast_sigma_per_year": 0.2})
        model = WattyearModel(resolved(raw))
        model.step()
        planned.append(model.state.target_watts[0, model.by_id["solo"].column])
    assert planned[0] > planned[1] > 1000.0
    assert planned[2] == 0.0  # a watt dearer than its margin is not held (what it has is kept till it retires)


def leased_world(demand_watts: float) -> dict:
    """'solo' owns 1,000 W (no power to build) and leases 500 W from 'cloud' for 4 months, marked to renew;
    customers want ``demand_watts`` worth of tokens, not growing."""
    raw = tiny_world(**{"run.months": 6, "segments.api.tokens_per_customer_per_month": demand_watts * MONTH_SECONDS / 100,
                        "world.min_lease_watts": 0.0})
    raw["hyperscalers"] = {"cloud": dict(landlord("Cloud", 500.0, 12.0), power_secured_w_per_year=0.0)}
    raw["leases"] = [{"lessor": "cloud", "lessee": "solo", "watts": 500.0, "start": "2026-01", "months": 4,
                      "price_usd_per_w_year": 12.0, "renew": True}]
    return raw


@pytest.mark.parametrize("demand, renewed", [(1000.0, 0.0), (1300.0, 300.0), (2000.0, 500.0)])
def test_a_lessee_renews_only_what_its_plan_still_needs(demand, renewed):
    """At the end of the 4-month term (month 4) 'solo' renews (target − 1,000 W it owns) of the 500 W, within
    [0, 500]: its target is its forecast (σ = 0), 1,000, 1,300 or 2,000 W; the rest go back to 'cloud'."""
    model = WattyearModel(resolved(leased_world(demand)))
    lab, cloud = model.by_id["solo"].column, model.by_id["cloud"].column
    for _ in range(5):
        model.step()
    books = model.last_books
    assert books.leased_in_watts[0, lab] == pytest.approx(renewed, rel=1e-9, abs=1e-9)
    assert books.leased_out_watts[0, cloud] == pytest.approx(renewed, rel=1e-9, abs=1e-9)
    assert model.history[3].books.leased_in_watts[0, lab] == pytest.approx(500.0, rel=1e-12)


def test_a_landlord_replaces_a_retiring_vintage_only_if_it_is_used():
    """'cloud' owns 600 W in six cohorts over 48 months of age (4-year life): 100 W retire in month 4 (the
    vintages retiring in the first year are decided at the start) and 100 W every 8 months. With no other customers
    and nothing let it replaces none (no capex); with other cloud customers renting all 600 W
    (``third_party_utilization`` 1) it replaces each one, in service the month the old one retires."""
    capex, owned = [], []
    for used in (0.0, 1.0):
        raw = tiny_world(**{"run.months": 12, "world.starting_fleet_age_months": 48, "world.replace_retiring": True})
        raw["hyperscalers"] = {"cloud": dict(landlord("Cloud", 600.0, 12.0), power_secured_w_per_year=0.0,
                                             third_party_utilization=used)}
        model = WattyearModel(resolved(raw)).run()
        cloud = model.by_id["cloud"].column
        capex.append(sum(r.books.capex_usd[0, cloud] for r in model.history))
        owned.append(model.history[-1].books.owned_watts[0, cloud])
    assert capex[0] == 0.0 and owned[0] == pytest.approx(500.0, rel=1e-12)
    assert capex[1] > 0.0 and owned[1] == pytest.approx(600.0, rel=1e-12)


def test_a_lessee_keeps_what_it_needs_until_its_own_watts_arrive():
    """'solo' wants 1,500 W (its customers' tokens, not growing) and has 1,000 W; a 500 W build of its own
    enters service in 2027-01 and the 500 W lease ends in month 4. It renews all of it: the build on its way
    does not serve months 4–11 (the fewest watts it holds without the lease to the end of its lead is 1,000).
    A lease ending in month 1, before a year of history, is renewed too (the market is taken to stay as
    tight as it is)."""
    for months in (4, 1):
        raw = leased_world(1500.0)
        raw["leases"][0]["months"] = months
        raw["labs"]["solo"]["fleet"] = [{"hardware": "hopper", "watts": 500.0, "in_service": "2027-01"}]
        model = WattyearModel(resolved(raw))
        lab = model.by_id["solo"].column
        for _ in range(months + 1):
            model.step()
        assert model.last_books.leased_in_watts[0, lab] == pytest.approx(500.0, rel=1e-9), months
