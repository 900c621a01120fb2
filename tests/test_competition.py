"""The competition rules in worlds small enough to solve on paper.

Every world here is ``tests.worlds.tiny_world`` (1,000 W of hardware at 1 token/J,
$12/W over 4 years, $0.5/W-yr of site opex, energy that does not depend on load)
with one per-token segment of 100 customers, made price-sensitive. The marginal
cost of a token is then the capacity charge over the tokens a watt makes:

    k = 12/4 + 0.5 = $3.5 per W-yr,  TPWY = 31,557,600 tokens/W-yr,
    c = 3.5 / 31,557,600 × 10⁶ = $0.110908... per Mtok.
"""

import numpy as np
import pytest
from scipy import optimize

from wattyear.sim.model import WattyearModel
from wattyear.sim.units import SECONDS_PER_YEAR
from tests.worlds import resolved, tiny_world

MONTH_SECONDS = SECONDS_PER_YEAR / 12
COST = 3.5 / SECONDS_PER_YEAR * 1e6  # $/Mtok
LN2 = float(np.log(2.0))


def priced_world(outside=0.0, beta_price=3.0, adjustment=1.0, **changes):
    """One lab at $2/Mtok whose utility there is exactly 0 (affinity 3·ln 2); the outside
    option at ``outside``; the fringe (no watts) out of reach; plenty of cash."""
    raw = tiny_world(**{
        "segments.api.beta_price": beta_price, "segments.api.outside_utility": outside,
        "labs.solo.affinity": {"api": beta_price * LN2}, "labs.solo.price_adjustment": adjustment,
        "labs.solo.cash_usd": 1e9, "fringe.affinity": {"api": -200.0}, **changes})
    return raw


def price(model, lab="solo"):
    return model.state.price[0, 0, model.by_id[lab].column]


def test_best_response_of_one_lab_is_the_lerner_price():
    """Half the customers choose the lab (u = 0 against an outside option of 0), so
    η = β_p·(1 − s) = 3 × 0.5 = 1.5 and the best response is c·η/(η − 1) = 3c."""
    model = WattyearModel(resolved(priced_world()))
    model.step()
    assert price(model) == pytest.approx(3 * COST, rel=1e-12)


def test_partial_adjustment_moves_a_share_of_the_way():
    """With α = 0.25 the price moves a quarter of the way from $2 to 3c."""
    model = WattyearModel(resolved(priced_world(adjustment=0.25)))
    model.step()
    assert price(model) == pytest.approx(2.0 + 0.25 * (3 * COST - 2.0), rel=1e-12)


def duopoly(other_price=2.0, other_adjustment=1.0, **changes):
    raw = priced_world(**changes)
    raw["labs"]["other"] = dict(raw["labs"]["solo"], name="Other", price_usd_per_mtok={"api": other_price},
                                price_adjustment=other_adjustment)
    return raw


def test_two_labs_best_respond_to_each_others_prices():
    """Both at $2, each with utility 0 against an outside option of 0: s = 1/3 each,
    η = 3 × 2/3 = 2, best response 2c for both."""
    model = WattyearModel(resolved(duopoly()))
    model.step()
    assert price(model, "solo") == pytest.approx(2 * COST, rel=1e-12)
    assert price(model, "other") == pytest.approx(2 * COST, rel=1e-12)


def test_a_rivals_price_cut_lowers_the_best_response():
    """Other cuts to $1 (and holds it): its weight is e^(3 ln 2 − 3 ln 1) = 8 against solo's 1
    and the outside option's 1, so solo's share falls to 1/10, η = 3 × 0.9 = 2.7 and
    solo's best response falls from 2c to c·2.7/1.7."""
    model = WattyearModel(resolved(duopoly(other_price=1.0, other_adjustment=0.0)))
    model.step()
    assert price(model, "solo") == pytest.approx(COST * 2.7 / 1.7, rel=1e-12)
    assert price(model, "solo") < 2 * COST


def test_symmetric_duopoly_converges_to_the_bertrand_nash_price():
    """Repeated best responses (α = 0.5, 40 months, before the 4-year-old fleet retires) settle
    at the symmetric logit Bertrand–Nash price:
    p = c·η/(η − 1) with η = 3·(1 − s(p)), s(p) = x/(2x + 1), x = 8·p^(−3)."""
    model = WattyearModel(resolved(duopoly(adjustment=0.5, other_adjustment=0.5, **{"run.months": 40})))
    model.run()

    def excess(p):
        x = 8.0 * p**-3
        eta = 3.0 * (1.0 - x / (2 * x + 1))
        return p - COST * eta / (eta - 1.0)

    nash = optimize.brentq(excess, COST * 1.01, 10 * COST, xtol=1e-15)
    assert price(model, "solo") == pytest.approx(nash, rel=1e-9)
    assert price(model, "other") == pytest.approx(nash, rel=1e-9)


def test_capacity_constrained_price_clears_the_market():
    """Kreps–Scheinkman. The outside option's utility ln 2 leaves the lab a third of the
    customers (η = 3 × 2/3 = 2), who ask 4× the 2,629,800,000 tokens it can serve. The
    price that brings demand to capacity is 2 × $2 = $4 (4·m^(−2) = 1); the best response
    ignoring capacity is 2c. With capacity_pricing = 1 the lab lists $4; with 0.5 half way."""
    tokens = 12 * 1000 * MONTH_SECONDS / 100  # 100 customers asking 12× capacity, a third of it of the lab
    for share, expected in ((1.0, 4.0), (0.5, 2 * COST + 0.5 * (4.0 - 2 * COST))):
        raw = priced_world(outside=LN2, **{"segments.api.tokens_per_customer_per_month": tokens,
                                           "labs.solo.capacity_pricing": share})
        model = WattyearModel(resolved(raw))
        model.step()
        lab = model.by_id["solo"].column
        assert model.last_books.rate_limited_share[0, lab] == pytest.approx(0.75, rel=1e-9)
        assert price(model) == pytest.approx(expected, rel=1e-9)
        assert model.last_market.capacity_shadow_price_usd_per_mtok[0, 0, lab] == pytest.approx(
            expected - 2 * COST, rel=1e-9)


def test_a_commitment_is_paid_while_idle():
    """A take-or-pay commitment of 500 W at $10/W-yr from a landlord, to a lab with no
    customers: the landlord built the 500 W to suit (in service from month 0) and the lab
    pays 500 × 10 / 12 = $416.67 every month, serving nothing."""
    raw = tiny_world(**{"segments.api.customers": 0.0})
    raw["hyperscalers"] = {"landlord": {"name": "Landlord", "watts": 0.0, "cash_usd": 1e6,
                                        "cloud_rent_usd_per_w_year": 10.0, "third_party_utilization": 0.0}}
    raw["commitments"] = [{"lessor": "landlord", "lessee": "solo", "watts": 500.0, "start": "2026-01",
                           "months": 12, "price_usd_per_w_year": 10.0}]
    model = WattyearModel(resolved(raw))
    for _ in range(2):
        model.step()
        m = model.last_books
        lab, landlord = model.by_id["solo"].column, model.by_id["landlord"].column
        assert m.owned_watts[0, landlord] == 500.0 and m.leased_in_watts[0, lab] == 500.0
        assert m.tokens_served[0, lab] == 0.0
        assert m.rent_paid_usd[0, lab] == pytest.approx(500 * 10 / 12, rel=1e-12)
        assert m.lease_income_usd[0, landlord] == pytest.approx(500 * 10 / 12, rel=1e-12)


def test_a_raise_is_capped_by_valuation_and_the_lab_fails():
    """Cash 0 and an operating outflow of 73.05 + 41.67 − 0.20 = $114.52 a month. It needs
    25 months of burn, but investors value it at 20 × the $2.40 run-rate = $48 and take at
    most 15%: it raises $7.20, still ends the month short by $107.32, and fails. Its
    creditors write the shortfall off; its cash is 0, never negative; from the next month
    it has no watts and serves no one."""
    raw = tiny_world(**{"labs.solo.cash_usd": 0.0, "labs.solo.round_fraction": 0.15,
                        "labs.solo.revenue_multiple": 20.0})
    model = WattyearModel(resolved(raw))
    model.step()
    m = model.last_books
    lab = model.by_id["solo"].column
    burn = 73.05 + 500 / 12 - 0.2
    assert m.raised_usd[0, lab] == pytest.approx(0.15 * 20 * 2.4, rel=1e-12)
    assert m.failed[0, lab] == 1.0
    assert m.written_off_usd[0, lab] == pytest.approx(burn - 7.2, rel=1e-12)
    assert m.cash_usd[0, lab] == 0.0
    model.step()
    m = model.last_books
    assert m.watts[0, lab] == 0.0 and m.tokens_served[0, lab] == 0.0 and m.cash_usd[0, lab] == 0.0


def test_npv_decides_whether_a_watt_is_built():
    """The investment rule on paper: $12 a year for 5 years at 10% after a year's build is worth
    12 × 3.790787 / 1.1 = $41.354 against $40 of capex (build); against $42, not."""
    from wattyear.sim import investment

    assert investment.npv_per_watt(12.0, 40.0, 5.0, 0.1, 1.0) > 0 > investment.npv_per_watt(12.0, 42.0, 5.0, 0.1, 1.0)
