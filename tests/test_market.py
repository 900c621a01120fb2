"""Token market: logit shares, water-filling with spill-over, pricing bounds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattyear.sim import token_market as market


def test_logit_shares_sum_to_one_and_respect_availability():
    u = np.array([[1.0, 2.0, 3.0]])
    s = market.logit_shares(u)
    assert s.sum() == pytest.approx(1.0)
    s = market.logit_shares(u, available=np.array([True, False, True]))
    assert s[0, 1] == 0.0
    assert s[0, 0] / s[0, 2] == pytest.approx(np.exp(-2.0))


def test_two_labs_one_over_capacity_spills_on_paper():
    """Demand 120; utilities ln 2, ln 1, outside ln 1 => first choice 60 / 30 / 30.
    Lab A can serve 40: it serves 40 and turns away 20. Those 20 re-choose between
    B (u = 0) and outside (u = 0): 10 each. B asked 30 + 10 = 40 <= 100, serves 40.
    Unserved (turned away, then outside) = 10; outside by first choice = 30."""
    c = market.water_fill(np.array([120.0]), np.log(np.array([[2.0, 1.0]])), np.array([0.0]),
                          np.array([40.0, 100.0]))
    np.testing.assert_allclose(c.first_choice, [[60.0, 30.0]])
    np.testing.assert_allclose(c.served, [[40.0, 40.0]])
    np.testing.assert_allclose(c.asked, [[60.0, 40.0]])
    np.testing.assert_allclose(c.unserved, [10.0])
    np.testing.assert_allclose(c.outside, [30.0])
    assert c.rounds == 2


def test_all_full_leaves_the_rest_unserved():
    """Both labs full in round 1 (60 asked each of 10): the 100 turned away have no
    provider left; with the outside option at -inf-like utility they are unserved."""
    c = market.water_fill(np.array([120.0]), np.zeros((1, 2)), np.array([-80.0]), np.array([10.0, 10.0]))
    np.testing.assert_allclose(c.served, [[10.0, 10.0]])
    np.testing.assert_allclose(c.unserved, [100.0])


@settings(max_examples=300, deadline=None)
@given(
    demand=arrays(float, (2, 3), elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e9))),
    utilities=arrays(float, (2, 3, 4), elements=st.floats(-5, 5)),
    outside=arrays(float, (2, 3), elements=st.floats(-5, 5)),
    capacity=arrays(float, (2, 4), elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e9))),
)
def test_water_fill_invariants(demand, utilities, outside, capacity):
    c = market.water_fill(demand, utilities, outside, capacity)
    for arr in c[:5]:
        assert np.all(np.isfinite(arr)) and np.all(arr >= -1e-6)
    # served never exceeds capacity
    assert np.all(c.served.sum(axis=1) <= capacity * (1 + 1e-9) + 1e-6)
    # every token asked for ends up served, outside by choice, or unserved
    np.testing.assert_allclose(c.served.sum(axis=-1) + c.outside + c.unserved, demand, rtol=1e-9, atol=1e-3)
    # served shares of each cell sum to at most 1
    share = np.divide(c.served.sum(axis=-1), demand, out=np.zeros_like(demand), where=demand > 0)
    assert np.all(share <= 1 + 1e-9)
    # a provider that turned anyone away is full
    turned_away = c.asked.sum(axis=1) - c.served.sum(axis=1)
    full = np.isclose(c.served.sum(axis=1), capacity, rtol=1e-9, atol=1e-3)
    assert np.all(full | (turned_away <= 1e-6 * np.maximum(1, c.asked.sum(axis=1))))


def test_water_fill_in_compute_units():
    """Equal utility, 100 tokens wanted, 50 asked of each. A frontier token at A takes 2 units
    of A's 30 of compute: A serves 15 tokens and turns 35 away, which re-choose B (the outside
    option is e^-50 away); B, whose tokens take 1 unit, serves 50 + 35 = 85."""
    c = market.water_fill(np.array([100.0]), np.array([[0.0, 0.0]]), np.array([-50.0]),
                          np.array([30.0, 100.0]), compute_per_token=np.array([[2.0, 1.0]]))
    np.testing.assert_allclose(c.served, [[15.0, 85.0]], rtol=1e-9)
    np.testing.assert_allclose(c.unserved, [0.0], atol=1e-9)


def test_a_nest_whose_leader_is_unavailable_keeps_its_share_without_overflow():
    """One nest (λ = 0.05) of two providers, u = (0, −36), the outside option at −60; the leader is not
    available (rate-limited out). Within the nest the other's weight is e^(−36/0.05) = e^−720, a subnormal
    number, and the nest's share e^−36 / (e^−36 + e^−60): dividing that share by the weight overflowed (and
    gave NaN shares); the share within the nest is taken first, so the provider gets the nest's share,
    1/(1 + e^−24), exactly as the plain formula says."""
    from wattyear.sim.token_market import nested_shares, nested_weights

    nw = nested_weights(np.array([[0.0, -36.0]]), np.array([-60.0]), nest_scale=0.05)
    with np.errstate(over="raise", invalid="raise", under="ignore"):
        shares, outside = nested_shares(nw, np.array([[False, True]]), out=np.zeros((1, 2)))
    assert shares[0, 0] == 0.0
    assert shares[0, 1] == pytest.approx(1 / (1 + np.exp(-24.0)), rel=1e-12)
    assert outside[0] == pytest.approx(np.exp(-24.0) / (1 + np.exp(-24.0)), rel=1e-9)


def test_a_segment_whose_choices_sit_hundreds_of_utils_below_its_leader_clears(tmp_path):
    """Values inside the schema (affinities down to -800, an outside option at -766): once the one lab near
    the top is full, every remaining weight is subnormal, and the guard stopped the run in month 0
    ('openai: tokens_served is nan'; 3 of 20 draws anywhere in the schema). It clears now."""
    import wattyear

    result = wattyear.run(months=2, overrides={
        "labs.openai.affinity.consumer_paid": -812.8, "labs.openai.affinity.enterprise": -324.8,
        "labs.anthropic.affinity.consumer_paid": -387.8, "labs.xai.affinity.consumer_paid": -586.0,
        "labs.gemini.affinity.consumer_paid": -23.5, "segments.consumer_paid.outside_utility": -766.5,
        "segments.consumer_paid.peak_to_average": 16.7})
    paid = result.market[result.market["segment"] == "consumer_paid"]
    assert np.isfinite(paid[["served_tokens", "share"]].to_numpy()).all()
    assert paid.groupby("step")["share"].sum().between(0, 1 + 1e-12).all()
