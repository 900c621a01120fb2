"""The per-watt economics: pure numpy functions over agent arrays.

Every function takes scalars or arrays whose **last axis is the agent** and
whose leading axes may be anything (a scenario axis, an ensemble of scenarios).
None of them loops in Python over agents, customers or scenarios, and none of
them draws random numbers. Units are in the argument names; see
``docs/model.md`` for the equations in prose.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.units import DT_YEARS, MWH_PER_WATT_YEAR, SECONDS_PER_YEAR


def safe_divide(numerator, denominator):
    """``numerator / denominator`` with 0 where the denominator is 0.

    A fleet with no watts has no tokens per watt; a lab that produced no tokens
    earned nothing per token. Zero, not NaN, keeps sums and plots clean.

    >>> safe_divide(np.array([6.0, 1.0]), np.array([3.0, 0.0]))
    array([2., 0.])
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    num, den = np.broadcast_arrays(num, den)
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def sum_cells(values, cells, axis: int = 1):
    """Sum ``values`` over the selected ``cells`` (a boolean mask or slice) of ``axis``.

    The selection is copied to C order first: advanced indexing can return an
    array in another memory order, and numpy's summation order (and so the
    last bit of the sum) follows the memory order. With C order, each
    scenario's sum is the same whatever the number of scenarios.

    >>> sum_cells(np.arange(6.0).reshape(1, 3, 2), np.array([True, False, True])).tolist()
    [[4.0, 6.0]]
    """
    index = [slice(None)] * np.ndim(values)
    index[axis] = cells
    return np.ascontiguousarray(np.asarray(values)[tuple(index)]).sum(axis=axis)


def tokens_capacity_per_year(watts_by_hardware, tokens_per_joule, model_efficiency=1.0,
                             serving_multiplier=1.0):
    """Tokens a fleet can produce in a year at full load.

    ``watts_by_hardware`` has shape ``(..., H, A)`` (hardware generation, agent);
    ``tokens_per_joule`` has shape ``(H, 1)`` or broadcasts to it;
    ``model_efficiency`` (``(..., A)``) scales for model size (a small open model
    yields more tokens per joule than a frontier one); ``serving_multiplier`` is
    m(t), the serving-stack gain (batching, quantisation, speculative decoding).

    >>> tokens_capacity_per_year(np.array([[1.0], [1.0]]), np.array([[1.0], [2.0]]))
    array([94672800.])
    """
    watts = np.asarray(watts_by_hardware, dtype=float)
    joules_to_tokens = (watts * np.asarray(tokens_per_joule, dtype=float)).sum(axis=-2)
    return joules_to_tokens * SECONDS_PER_YEAR * model_efficiency * serving_multiplier


def tokens_per_watt_year(tokens_capacity_year, watts):
    """TPWY: tokens per watt of sustained power per year at full load.

    TPWY = Σ_v W_v·e_v·m(t)·31,557,600 / Σ_v W_v; 0 for an agent with no watts.

    >>> tokens_per_watt_year(np.array([5.7e15]), np.array([1e9]))
    array([5700000.])
    """
    return safe_divide(tokens_capacity_year, watts)


def energy_usd_per_watt_year(energy_usd_per_mwh, pue):
    """Electricity cost of one IT watt running a year: PUE × $/MWh × 0.008766.

    >>> round(float(energy_usd_per_watt_year(80.0, 1.25)), 4)
    0.8766
    """
    return np.asarray(pue, dtype=float) * np.asarray(energy_usd_per_mwh, dtype=float) * MWH_PER_WATT_YEAR


def depreciation_usd_per_watt_year(capex_usd_per_w, life_years):
    """Straight-line depreciation per watt-year; an infinite life gives 0.

    >>> depreciation_usd_per_watt_year(np.array([50.0, 50.0]), np.array([5.0, np.inf]))
    array([10.,  0.])
    """
    capex = np.asarray(capex_usd_per_w, dtype=float)
    life = np.asarray(life_years, dtype=float)
    if np.any(life <= 0):
        raise ValueError("life_years must be > 0 (use inf for no depreciation)")
    return capex / life


def revenue_per_token(revenue_usd_per_year, tokens_capacity_year):
    """RPT = blended price × utilisation (× usage mix, through the blend).

    Revenue divided by the tokens the fleet *could* have produced: equal to
    (revenue / tokens served) × (tokens served / tokens capacity). Free tokens
    count in the denominator of the blend at a price of 0, which is how a
    free-heavy usage mix lowers RPT.

    >>> revenue_per_token(np.array([10.0]), np.array([4.0]))
    array([2.5])
    """
    return safe_divide(revenue_usd_per_year, tokens_capacity_year)


def revenue_per_watt_year(tpwy, rpt):
    """RPWY = TPWY × RPT, the identity every output row satisfies exactly."""
    return np.asarray(tpwy, dtype=float) * np.asarray(rpt, dtype=float)


class PerWattEconomics(NamedTuple):
    """One month of per-watt economics; every field has shape ``(..., A)``."""

    watts: np.ndarray  #: watts operated (owned − leased out + leased in)
    tokens_capacity: np.ndarray  #: tokens the operated fleet could produce this month
    tokens_served: np.ndarray  #: tokens actually sold or given away this month
    tokens_per_watt_year: np.ndarray
    blended_price_usd_per_token: np.ndarray
    utilization: np.ndarray
    revenue_per_token: np.ndarray
    revenue_per_watt_year: np.ndarray
    cost_per_watt_year: np.ndarray
    token_revenue_usd: np.ndarray  #: this month


def per_watt_economics(*, watts, tokens_capacity_year, tokens_served, token_revenue_usd,
                       operating_cost_usd):
    """The three per-watt metrics plus CPWY for one month.

    ``tokens_served``, ``token_revenue_usd`` and ``operating_cost_usd`` are
    amounts for one month; ``operating_cost_usd`` is the cost of running the
    operated watts (energy, depreciation and site opex of owned watts in use,
    rent of leased-in watts). Annualised with dt = 1/12.

    Hand check: 1 W, 12 tokens/W-yr capacity (1 a month), 0.5 tokens served
    (utilisation 0.5) at $2 a token ($1 a month, $12 a year):

    >>> e = per_watt_economics(watts=np.array([1.0]), tokens_capacity_year=np.array([12.0]),
    ...     tokens_served=np.array([0.5]), token_revenue_usd=np.array([1.0]),
    ...     operating_cost_usd=np.array([0.25]))
    >>> float(e.utilization[0]), float(e.revenue_per_token[0]), float(e.revenue_per_watt_year[0])
    (0.5, 1.0, 12.0)
    >>> float(e.cost_per_watt_year[0])
    3.0
    """
    watts = np.asarray(watts, dtype=float)
    capacity_month = np.asarray(tokens_capacity_year, dtype=float) * DT_YEARS
    tpwy = tokens_per_watt_year(tokens_capacity_year, watts)
    served = np.asarray(tokens_served, dtype=float)
    revenue = np.asarray(token_revenue_usd, dtype=float)
    rpt = revenue_per_token(revenue, capacity_month)
    return PerWattEconomics(
        watts=watts,
        tokens_capacity=capacity_month,
        tokens_served=served,
        tokens_per_watt_year=tpwy,
        blended_price_usd_per_token=safe_divide(revenue, served),
        utilization=safe_divide(served, capacity_month),
        revenue_per_token=rpt,
        revenue_per_watt_year=revenue_per_watt_year(tpwy, rpt),
        cost_per_watt_year=safe_divide(np.asarray(operating_cost_usd, dtype=float) / DT_YEARS, watts),
        token_revenue_usd=revenue,
    )


def operating_profit_usd(revenue_usd, cost_usd):
    """Operating profit = all revenue − all operating cost (depreciation included)."""
    return np.asarray(revenue_usd, dtype=float) - np.asarray(cost_usd, dtype=float)


def operating_cash_flow_usd(operating_profit, depreciation_usd):
    """Operating cash flow: profit with the non-cash depreciation added back."""
    return np.asarray(operating_profit, dtype=float) + np.asarray(depreciation_usd, dtype=float)
