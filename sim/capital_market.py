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


def self_funding_ratio(trailing_fcf_usd_per_year, next_capex_usd, build_lead_months):
    """SFR = trailing-12-month free cash flow / annualised next-cluster capex.

    The next cluster's capex is spread over its build lead time, so the annual
    bill is capex / (lead / 12). SFR ≥ 1: operations could pay for it. No next
    cluster (capex 0) gives SFR 0: nothing to fund is not being self-funded.

    >>> float(self_funding_ratio(30e9, 60e9, 24))
    1.0
    """
    annual = np.asarray(next_capex_usd, float) / (np.asarray(build_lead_months, float) / 12.0)
    return np.divide(trailing_fcf_usd_per_year, annual, out=np.zeros(np.broadcast(trailing_fcf_usd_per_year,
                                                                                  annual).shape),
                     where=annual > 0.01)  # (a cent a year of capex is no cluster: the ratio would overflow)


def crossing_step(sfr_by_step):
    """First step at which SFR ≥ 1, or None ("not within the horizon").

    >>> crossing_step([0.2, 0.9, 1.0, 0.8]), crossing_step([0.5])
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
