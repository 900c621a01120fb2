"""Time to self-funding as survival data: Kaplan–Meier curves, Greenwood bands, medians with censoring.

A lab's crossing month (``capital_market.crossing_step``) is known only for runs in which it crosses
within the horizon; in the others all we know is that it had not crossed by the horizon. That is a
right-censored time, and counting it as "horizon + 1" makes a median or a mean a number that depends on
how long the runs were. Here each run is at risk of crossing from month 0 to its crossing or to the end
of its horizon; the product-limit (Kaplan–Meier) estimator gives the share of runs still not crossed at
each month, Greenwood's formula its variance, and the median crossing is the first month at which at
least half the runs have crossed, or "not reached" when the curve stays above one half.

**A lab that fails is a competing event, not censored at its failure.** A failed lab is out of the market
for good: it will never cross, and runs in which a lab fails are not like the others (its money ran
out), so censoring it at its failure would answer "when would it have crossed had it not failed", a
question the model cannot answer, and would overstate the share that crosses. What an analyst asks is
the share of runs in which the lab has crossed by a date, failures counted as runs that have not: the
cumulative incidence of crossing, with failure as a competing event. A simulation knows every run's
horizon (its censoring is administrative: "censoring-complete" data, Fine and Gray 1999, section 3), so
a failed lab stays in the risk set, never crossing, until its run's horizon, and the product-limit
estimator over that risk set is the Aalen–Johansen cumulative incidence exactly. ``survival_table``
therefore takes the crossing month or NaN and the horizon of each run; a failure needs no input (it is a
run with no crossing). Where every run has the same horizon, as in a study, the curve is the empirical
share crossed by each month and Greenwood's variance the binomial ``p (1 - p) / n``.

    >>> t = survival_table([2, 2, 5, np.nan, np.nan], horizon=10)
    >>> t[["month", "at_risk", "crossed", "share_crossed"]].to_numpy().tolist()
    [[2.0, 5.0, 2.0, 0.4], [5.0, 3.0, 1.0, 0.6]]
    >>> median_crossing(t)
    5.0
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd

#: the pointwise confidence level of the bands
LEVEL = 0.95

SURVIVAL_COLUMNS = ["month", "at_risk", "crossed", "share_crossed", "variance", "low", "high"]


def survival_table(months: Sequence[float], horizon: int | Sequence[int], *, level: float = LEVEL) -> pd.DataFrame:
    """The Kaplan–Meier estimate of the share of runs that have crossed, one row per month in which some
    run crosses.

    ``months``: each run's crossing month (0 = the first month), NaN where it does not cross within its
    horizon (a failed lab included: see the module's docstring); ``horizon``: the last month of each run
    (one number for all, or one per run): a run that has not crossed is censored there. A crossing in the
    same month as a censoring counts first (the run was at risk in that month). Columns: ``month``,
    ``at_risk`` (runs not crossed and not censored before the month), ``crossed`` (runs crossing in
    it), ``share_crossed`` (1 - S(t), S the Kaplan–Meier survival), ``variance`` (Greenwood:
    S² Σ d / (n (n - d))), and the pointwise band ``low``–``high`` at ``level``, on the log(-log S)
    scale (Kalbfleisch and Prentice), which keeps it inside [0, 1]; where S is 0 the band is the point.

    Hand-solved, with a censoring before the end (runs cross in months 1 and 3; others censored at 2 and 4):
    month 1: 4 at risk, 1 crosses, S = 3/4, Greenwood sum 1/(4·3) = 1/12; month 3: 2 at risk (one was
    censored at 2), 1 crosses, S = 3/8, sum 1/12 + 1/(2·1) = 7/12, variance (3/8)² · 7/12 = 21/256.

    >>> t = survival_table([1, np.nan, 3, np.nan], horizon=[4, 2, 4, 4])
    >>> t["share_crossed"].tolist(), bool(t["variance"].iloc[-1] == 21 / 256)
    ([0.25, 0.625], True)
    """
    times = np.asarray(months, dtype=float)
    ends = np.broadcast_to(np.asarray(horizon, dtype=float), times.shape)
    if np.any(times[np.isfinite(times)] > ends[np.isfinite(times)]):
        raise ValueError("a crossing month lies past its run's horizon")
    crossed = np.isfinite(times)
    exit_month = np.where(crossed, times, ends)
    event_months = np.unique(times[crossed])
    z = NormalDist().inv_cdf(0.5 + level / 2)
    rows = []
    survival, greenwood = 1.0, 0.0
    for month in event_months:
        at_risk = int(np.sum(exit_month >= month))
        d = int(np.sum(times == month))
        survival *= 1 - d / at_risk
        greenwood += d / (at_risk * (at_risk - d)) if at_risk > d else np.inf
        variance = survival ** 2 * greenwood if np.isfinite(greenwood) else 0.0
        low_s, high_s = _loglog_band(survival, greenwood, z)
        rows.append((float(month), at_risk, d, 1 - survival, variance, 1 - high_s, 1 - low_s))
    table = pd.DataFrame(rows, columns=SURVIVAL_COLUMNS)
    return table.astype({c: float for c in SURVIVAL_COLUMNS} | {"at_risk": int, "crossed": int})


def _loglog_band(survival: float, greenwood: float, z: float) -> tuple[float, float]:
    """The band of S on the log(-log S) scale: S^exp(±z σ), σ² = Greenwood's sum / (log S)².

    >>> _loglog_band(1.0, 0.0, 1.96), _loglog_band(0.0, np.inf, 1.96)
    ((1.0, 1.0), (0.0, 0.0))
    """
    if survival <= 0.0 or survival >= 1.0 or not np.isfinite(greenwood):
        return survival, survival
    sigma = np.sqrt(greenwood) / abs(np.log(survival))
    return float(survival ** np.exp(z * sigma)), float(survival ** np.exp(-z * sigma))


def share_crossed_by(table: pd.DataFrame, month: float) -> float:
    """The estimated share of runs crossed by the end of ``month`` (a step function: 0 before the first
    crossing).

    >>> share_crossed_by(survival_table([2, 2, 5, np.nan, np.nan], horizon=10), 4)
    0.4
    """
    before = table[table["month"] <= month]
    return float(before["share_crossed"].iloc[-1]) if len(before) else 0.0


def median_crossing(table: pd.DataFrame, column: str = "share_crossed", share: float = 0.5) -> float | None:
    """The first month at which the estimated share crossed reaches one half (or ``share``; ``column``:
    ``low`` or ``high`` for the ends of its confidence interval, Brookmeyer and Crowley), or None: not
    reached within the horizon.

    >>> t = survival_table([2, 2, 5, np.nan, np.nan], horizon=10)
    >>> median_crossing(t), median_crossing(t, "low"), median_crossing(t, "high"), median_crossing(t, share=0.75)
    (5.0, None, 2.0, None)
    """
    reached = table.loc[table[column] >= share - 1e-12, "month"]
    return float(reached.iloc[0]) if len(reached) else None


@dataclass(frozen=True)
class CrossingSummary:
    """One lab's crossings over a set of runs: the median crossing month with its confidence interval
    (None: not reached, or the interval's end not reached within the horizon), the share crossed by the
    horizon, and how many runs crossed, failed first, or were censored."""

    runs: int
    crossed: int
    failed: int  #: runs in which the lab failed without having crossed
    share_crossed: float  #: Kaplan–Meier share crossed by the horizon
    median: float | None
    median_low: float | None
    median_high: float | None

    @property
    def censored(self) -> int:
        """Runs whose lab had not crossed by the horizon (failed ones included)."""
        return self.runs - self.crossed


def summarise(months: Sequence[float], horizon: int | Sequence[int], failed: Sequence[bool] | None = None,
              *, level: float = LEVEL) -> CrossingSummary:
    """The ``CrossingSummary`` of one lab's crossing months (NaN: not within the horizon).

    >>> s = summarise([2, 2, 5, np.nan, np.nan], 10, failed=[False, False, False, True, False])
    >>> s.median, s.share_crossed, s.failed, s.censored
    (5.0, 0.6, 1, 2)
    """
    months = np.asarray(months, dtype=float)
    table = survival_table(months, horizon, level=level)
    ends = np.broadcast_to(np.asarray(horizon, dtype=float), months.shape)
    hit = np.isfinite(months)
    failed_first = int(np.sum(np.asarray(failed, dtype=bool) & ~hit)) if failed is not None else 0
    return CrossingSummary(runs=int(months.size), crossed=int(hit.sum()), failed=failed_first,
                           share_crossed=share_crossed_by(table, float(ends.max())) if months.size else float("nan"),
                           median=median_crossing(table), median_low=median_crossing(table, "high"),
                           median_high=median_crossing(table, "low"))


def step_curve(table: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """The curve as steps to draw: a row at month 0 (nothing crossed yet), one per crossing month, and
    one at the horizon; ``share_crossed``, ``low`` and ``high`` hold from their month to the next.

    >>> step_curve(survival_table([2, np.nan], 10), 10)["share_crossed"].tolist()
    [0.0, 0.5, 0.5]
    >>> step_curve(survival_table([np.nan], 10), 10)[["month", "share_crossed"]].to_numpy().tolist()
    [[0.0, 0.0], [10.0, 0.0]]
    """
    start = pd.DataFrame({"month": [0.0], "share_crossed": [0.0], "low": [0.0], "high": [0.0]})
    body = table[["month", "share_crossed", "low", "high"]]
    if len(body) and body["month"].iloc[0] == 0:
        start = start.iloc[0:0]
    last = body.iloc[[-1]] if len(body) else start
    end = last.assign(month=float(horizon))
    return pd.concat([start, body, end], ignore_index=True).astype(float)
