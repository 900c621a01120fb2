"""The capital market and the self-funding threshold: pure functions and the funding record.

A lab raises outside money when its cash would cover fewer than ``runway_months``
of burn; each raise is recorded with its source. Whether a lab could instead pay
for its next cluster from operations is the self-funding ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def monthly_burn(cash_changes):
    """Average monthly cash outflow over the rows given (last axis agents); 0 if cash grew.

    ``cash_changes`` has shape (..., months, A).

    >>> monthly_burn(np.array([[-3.0, 1.0], [-1.0, 1.0]])).tolist()
    [2.0, 0.0]
    """
    return np.maximum(-np.asarray(cash_changes, float).mean(axis=-2), 0.0)


def raise_needed(cash, burn, runway_months, raise_months):
    """Amount to raise now: if cash covers fewer than ``runway_months`` of burn, raise
    ``raise_months`` of burn (and at least enough to bring cash back to zero).

    >>> raise_needed(np.array([10.0, 100.0, -5.0]), np.array([2.0, 2.0, 1.0]), 12, 24).tolist()
    [48.0, 0.0, 29.0]
    """
    cash, burn = np.asarray(cash, float), np.asarray(burn, float)
    short = cash < runway_months * burn
    need = raise_months * burn + np.maximum(-cash, 0.0)
    return np.where(short | (cash < 0), need, 0.0)


def source_shares(shares, available):
    """Renormalise the shares of the sources open now; none open → all zeros.

    ``shares`` (E,) or (E, S): one row per source (a column per scenario);
    ``available`` (E,).

    >>> source_shares(np.array([0.5, 0.3, 0.25]), np.array([True, False, True])).tolist()
    [0.6666666666666666, 0.0, 0.3333333333333333]
    >>> source_shares(np.array([[0.5, 0.0], [0.5, 0.0]]), np.array([True, True])).tolist()
    [[0.5, 0.0], [0.5, 0.0]]
    """
    shares = np.asarray(shares, float)
    s = np.where(np.reshape(available, (-1,) + (1,) * (shares.ndim - 1)), shares, 0.0)
    total = np.zeros(s.shape[1:])
    for row in s:  # source by source: each scenario's total is summed in the same order
        total = total + row
    return np.divide(s, total, out=s.copy(), where=total > 0)


def self_funding_ratio(trailing_fcf_usd_per_year, next_cluster_usd_per_year):
    """SFR = trailing-12-month free cash flow / what the next cluster costs a year (its capex over the build
    lead time in years, or a year of its rent). SFR ≥ 1: operations could pay for it. No next cluster
    (cost 0) gives no ratio (NaN): with nothing to fund, being self-funded is undefined, and a crossing
    (SFR ≥ 1) is not made of it.

    >>> self_funding_ratio(np.array([30e9, 30e9]), np.array([60e9 / 2, 0.0]))
    array([ 1., nan])
    """
    annual = np.asarray(next_cluster_usd_per_year, float)
    return np.divide(trailing_fcf_usd_per_year, annual,
                     out=np.full(np.broadcast(trailing_fcf_usd_per_year, annual).shape, np.nan),
                     where=annual > 0.01)  # (a cent a year of capex is no cluster: the ratio would overflow)


#: months a self-funding ratio must stay at or above 1, with no outside raise, for a crossing to count
#: (a month's touch is not self-funding: a lab whose plan shrinks for a quarter touches 1 and raises again)
SUSTAINED_MONTHS = 12


def crossing_steps(sfr, raised=None, sustain: int = SUSTAINED_MONTHS) -> np.ndarray:
    """The sustained crossing month along axis 0: the first month m from which SFR ≥ 1 in every month
    m … m + sustain − 1 and (``raised`` given) nothing is raised in them; NaN where there is none,
    including a run that ends before a streak has lasted ``sustain`` months. ``sfr`` (months, ...).

    >>> crossing_steps(np.array([0.5, 1.2, 1.1, 0.9, 1.0, 1.3, 1.5]), sustain=3).tolist()
    4.0
    >>> crossing_steps(np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 0.5]]), raised=np.array([[0, 0], [5, 0], [0, 0]]),
    ...                sustain=2).tolist()
    [nan, 0.0]
    """
    sfr = np.asarray(sfr, float)
    ok = sfr >= 1.0
    if raised is not None:
        ok &= ~(np.asarray(raised, float) > 0)
    months = ok.shape[0]
    if months < sustain:
        return np.full(ok.shape[1:], np.nan)
    run = np.concatenate([np.zeros((1, *ok.shape[1:]), int), np.cumsum(ok, axis=0)])
    whole = (run[sustain:] - run[:-sustain]) == sustain  # (months − sustain + 1, ...): the streak from m lasts
    return np.where(whole.any(axis=0), whole.argmax(axis=0), np.nan)


class SelfFundingStreak:
    """``crossing_steps`` followed month by month: each month's SFR and raises update a streak per (scenario,
    agent) of months with SFR ≥ 1 and no raise; the first time a streak reaches ``sustain`` months, its first
    month is the crossing. The first complete streak is the one that starts first, so this is
    ``crossing_steps`` of the whole history without keeping it.

    >>> streak = SelfFundingStreak((1,), sustain=3)
    >>> for t, sfr in enumerate([0.5, 1.2, 1.1, 0.9, 1.0, 1.3, 1.5, 0.2]):
    ...     streak.update(t, np.array([sfr]), np.array([0.0]))
    >>> streak.crossing.tolist()
    [4.0]
    """

    def __init__(self, shape: tuple[int, ...], sustain: int = SUSTAINED_MONTHS):
        self.sustain = sustain
        self.months = np.zeros(shape, dtype=np.int64)  #: the current streak's length
        self.crossing = np.full(shape, np.nan)  #: the sustained crossing month, NaN while none

    def update(self, step: int, sfr: np.ndarray, raised: np.ndarray) -> None:
        ok = (sfr >= 1.0) & ~(raised > 0)  # NaN (no next cluster, failed) is not a crossing
        self.months = np.where(ok, self.months + 1, 0)
        new = (self.months >= self.sustain) & np.isnan(self.crossing)
        self.crossing[new] = step - self.sustain + 1


def crossing_step(sfr_by_step, raised_by_step=None, sustain: int = SUSTAINED_MONTHS):
    """The sustained crossing month of one series (``crossing_steps``), or None ("not within the horizon").

    >>> crossing_step([0.2, 0.9, 1.0, 0.8, 1.1, 1.2], sustain=2), crossing_step([0.5], sustain=1)
    (4, None)
    """
    step = crossing_steps(np.asarray(sfr_by_step, float), None if raised_by_step is None
                          else np.asarray(raised_by_step, float), sustain)
    return None if np.isnan(step) else int(step)


def first_touch_step(sfr_by_step):
    """First step at which SFR ≥ 1 for a month, or None: the first touch, not a sustained crossing.

    >>> first_touch_step([0.2, 0.9, 1.0, 0.8]), first_touch_step([0.5])
    (2, None)
    """
    hits = np.flatnonzero(np.asarray(sfr_by_step) >= 1.0)
    return int(hits[0]) if hits.size else None


@dataclass
class FundingBook:
    """Every raise: one record per (step, lab, source)."""

    records: list[dict] = field(default_factory=list)

    def add(self, **record) -> None:
        self.records.append(record)


def idle_cash_usd(cash, buffer_usd, trailing_operating_cash_flow):
    """Cash no plan needs: what lies above the buffer, for an owner whose operations bring
    cash in (a lab still burning cash keeps what it raised for the race).

    >>> idle_cash_usd(np.array([100.0, 100.0, 50.0]), 60.0, np.array([5.0, -5.0, 5.0])).tolist()
    [40.0, 0.0, 0.0]
    """
    return np.where(np.asarray(trailing_operating_cash_flow) > 0,
                    np.maximum(np.asarray(cash, float) - buffer_usd, 0.0), 0.0)


# ---------------------------------------------------------------- valuation and rounds

def revenue_multiple(start_multiple, mature_multiple, halflife_years, t_years):
    """Valuation over forward revenue, reverting from today's to a mature company's.

    m(t) = m_mature + (m_0 − m_mature)·2^(−t/h): today's multiples price a story
    (xAI at hundreds of times revenue); investors come to price revenue.

    >>> float(revenue_multiple(40.0, 10.0, 2.0, 2.0))
    25.0
    """
    m0 = np.asarray(start_multiple, dtype=float)
    mm = np.asarray(mature_multiple, dtype=float)
    return mm + (m0 - mm) * np.exp2(-np.asarray(t_years, dtype=float) / np.asarray(halflife_years, dtype=float))


def valuation_usd(run_rate_usd_per_year, growth_per_year, multiple, max_growth=2.0):
    """What investors would pay for the whole lab: multiple × forward revenue.

    Forward revenue = run-rate × (1 + trailing growth), the growth clipped to
    [−0.5, ``max_growth``]; a lab with no revenue is worth nothing to them.

    >>> float(valuation_usd(10e9, 1.0, 20.0)), float(valuation_usd(10e9, 9.0, 20.0))
    (400000000000.0, 600000000000.0)
    """
    growth = np.clip(np.asarray(growth_per_year, dtype=float), -0.5, max_growth)
    return np.maximum(np.asarray(run_rate_usd_per_year, dtype=float), 0.0) * (1.0 + growth) * multiple


def round_size_usd(need_usd, valuation, round_fraction):
    """A funding round: what the lab needs, but no more than a fraction of its valuation.

    >>> round_size_usd(np.array([10.0, 10.0]), np.array([200.0, 50.0]), 0.1).tolist()
    [10.0, 5.0]
    """
    return np.minimum(np.maximum(need_usd, 0.0), np.maximum(valuation, 0.0) * round_fraction)
