"""Per-watt economics: hand-solvable cases and identities over random arrays."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from wattyear.sim import kernel
from wattyear.sim.units import SECONDS_PER_YEAR


def test_tokens_per_watt_year_weights_vintages_by_watts():
    """3 W of hopper at 0.2 tok/J and 1 W of blackwell at 1.0 tok/J, m = 2:
    tokens/yr = (3·0.2 + 1·1.0)·2·31,557,600 = 3.2·31,557,600; per watt ÷ 4 = 0.8·31,557,600."""
    watts = np.array([[3.0], [1.0]])
    cap = kernel.tokens_capacity_per_year(watts, np.array([[0.2], [1.0]]), serving_multiplier=2.0)
    assert cap[0] == pytest.approx(3.2 * SECONDS_PER_YEAR, rel=1e-15)
    assert kernel.tokens_per_watt_year(cap, watts.sum(axis=0))[0] == pytest.approx(0.8 * SECONDS_PER_YEAR,
                                                                                  rel=1e-15)


def test_cost_components_by_hand():
    # 1.2 PUE x $50/MWh x 8.766 kWh = $0.52596 per W-yr; $40/W over 5 years = $8/W-yr
    assert kernel.energy_usd_per_watt_year(50.0, 1.2) == pytest.approx(0.52596, rel=1e-12)
    assert kernel.depreciation_usd_per_watt_year(40.0, 5.0) == 8.0
    assert kernel.depreciation_usd_per_watt_year(40.0, np.inf) == 0.0
    with pytest.raises(ValueError):
        kernel.depreciation_usd_per_watt_year(40.0, 0.0)


def test_zero_watts_give_zero_not_nan():
    e = kernel.per_watt_economics(watts=np.zeros(2), tokens_capacity_year=np.zeros(2), tokens_served=np.zeros(2),
                                  token_revenue_usd=np.zeros(2), operating_cost_usd=np.zeros(2))
    for field in e:
        assert np.all(field == 0.0)


# zero, or a magnitude a model can produce (watts, tokens and dollars from 1e-6 to 1e12)
positive = st.one_of(st.just(0.0), st.floats(1e-6, 1e12))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_rpwy_is_tpwy_times_rpt_exactly_for_any_leading_axes(data):
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=4))
    draw = lambda: data.draw(arrays(float, shape, elements=positive))  # noqa: E731
    watts, capacity, price, cost = draw(), draw(), draw(), draw()
    served = np.minimum(draw(), capacity / 12)
    revenue = served * price * 1e-12  # revenue only comes from tokens served
    e = kernel.per_watt_economics(watts=watts, tokens_capacity_year=capacity, tokens_served=served,
                                  token_revenue_usd=revenue, operating_cost_usd=cost)
    assert e.revenue_per_watt_year.shape == shape
    np.testing.assert_array_equal(e.revenue_per_watt_year, e.tokens_per_watt_year * e.revenue_per_token)
    assert np.all(np.isfinite(e.revenue_per_watt_year))
    assert np.all(e.utilization <= 1.0 + 1e-12)
    # RPT is the blended price times utilisation
    np.testing.assert_allclose(e.revenue_per_token, e.blended_price_usd_per_token * e.utilization, rtol=1e-9)


def test_row_sums_kept_up_to_date_are_the_bits_of_a_fresh_sum():
    """``fleet.RowSums``: a sum kept for a question and brought up to date by the rows appended since is,
    to the bit, the fresh ``sum_into`` over all chosen rows (values of mixed magnitudes, where the order of
    additions shows in the last bits), through appends of one and of several rows, questions asked between
    them, and edits of existing rows (which drop every kept sum). By hand: 1e16 + 1 + 1 in row order is
    1e16 (each 1 is lost), which a sum that added the two new rows first (2) would not give."""
    from wattyear.sim.fleet import Columns, RowSums, sum_into

    table, cell, start = Columns(np.array([[1e16]])), np.array([0]), np.array([0])
    sums = RowSums()
    chosen = lambda lo: start[lo:] <= 5  # noqa: E731
    assert sums.get(5, table, 0, chosen, cell, 1).tolist() == [[1e16]]
    for _ in range(2):
        table.append([1.0])
        cell, start = np.append(cell, 0), np.append(start, 0)
    assert sums.get(5, table, 0, chosen, cell, 1).tolist() == [[1e16]]  # (1e16 + 2 would be 1.0000000000000002e16)

    rng = np.random.default_rng(11)
    s, n_cells = 7, 4
    table = Columns(np.zeros((s, 0)))
    cell, start, end = np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
    sums, edits = RowSums(limit=5), 0
    for month in range(60):
        for _ in range(rng.integers(0, 4)):  # a few rows a month, of very different sizes
            table.append(rng.choice([1e-3, 1.0, 1e9, 1e17]) * rng.random(s) * (rng.random(s) < 0.7))
            cell = np.append(cell, rng.integers(n_cells))
            start = np.append(start, month + rng.integers(0, 12))
            end = np.append(end, start[-1] + rng.integers(1, 40))
        if rng.random() < 0.1 and table.n:  # an edit of an existing row
            table.view[:, rng.integers(table.n)] = 0.0
            edits += 1
        for step in rng.integers(month, month + 30, size=4):
            chosen = lambda lo, step=step: (start[lo:] <= step) & (step < end[lo:])  # noqa: E731
            got = sums.get(int(step), table, edits, chosen, cell, n_cells)
            rows = np.flatnonzero(chosen(0))
            assert got.tobytes() == sum_into(table.take(rows), cell[rows], n_cells).tobytes(), (month, step)
