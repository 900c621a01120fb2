"""Units and calendar helpers used everywhere in the model.

Power is in watts (IT power at the accelerator racks; facility draw is
``watts * pue``). Money is nominal US dollars. One simulation step is one month.
"""

from __future__ import annotations

import datetime as _dt
import re

#: Seconds in one Julian year (365.25 days): 1 watt-year = 31,557,600 J.
SECONDS_PER_YEAR = 31_557_600.0
#: Hours in one Julian year: 1 watt-year = 8.766 kWh.
HOURS_PER_YEAR = 8_766.0
#: Megawatt-hours in one watt-year.
MWH_PER_WATT_YEAR = HOURS_PER_YEAR / 1e6
MONTHS_PER_YEAR = 12
#: Length of one step in years.
DT_YEARS = 1.0 / MONTHS_PER_YEAR
#: Tokens in one "Mtok", the unit prices are quoted in.
TOKENS_PER_MTOK = 1e6


def per_token(usd_per_mtok):
    """A price per million tokens as dollars per token (the one conversion this way).

    >>> per_token(2.0)
    2e-06
    """
    return usd_per_mtok / TOKENS_PER_MTOK


def per_mtok(usd_per_token):
    """Dollars per token as a price per million tokens, the unit list prices are quoted in (the one
    conversion that way).

    >>> per_mtok(2e-06)
    2.0
    """
    return usd_per_token * TOKENS_PER_MTOK


#: the calendar a config's months may fall in: wide enough for any backtest or projection, narrow enough that
#: every date a run can reach (a 1,200-month horizon, a 1,200-month lease) stays a valid date
FIRST_YEAR, LAST_YEAR = 1900, 2200


def _ok(text: str) -> bool:
    try:
        parse_month(text)
    except ValueError:
        return False
    return True


def parse_month(text: str) -> tuple[int, int]:
    """Parse ``"YYYY-MM"`` into ``(year, month)``; the year within ``FIRST_YEAR`` … ``LAST_YEAR``.

    >>> parse_month("2026-01")
    (2026, 1)

    Only ASCII digits: ``int()`` would also take ``"+1"``, ``" 1"``, ``"1_0"`` or other scripts' digits.

    >>> [_ok(t) for t in ("2026-+1", "2026- 1", "2_26-01", "２０２６-01")]
    [False, False, False, False]
    """
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", text):
        raise ValueError(text)
    year_s, month_s = text.split("-")
    year, month = int(year_s), int(month_s)
    if not 1 <= month <= 12 or len(year_s) != 4 or len(month_s) != 2 or not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(text)
    return year, month


def month_index(text: str, start: str) -> int:
    """Months from ``start`` to ``text`` (negative if before).

    >>> month_index("2027-03", "2026-01")
    14
    """
    y, m = parse_month(text)
    y0, m0 = parse_month(start)
    return (y - y0) * 12 + (m - m0)


def step_date(start: str, step: int) -> _dt.date:
    """First day of the month ``step`` months after ``start``.

    >>> step_date("2026-01", 13)
    datetime.date(2027, 2, 1)
    """
    y0, m0 = parse_month(start)
    total = y0 * 12 + (m0 - 1) + step
    return _dt.date(total // 12, total % 12 + 1, 1)
