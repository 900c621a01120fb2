"""One look for every figure the project draws: the colour of each agent, and the formatters axes and tables share.

Every plot (run plots, comparisons, study figures, the cost view) and the dashboard take an agent's colour from
``colour``, so OpenAI is the same colour in ``per_watt.png``, a fan chart and the browser. Agents of the baseline
have fixed colours; any other id (a lab of a user's config) gets one of ``CYCLE`` by a stable hash of its name, the
same in every figure and every process.
"""

from __future__ import annotations

import math
import zlib

#: the baseline's agents; colours of the Tableau 10 palette, the one matplotlib draws by default
AGENT_COLOURS: dict[str, str] = {
    "openai": "#1f77b4",
    "anthropic": "#ff7f0e",
    "gemini": "#2ca02c",
    "xai": "#d62728",
    "open_weights_fringe": "#7f7f7f",
    "meta": "#9467bd",
    "microsoft": "#17becf",
    "amazon": "#bcbd22",
    "google": "#8c564b",
    "neoclouds": "#e377c2",
    "unserved": "#d9d9d9",
}

#: colours for ids the baseline does not have (those of AGENT_COLOURS left out where they would clash)
CYCLE = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")


def colour(agent: str) -> str:
    """The colour of an agent, provider or segment row, the same in every figure.

    >>> colour("openai")
    '#1f77b4'
    >>> colour("my_lab") == colour("my_lab")
    True
    """
    return AGENT_COLOURS.get(agent) or CYCLE[zlib.crc32(agent.encode()) % len(CYCLE)]


# ---------------------------------------------------------------------------------------------------------------
# Numbers as tables and axes show them. Every formatter takes a float (NaN or None: ``missing``), writes negative
# numbers with a true minus sign (as matplotlib's axes do) and, with ``signed=True``, a plus sign on a positive
# difference. CSV files keep plain numbers: these are for Markdown, printed tables and figures only.
# ---------------------------------------------------------------------------------------------------------------

#: the minus sign tables and axes print (U+2212, as matplotlib draws it)
MINUS = "\u2212"
#: what a formatter prints for NaN or None unless told otherwise: a value that is not defined
MISSING = "n/a"


def _is_missing(x) -> bool:
    return x is None or not math.isfinite(float(x))


def _sign(x: float, signed: bool) -> str:
    return MINUS if x < 0 else "+" if signed and x > 0 else ""


def significant(x: float, sig: int = 3, min_decimals: int = 2) -> str:
    """``|x|`` to ``sig`` significant figures, trailing zeros trimmed down to ``min_decimals`` decimals
    (never trimmed below what the figures need); the sign is the caller's.

    >>> significant(0.0962), significant(0.1), significant(1.596), significant(23.84), significant(1234.6)
    ('0.0962', '0.10', '1.60', '23.8', '1235')
    >>> significant(0.09996), significant(0.0)
    ('0.10', '0.00')
    """
    x = abs(float(x))
    if x == 0:
        return f"{0:.{min_decimals}f}"
    decimals = max(sig - 1 - math.floor(math.log10(x)), 0)
    text = f"{x:.{decimals}f}"
    if decimals > min_decimals:
        text = text.rstrip("0")
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(min_decimals, '0')}" if min_decimals else text.rstrip(".")
    return text


def money(x, signed: bool = False, missing: str = MISSING) -> str:
    """An amount of dollars: trillions and billions to one decimal, millions and thousands to three
    significant figures, less than a thousand to the cent.

    >>> money(3.0e10), money(8.5e8), money(1.23e12), money(-4.48e10), money(1.5e6), money(12.0)
    ('$30.0B', '$850M', '$1.2T', '−$44.8B', '$1.5M', '$12.00')
    >>> money(4.65e9, signed=True), money(-2.0e8, signed=True), money(0.0, signed=True), money(float("nan"))
    ('+$4.7B', '−$200M', '$0', 'n/a')
    >>> money(999.96e6)
    '$1.0B'
    """
    if _is_missing(x):
        return missing
    x = float(x)
    a = abs(x)
    for size, suffix in ((1e12, "T"), (1e9, "B")):
        if round(a / size, 1) >= 1:
            return f"{_sign(x, signed)}${a / size:,.1f}{suffix}"
    for size, suffix in ((1e6, "M"), (1e3, "K")):
        if float(significant(a / size, 3, 0)) >= 1:
            return f"{_sign(x, signed)}${significant(a / size, 3, 0)}{suffix}"
    return "$0" if a == 0 else f"{_sign(x, signed)}${a:,.2f}"


def price(x, unit: str = "/Mtok", signed: bool = False, missing: str = MISSING) -> str:
    """A price or a dollar rate (``unit``: what it is per; "" for none): three significant figures, at least
    two decimals below $10 (trailing zeros trimmed to two).

    >>> price(0.0962), price(0.1), price(5.83), price(23.84), price(0.00012)
    ('$0.0962/Mtok', '$0.10/Mtok', '$5.83/Mtok', '$23.8/Mtok', '$0.00012/Mtok')
    >>> price(0.004652, signed=True), price(-1.5, unit="/W-yr", signed=True), price(25.47, unit="")
    ('+$0.00465/Mtok', '−$1.50/W-yr', '$25.5')
    """
    if _is_missing(x):
        return missing
    return f"{_sign(float(x), signed)}${significant(x)}{unit}"


def percent(x, decimals: int = 0, signed: bool = False, missing: str = MISSING) -> str:
    """A share or a margin (a decimal: 0.21 is 21%) as a percentage.

    >>> percent(0.2149), percent(-1.09), percent(0.045, 1), percent(0.02, signed=True), percent(None)
    ('21%', '−109%', '4.5%', '+2%', 'n/a')
    """
    if _is_missing(x):
        return missing
    x = float(x)
    text = f"{abs(x) * 100:,.{decimals}f}"
    return f"{_sign(x, signed) if float(text.replace(',', '')) else ''}{text}%"


def points(x, decimals: int = 1, missing: str = MISSING) -> str:
    """A difference of two shares or margins, in percentage points (always signed).

    >>> points(0.0123), points(-0.5), points(0.0)
    ('+1.2 pp', '−50.0 pp', '0.0 pp')
    """
    if _is_missing(x):
        return missing
    x = float(x)
    text = f"{abs(x) * 100:,.{decimals}f}"
    return f"{_sign(x, True) if float(text.replace(',', '')) else ''}{text} pp"


def number(x, sig: int = 3, signed: bool = False, missing: str = MISSING) -> str:
    """A plain number (a ratio, tokens per watt-year): three significant figures, thousands separated.

    >>> number(1.2345), number(-12.0), number(263.56), number(12345.6), number(0.5, signed=True)
    ('1.23', '−12.0', '264', '12,346', '+0.500')
    """
    if _is_missing(x):
        return missing
    x = float(x)
    text = significant(x, sig, min_decimals=sig)  # no trimming: 1.50 stays 1.50
    if "." not in text and abs(x) >= 1000:
        text = f"{int(text):,}"
    return f"{_sign(x, signed)}{text}"


def value(x, unit: str, signed: bool = False, missing: str = MISSING, bare: bool = False) -> str:
    """``x`` in the way its unit (as ``sim.outputs`` names units) is shown: ``$`` and ``$/yr`` as money,
    other ``$/…`` as a price, fractions and shares as percent (a signed difference in points), anything
    else as a number. The one formatter behind the summary, comparison and report tables (``bare``: a price
    without its "/Mtok", for a column whose heading names the unit).

    >>> value(3e10, "$"), value(0.0962, "$/Mtok"), value(25.5, "$/W-yr"), value(0.21, "fraction")
    ('$30.0B', '$0.0962/Mtok', '$25.5/W-yr', '21%')
    >>> value(0.0123, "share of revenue", signed=True), value(1.5, "ratio"), value(float("nan"), "$")
    ('+1.2 pp', '1.50', 'n/a')
    >>> value(0.0962, "$/Mtok", bare=True)
    '$0.0962'
    """
    if unit in ("$", "$/yr", "$B"):
        return money(x * (1e9 if unit == "$B" else 1), signed, missing) if not _is_missing(x) else missing
    if unit.startswith("$/"):
        return price(x, "" if bare else unit[1:], signed, missing)
    if unit in ("fraction", "share") or unit.startswith("share of"):
        return points(x, missing=missing) if signed else percent(x, missing=missing)
    return number(x, signed=signed, missing=missing)


# ---------------------------------------------------------------------------------------------------------------
# Axes
# ---------------------------------------------------------------------------------------------------------------


def symlog_label(x: float, pos=None) -> str:
    """A tick of a symmetric-log axis written as a plain number (1, 0.5, 0, −1, −10, 1,000), not ``10^0``.

    >>> [symlog_label(v) for v in (1, 0.5, 0, -1, -10, 1000, -0.25)]
    ['1', '0.5', '0', '−1', '−10', '1,000', '−0.25']
    """
    if x == 0:
        return "0"
    text = f"{abs(x):,.0f}" if abs(x) >= 1 and float(x).is_integer() else f"{abs(x):g}"
    return (MINUS if x < 0 else "") + text


def symlog_ticks(lo: float, hi: float, linthresh: float = 1.0) -> list[float]:
    """Ticks of a symmetric-log axis from ``lo`` to ``hi``: 0, ±half the linear threshold, ±the threshold
    and its powers of ten (and 2 and 5 times them where the axis reaches less than a decade beyond the
    threshold).

    >>> symlog_ticks(-3, 1.2)
    [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0]
    >>> symlog_ticks(-400, 1)
    [-100.0, -10.0, -1.0, -0.5, 0.0, 0.5, 1.0]
    """
    top = max(abs(lo), abs(hi)) * 1.0000001
    steps = (1.0, 2.0, 5.0) if top < 10 * linthresh else (1.0,)
    ticks = {0.0, linthresh / 2, -linthresh / 2}
    decade = linthresh
    while decade <= top:
        ticks |= {m * decade for m in steps} | {-m * decade for m in steps}
        decade *= 10
    return sorted(t for t in ticks if lo <= t <= hi)


def symlog_axis(ax, linthresh: float = 1.0, axis: str = "y") -> None:
    """A symmetric-log axis (linear within ±``linthresh``) whose ticks read 1, 0.5, 0, −1, −10."""
    from matplotlib import ticker

    class Ticks(ticker.Locator):
        def __call__(self):
            lo, hi = sorted(self.axis.get_view_interval())
            return symlog_ticks(lo, hi, linthresh)

    getattr(ax, f"set_{axis}scale")("symlog", linthresh=linthresh)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(Ticks())
    target.set_minor_locator(ticker.NullLocator())
    target.set_major_formatter(ticker.FuncFormatter(symlog_label))


def percent_axis(ax, axis: str = "y", decimals: int = 0) -> None:
    """Ticks of a share or margin axis (decimals) written as percent: 0.25 → 25%."""
    from matplotlib import ticker

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        ticker.FuncFormatter(lambda v, pos=None: percent(v, decimals)))


#: the range margins are drawn in: below −100% (costs more than twice revenue) the axis would squeeze the rest
MARGIN_RANGE = (-1.0, 0.6)


def clip(values, lo: float, hi: float):
    """``values`` clipped to [lo, hi], and where they were out of range (NaN stays NaN, and is not out of range).

    >>> clip([-3.0, 0.2, 0.9, float("nan")], -1.0, 0.6)
    (array([-1. ,  0.2,  0.6,  nan]), array([ True, False,  True, False]))
    """
    import numpy as np

    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.clip(v, lo, hi), (v < lo) | (v > hi)


def plot_clipped(ax, x, y, lo: float = MARGIN_RANGE[0], hi: float = MARGIN_RANGE[1], **kw):
    """Plot ``y`` against ``x`` clipped to [lo, hi], the months out of range marked by small open triangles
    on the edge (▼ below, ▲ above); returns the line."""
    import numpy as np

    shown, out = clip(y, lo, hi)
    line, = ax.plot(x, shown, **kw)
    if out.any():
        below, above = out & (np.asarray(y, dtype=float) < lo), out & (np.asarray(y, dtype=float) > hi)
        for mask, marker in ((below, "v"), (above, "^")):
            if mask.any():
                ax.scatter(np.asarray(x)[mask], shown[mask], marker=marker, s=9, color=line.get_color(), zorder=3,
                           clip_on=False, label="_nolegend_")
    return line


def margin_axis(ax, lo: float = MARGIN_RANGE[0], hi: float = MARGIN_RANGE[1], axis: str = "y") -> None:
    """A margin axis in percent from ``lo`` to ``hi``, its end ticks marked ≤ and ≥ (values beyond are drawn
    on the edge by ``plot_clipped``), a line at 0."""
    from matplotlib import ticker

    pad = (hi - lo) * 0.02
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo - pad, hi + pad)
    room = 0.1 * (hi - lo)  # no tick crowds the marked ends
    ticks = [t for t in (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0) if lo + room < t < hi - room]
    ticks = [lo, *ticks, hi]

    def label(v, pos=None):
        text = percent(v, signed=v > 0)
        return f"≤{text}" if math.isclose(v, lo) else f"≥{text}" if math.isclose(v, hi) else text

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.FixedLocator(ticks))
    target.set_major_formatter(ticker.FuncFormatter(label))
    (ax.axhline if axis == "y" else ax.axvline)(0.0, color="black", lw=0.5)


def dollar_axis(ax, axis: str = "y") -> None:
    """Ticks of a price or dollar-rate axis written $0.10, $1.50, $25 (the unit in the axis label)."""
    from matplotlib import ticker

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        ticker.FuncFormatter(lambda v, pos=None: dollar_tick(v)))


def dollar_tick(v: float, pos=None) -> str:
    """A tick of a price axis: whole dollars plain, cents to two decimals, less with its figures.

    >>> [dollar_tick(v) for v in (0, 0.1, 0.25, 0.004, 2.5, 80.0, -5.0)]
    ['$0', '$0.10', '$0.25', '$0.004', '$2.5', '$80', '−$5']
    """
    if v == 0:
        return "$0"
    text = f"{abs(v):,g}" if abs(v) >= 1 else significant(v, 2, 2)
    return f"{MINUS if v < 0 else ''}${text}"


def money_axis(ax, axis: str = "y") -> None:
    """Ticks of an axis in dollars written as money ($30B, $850M): plot amounts in $, not scaled."""
    from matplotlib import ticker

    def label(v, pos=None):
        return money(v).replace(".0B", "B").replace(".0T", "T") if v else "$0"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(ticker.FuncFormatter(label))


def month_axis(ax, axis: str = "x") -> None:
    """A date axis (months) with concise labels: years, and months where they are needed (2027, Jul, 2028)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(locator)
    target.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))


def month_date(start: str, months: float):
    """The first day of the month ``months`` after ``start`` (``YYYY-MM``): a month index as a date.

    >>> str(month_date("2026-01", 53).date())
    '2030-06-01'
    """
    import pandas as pd

    year, month = (int(p) for p in str(start)[:7].split("-"))
    index = year * 12 + month - 1 + int(round(months))
    return pd.Timestamp(index // 12, index % 12 + 1, 1)


def month_text(start: str, months: float | None, missing: str = "not within the horizon") -> str:
    """A month index (months from ``start``) as ``YYYY-MM``; None or NaN: ``missing``.

    >>> month_text("2026-01", 14), month_text("2026-01", None)
    ('2027-03', 'not within the horizon')
    """
    if months is None or _is_missing(months):
        return missing
    return str(month_date(start, months))[:7]


def months_axis(ax, start: str, axis: str = "x") -> None:
    """An axis that holds month indices (months from ``start``) labelled as dates, ``YYYY-MM``, ticks on
    Januaries: a crossing month reads the same on every figure."""
    from matplotlib import ticker

    year, month = (int(p) for p in str(start)[:7].split("-"))
    offset = (12 - (month - 1)) % 12  # the first January at or after the start
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(ticker.MultipleLocator(12, offset=offset))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, pos=None: month_text(start, v, "")[:4]
                                                    if (v - offset) % 12 == 0 else month_text(start, v, "")))


# ---------------------------------------------------------------------------------------------------------------
# Lines and the figure style
# ---------------------------------------------------------------------------------------------------------------

#: agents whose month-to-month values jump (the fringe re-prices each month): drawn smoothed and thin
NOISY = frozenset({"open_weights_fringe"})
#: months of the centred rolling mean a noisy agent is drawn with
SMOOTH_MONTHS = 6


def label(agent: str) -> str:
    """An agent's name in a legend.

    >>> label("open_weights_fringe"), label("openai")
    ('open-weights fringe', 'openai')
    """
    return "open-weights fringe" if agent == "open_weights_fringe" else agent


def smooth(values, months: int = SMOOTH_MONTHS):
    """A centred rolling mean over ``months`` months (fewer at the ends); NaN months are skipped.

    >>> smooth([1.0, 3.0, 1.0, 3.0], 2).tolist()
    [1.0, 2.0, 2.0, 2.0]
    """
    import pandas as pd

    return pd.Series(values, dtype=float).rolling(months, center=True, min_periods=1).mean().to_numpy()


def line_kw(agent: str) -> dict:
    """Keyword arguments for an agent's line: its colour and label; a noisy agent thinner.

    >>> line_kw("open_weights_fringe")["lw"], line_kw("openai")["color"]
    (1.0, '#1f77b4')
    """
    return {"color": colour(agent), "label": label(agent), "lw": 1.0 if agent in NOISY else 1.5}


def agent_line(ax, agent: str, x, y, **kw):
    """Draw one agent's series: a noisy agent (the fringe) as its ``SMOOTH_MONTHS``-month mean, thin, over its
    raw months drawn faint; any other agent as it is. Returns the line."""
    style = line_kw(agent) | kw
    if agent in NOISY:
        ax.plot(x, y, color=style["color"], lw=0.6, alpha=0.3, label="_nolegend_",
                **{k: v for k, v in kw.items() if k in ("ls", "linestyle")})
        style["label"] = f"{style['label']} ({SMOOTH_MONTHS}-month mean)" if style.get("label") else None
        return ax.plot(x, smooth(y), **style)[0]
    return ax.plot(x, y, **style)[0]


#: the project's figure style (matplotlib rcParams), applied by ``apply_style``
RC = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.unicode_minus": True,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}


def apply_style() -> None:
    """Set the project's figure style (``RC``) in matplotlib, the palette's cycle for unnamed lines included.

    >>> apply_style()
    >>> import matplotlib
    >>> matplotlib.rcParams["axes.spines.top"]
    False
    """
    import matplotlib
    from cycler import cycler

    matplotlib.rcParams.update(RC)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=[colour(a) for a in list(AGENT_COLOURS)[:5]] + list(CYCLE))
