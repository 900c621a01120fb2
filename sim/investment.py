"""Investment on returns, pure numpy: what a watt costs a year at an owner's cost of capital, its NPV,
the newsvendor cover of capacity over forecast demand, and the market's tightness at delivery
(Dixit–Pindyck's investment under uncertainty in its critical-fractile form). Used by every owner's
capacity plan (``agents/builder.py``, ``agents/lab.py``, ``agents/hyperscaler.py``)."""

from __future__ import annotations

import numpy as np

from wattyear.sim.kernel import safe_divide


def annuity_factor(rate_per_year, years):
    """Present value of $1 a year for ``years`` at ``rate_per_year`` (0 → ``years``).

    >>> round(float(annuity_factor(0.1, 5.0)), 6), float(annuity_factor(0.0, 5.0))
    (3.790787, 5.0)
    """
    r = np.asarray(rate_per_year, dtype=float)
    n = np.asarray(years, dtype=float)
    safe_r = np.where(r > 0, r, 1.0)
    # 1 − (1 + r)^−n as −expm1(−n·ln(1 + r)): exact for lives of a fraction of a year too
    return np.where(r > 0, -np.expm1(-n * np.log1p(safe_r)) / safe_r, n)


def npv_per_watt(margin_usd_per_w_year, capex_usd_per_w, life_years, rate_per_year, lead_years=0.0):
    """Net present value of ordering one watt: its margin over its life, discounted, less capex.

    NPV = margin·A(r, life)·(1 + r)^(−lead) − capex: the watt earns from the
    end of its build lead time; capex is counted at the order (prudently, as
    if paid up front).

    A watt earning $12 a year for 5 years at 10%, built over a year, on $40 of capex:

    >>> round(float(npv_per_watt(12.0, 40.0, 5.0, 0.1, 1.0)), 4)
    1.354
    """
    r = np.asarray(rate_per_year, dtype=float)
    return (np.asarray(margin_usd_per_w_year, dtype=float) * annuity_factor(r, life_years)
            * (1.0 + r) ** -np.asarray(lead_years, dtype=float) - np.asarray(capex_usd_per_w, dtype=float))


def equivalent_annual_cost_usd_per_w_year(capex_usd_per_w, life_years, rate_per_year, lead_years=0.0,
                                          site_opex_usd_per_w_year=0.0):
    """What a built watt costs a year over its life: capex, carried over the build lead at the owner's cost
    of capital, as the annuity that repays it over the watt's life, plus site opex. A lessee compares it
    with a year of rent.

    c = capex·(1 + r)^lead / A(r, life) + opex. A $40 watt built over a year at 10%, living five years,
    with $2 of site opex a year:

    >>> round(float(equivalent_annual_cost_usd_per_w_year(40.0, 5.0, 0.1, 1.0, 2.0)), 4)
    13.6071
    """
    r = np.asarray(rate_per_year, dtype=float)
    return (np.asarray(capex_usd_per_w, dtype=float) * (1.0 + r) ** np.asarray(lead_years, dtype=float)
            / annuity_factor(r, life_years) + np.asarray(site_opex_usd_per_w_year, dtype=float))


def newsvendor_cover(cost_usd_per_w_year, margin_usd_per_w_year, sigma):
    """Capacity to hold per unit of forecast demand when demand at delivery is lognormal around the
    forecast with log-sd ``sigma``, a watt costs c a year whether used or not and earns m a year over its
    energy when used: K*/D = exp(σ·Φ⁻¹(1 − c/m)), the critical fractile (a watt is worth adding while the
    chance it is used, P(D > K), exceeds c/m). 0 where c ≥ m (no watt pays); 1 where σ = 0 and c < m.
    The fractile is held at most 0.999 (no owner insures beyond three standard deviations); as c/m → 1 the
    cover falls continuously to 0.

    At c/m = 1/2 the cover is the forecast; cheaper watts buy insurance above it, dearer ones less:

    >>> newsvendor_cover(np.array([5.0, 1.0, 9.0, 12.0]), 10.0, 0.3).round(4).tolist()
    [1.0, 1.4688, 0.6808, 0.0]
    """
    from scipy.special import ndtri

    ratio = safe_divide(np.asarray(cost_usd_per_w_year, dtype=float), np.asarray(margin_usd_per_w_year, dtype=float))
    pays = (np.asarray(margin_usd_per_w_year, dtype=float) > 0) & (ratio < 1.0)
    fractile = np.where(pays, np.clip(1.0 - ratio, 0.0, 0.999), 0.5)  # (not paying: any finite z, unused)
    z = ndtri(fractile)
    return np.where(pays, np.exp(np.asarray(sigma, dtype=float) * z), 0.0)


def market_tightness(demand_growth, capacity_now, capacity_then):
    """How much tighter (> 1) or looser (< 1) the market will be at delivery than now: demand grown by
    ``demand_growth`` over the lead time (a factor) over the growth of capacity in place and on order
    (everyone's order book is public).

    >>> float(market_tightness(1.5, 100.0, 200.0))
    0.75
    """
    return safe_divide(np.asarray(demand_growth, dtype=float) * np.asarray(capacity_now, dtype=float),
                       np.asarray(capacity_then, dtype=float))
