"""The per-watt economics: pure numpy functions over agent arrays.

Every function takes scalars or arrays whose **last axis is the agent** and
whose leading axes may be anything (a scenario axis, an ensemble of scenarios).
None of them loops in Python over agents, customers or scenarios, and none of
them draws random numbers. Units are in the argument names; see
``docs/model.md`` for the equations in prose. Investment rules live in
``sim/investment.py``, price rules in ``sim/pricing.py``, valuation and round
sizing in ``sim/capital_market.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from wattyear.sim.units import DT_YEARS, MWH_PER_WATT_YEAR, SECONDS_PER_YEAR, per_mtok


#: the smallest amount of money a ratio of money is taken over (a margin, the self-funding ratio): a cent
MONEY_FLOOR_USD = 0.01


def safe_divide(numerator, denominator, floor: float = 0.0):
    """``numerator / denominator`` with 0 where the denominator is 0 (or, with ``floor``, no larger than
    ``floor`` in size).

    A fleet with no watts has no tokens per watt; a lab that produced no tokens
    earned nothing per token. Zero, not NaN, keeps sums and plots clean. A ratio
    of money to money takes ``floor=MONEY_FLOOR_USD``: a margin on a fraction of a
    cent of revenue is no margin, and would overflow.

    >>> safe_divide(np.array([6.0, 1.0]), np.array([3.0, 0.0]))
    array([2., 0.])
    >>> safe_divide(np.array([-5e9]), np.array([1e-310]), floor=MONEY_FLOOR_USD)
    array([0.])
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    out = np.zeros(num.shape if num.shape == den.shape else np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=(den != 0) if floor == 0.0 else (np.abs(den) > floor))
    return out


def sum_last(values: np.ndarray) -> np.ndarray:
    """Sum over the last axis, one slice after another.

    The same sum, to the bit, as ``values.sum(axis=-1)`` for a short last axis
    (numpy adds fewer than eight elements in order), several times faster on
    (scenario, cell, provider) arrays, whose last axis (providers) is short.

    >>> x = np.random.default_rng(0).lognormal(size=(3, 4, 5))
    >>> bool(np.array_equal(sum_last(x), x.sum(axis=-1)))
    True
    """
    out = values[..., 0].copy()
    for i in range(1, values.shape[-1]):
        out += values[..., i]
    return out


def max_last(values: np.ndarray) -> np.ndarray:
    """``values.max(axis=-1)``, one slice after another (the same result, faster on a short axis).

    >>> max_last(np.array([[1.0, 3.0, 2.0]])).tolist()
    [3.0]
    """
    out = values[..., 0].copy()
    for i in range(1, values.shape[-1]):
        np.maximum(out, values[..., i], out=out)
    return out


def sum_axis1(values: np.ndarray) -> np.ndarray:
    """Sum (S, N, ...) over axis 1 in order, slice after slice: the same as ``values.sum(axis=1)``
    for a C-ordered array (numpy adds such rows in order), faster when the trailing axes are short.

    >>> x = np.random.default_rng(0).lognormal(size=(3, 40, 5))
    >>> bool(np.array_equal(sum_axis1(x), x.sum(axis=1)))
    True
    """
    out = values[:, 0].copy()
    for i in range(1, values.shape[1]):
        out += values[:, i]
    return out


def grown(rate_per_year, years):
    """(1 + g)^t: what one unit compounding at ``rate_per_year`` has become after ``years``.

    Callers say how they count years (``t * DT_YEARS`` or ``t / 12``: the two differ in the last bit for
    some months, and each caller keeps the one its results were made with).

    >>> float(grown(0.21, 2.0))
    1.4641
    >>> float(grown(np.array([0.5]), 0.0)[0])
    1.0
    """
    return (1 + rate_per_year) ** years


def halved(years, halflife_years):
    """2^(−t/h): what is left after ``years`` of a quantity halving every ``halflife_years``; 1 (no
    decay at all) where the half-life is 0 or less, the schema's way of saying "never".

    >>> halved(2.0, np.array([1.0, 2.0, 0.0]))
    array([0.25, 0.5 , 1.  ])
    """
    h = np.asarray(halflife_years, dtype=float)
    positive = h > 0
    if positive.all():  # (the usual case, and a quarter of the cost)
        return 2.0 ** (-years / h)
    return np.where(positive, 2.0 ** (-years / np.where(positive, h, 1.0)), 1.0)


def starting_cohorts(watts: float, age_months: int, cohorts: int = 6) -> list[tuple[float, int]]:
    """Split starting watts into equal cohorts of evenly spread age.

    Returns ``(watts, in-service step)`` pairs; steps are ≤ 0 (already in
    service, their capex sunk). ``age_months = 0`` gives one new cohort.

    >>> starting_cohorts(6.0, 36, 3)
    [(2.0, -30), (2.0, -18), (2.0, -6)]
    """
    if age_months == 0:
        return [(watts, 0)]
    step = age_months / cohorts
    return [(watts / cohorts, -int(round(age_months - step * (i + 0.5)))) for i in range(cohorts)]


def release_quality(quality_fraction, frontier_quality):
    """Quality of open weights released at ``quality_fraction`` q of a frontier: q × frontier (the
    publisher's release rule; the fringe starts with the last release).

    >>> release_quality(0.5, 1.2)
    0.6
    """
    return quality_fraction * frontier_quality


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


# ---------------------------------------------------------------- costs of a token

def serving_multiplier(m0, growth_per_year, halflife_years, t_years):
    """m(t): serving-stack gains (batching, quantisation, speculative decoding) that slow down.

    The log growth rate starts at ln(1 + g0) and halves every ``halflife_years``:
    ln m(t) = ln m0 + ln(1 + g0)·h/ln 2·(1 − 2^(−t/h)), so m approaches
    m0·(1 + g0)^(h/ln 2) instead of compounding forever. h = 0 means it never
    slows: m0·(1 + g0)^t.

    >>> float(serving_multiplier(1.0, 0.25, 0.0, 2.0))
    1.5625
    >>> round(float(serving_multiplier(1.0, 1.0, 1.0, 1.0)), 6)  # after one half-life, half-way in logs
    1.648721
    >>> round(float(serving_multiplier(1.0, 1.0, 1.0, 1e9)), 6)  # the ceiling: e
    2.718282
    """
    g = np.log1p(np.asarray(growth_per_year, dtype=float))
    h = np.asarray(halflife_years, dtype=float)
    t = np.asarray(t_years, dtype=float)
    slowed = g * np.where(h > 0, h, 1.0) / np.log(2.0) * (1.0 - np.exp2(-t / np.where(h > 0, h, 1.0)))
    return np.asarray(m0, dtype=float) * np.exp(np.where(h > 0, slowed, g * t))


def compute_per_token(quality, quality_compute_elasticity, routing=1.0):
    """Compute a token takes relative to a frontier token of quality 1: routing·exp(γ·(q − 1)).

    Better models are bigger: each +0.1 of quality costs e^(0.1·γ) more
    compute per token. ``routing`` < 1 where a lab sends a segment (free
    users) to smaller models.

    >>> round(float(compute_per_token(1.1, 3.0)), 6), float(compute_per_token(1.0, 3.0, routing=0.25))
    (1.349859, 0.25)
    """
    q = np.asarray(quality, dtype=float)
    return np.asarray(routing, dtype=float) * np.exp(np.asarray(quality_compute_elasticity, dtype=float) * (q - 1.0))


def search_defence_routing(value_per_share_usd, slope, share, flagship_cost_usd):
    """Compute per free token (routing ω, 1 = the flagship) that maximises what a free tier defends less
    what it costs, for an owner whose business loses ``value_per_share_usd`` a month for each unit of
    consumer share its chatbot cedes (Search: business revenue × ``ai_substitution``).

    A free user's model of compute ω is worth θ·ln(ω) of quality, so the lab's share s of free users
    answers ∂s/∂ln ω = k·s·(1 − s), k = β_q·θ (``slope``); serving them costs ω·c·D·s a month with
    c·D the cost of all the segment's tokens at the flagship (``flagship_cost_usd``, in units of the
    share's denominator). Setting the derivatives of V·s − ω·c·D·s in ln ω equal:

        ω* = V·k·(1 − s) / (c·D·(1 + k·(1 − s)))

    Unclipped; 0 when nothing is at stake. Defending $2.7B a month of Search with k = 4/3 at s = 0.5,
    against a flagship cost of $1B a month for the whole segment: ω* = 2.7·0.667/1.667 = 1.08.

    >>> round(float(search_defence_routing(2.7e9, 4 / 3, 0.5, 1.0e9)), 6)
    1.08
    """
    k_rest = np.asarray(slope, dtype=float) * (1.0 - np.asarray(share, dtype=float))
    return safe_divide(np.asarray(value_per_share_usd, dtype=float) * k_rest,
                       np.asarray(flagship_cost_usd, dtype=float) * (1.0 + k_rest))


def energy_usd(watts, energy_usd_per_w_year, busy_share, idle_power_fraction, years=DT_YEARS):
    """Electricity of operated watts: idle watts draw a fraction f of peak.

    energy = W · e · (f + (1 − f)·busy) · years.

    >>> float(energy_usd(1000.0, 0.876, 0.5, 0.3, years=1.0))
    569.4
    """
    busy = np.asarray(busy_share, dtype=float)
    f = np.asarray(idle_power_fraction, dtype=float)
    return np.asarray(watts, dtype=float) * energy_usd_per_w_year * (f + (1.0 - f) * busy) * years


def marginal_cost_usd_per_mtok(*, energy_usd_per_w_year, idle_power_fraction, capacity_charge_usd_per_w_year,
                               tpwy, reachable_utilization, compute_per_token=1.0):
    """Long-run marginal cost of serving one more million tokens.

    c = φ·[e·(1 − f) + k / reach] / TPWY · 10⁶

    e·(1 − f): the energy a busy watt draws above an idle one; k: the capacity
    charge of a watt (rent, depreciation and site opex per W-yr), paid per
    watt whether busy or not, so per served token it is k over the tokens a
    watt serves at the segment's reachable utilisation (peak-load pricing: a
    lab sizes and prices capacity for the load it serves, so every token
    carries its share of it, even in a month when some watts stand idle). φ
    is the compute a token takes (``compute_per_token``); TPWY is tokens per
    watt-year at full load. With a price p, 1 − c/p is the gross margin the
    lab earns on fully used serving capacity.

    A watt at 1e7 tokens/W-yr, e = $1, f = 0.3, k = $10, reach 0.5:
    (0.7 + 20)/1e7·1e6 = $2.07 per Mtok.

    >>> round(float(marginal_cost_usd_per_mtok(energy_usd_per_w_year=1.0, idle_power_fraction=0.3,
    ...     capacity_charge_usd_per_w_year=10.0, tpwy=1e7, reachable_utilization=0.5)), 6)
    2.07
    """
    per_w_year = (np.asarray(energy_usd_per_w_year, dtype=float) * (1.0 - np.asarray(idle_power_fraction, float))
                  + safe_divide(capacity_charge_usd_per_w_year, reachable_utilization))
    return per_mtok(np.asarray(compute_per_token, dtype=float) * safe_divide(per_w_year, tpwy))


def training_share(run_compute_wy_per_year, training_efficiency, watts, cap):
    """Share of its operated watts a lab puts on training: the compute rate its next run
    needs (reference watt-years a year) over the fleet's training efficiency, at most ``cap``.

    A run of 4 reference W-yr over half a year needs 8 W-yr a year; on a fleet twice as
    efficient as the reference, 4 W: 0.4% of 1,000 W. A run needing more than the cap
    takes the cap (and trains longer):

    >>> training_share(np.array([8.0, 8e6]), 2.0, 1000.0, 0.5).tolist()
    [0.004, 0.5]
    """
    needed = safe_divide(run_compute_wy_per_year, training_efficiency)
    return np.minimum(safe_divide(needed, watts), cap)


# ---------------------------------------------------------------- books

def revenue_ratio_year(now_usd, year_ago_usd):
    """R(t)/R(t − 12), the business's growth overhead may follow: with no revenue a year ago, infinite where
    there is revenue now (a business started within the year: overhead grows at its own rate) and 1 where there
    is none (no business yet: overhead held).

    >>> revenue_ratio_year(np.array([6.0, 5.0, 0.0, 0.0]), np.array([4.0, 0.0, 0.0, 2.0])).tolist()
    [1.5, inf, 1.0, 0.0]
    """
    now, then = np.asarray(now_usd, dtype=float), np.asarray(year_ago_usd, dtype=float)
    return np.where(then > 0, safe_divide(now, then), np.where(now > 0, np.inf, 1.0))


def overhead_next_month(overhead_usd_per_year, growth_per_year, revenue_ratio_year):
    """Next month's overhead: it grows at its yearly rate, but no faster than the business (its revenue over
    what it was a year ago, R(t)/R(t − 12)), so it shrinks with a business that shrinks (a lab that
    shrinks lets staff go): a yearly factor of min(1 + g, R(t)/R(t − 12)).

    A $10B overhead growing 20% a year, at a revenue 30% up, 10% up and half of last year's:

    >>> [round(float(x) / 1e9, 4) for x in overhead_next_month(10e9, 0.2, np.array([1.3, 1.1, 0.5]))]
    [10.1531, 10.0797, 9.4387]
    """
    ratio = np.maximum(np.asarray(revenue_ratio_year, dtype=float), 0.0)
    yearly = np.minimum(1.0 + np.asarray(growth_per_year, dtype=float), ratio)
    return np.asarray(overhead_usd_per_year, dtype=float) * yearly ** (1.0 / 12.0)
