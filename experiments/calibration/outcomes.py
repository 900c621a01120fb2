"""Outcome tables: dated observed figures, one a row, and the model's value for each.

A table has the columns ``key, metric, agent, start, end, value, source``
and, optionally, ``uncertainty``: the figure's own spread as a log-sd (0.1 for
"about ±10%", 0.3 for a "reportedly" or a range of ×1.35 either way; blank or
0 for a figure taken as exact), which ``validate`` adds to the model's bands;
dates are ``YYYY-MM``; ``agent`` is a model agent id (a segment id for
``customers``). The metrics:

| metric | the model's value |
| --- | --- |
| ``revenue_usd`` | revenue summed over the months [start, end] |
| ``revenue_run_rate_usd`` | 12 × the revenue of month ``end`` |
| ``operating_margin`` | operating profit / revenue, both summed over [start, end] |
| ``operating_profit_usd`` | operating profit summed over [start, end] |
| ``tokens_served`` | tokens served in month ``end`` |
| ``customers`` | customers of the segment ``agent`` in month ``end`` |
| ``capex_usd`` | capex paid over [start, end] |
| ``outside_capital_usd`` | outside capital raised over [start, end] |

``validate`` compares a model's scenarios with such a table; ``posterior``
fits parameters to one.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.sim.config import ConfigError, Problem
from wattyear.sim.units import month_index, parse_month

#: metric → (how the months are reduced, the column it reads)
METRICS = {
    "revenue_usd": ("sum", "revenue_usd"),
    "revenue_run_rate_usd": ("run_rate", "revenue_usd"),
    "operating_margin": ("ratio", ("operating_profit_usd", "revenue_usd")),
    "operating_profit_usd": ("sum", "operating_profit_usd"),
    "tokens_served": ("end", "tokens_served"),
    "customers": ("segment", "segment_customers"),
    "capex_usd": ("sum", "capex_usd"),
    "outside_capital_usd": ("sum", "raised_usd"),
}
COLUMNS = ("key", "metric", "agent", "start", "end", "value", "source")


#: the most rows an outcomes table may have (the packaged ones have about 20: each is a dated public figure);
#: a larger file is refused before its rows are checked (300,000 rows took 27 s and 569 MB)
MAX_ROWS = 10_000
#: the largest outcomes table read
MAX_BYTES = 16 * 2**20
WHAT = "an outcomes table (a UTF-8 CSV file)"


def find_table(name: str) -> Path:
    """An outcomes table: a CSV file, or the name of a packaged one (``backtest_targets``). A path that
    exists but is no regular file (a folder, a device, a link to one) is refused as what it is."""
    from wattyear.sim.config import CONFIG_DIR
    from wattyear.sim.config_files import read_text_file

    path = Path(name)
    if path.is_file():
        return path
    if str(name).strip() and (path.exists() or path.is_symlink()):  # say what it is, not "no such file"
        read_text_file(path, WHAT, limit=MAX_BYTES)
    packaged = CONFIG_DIR / (path.name if path.suffix == ".csv" else f"{path.name}.csv")
    if len(path.parts) == 1 and packaged.is_file() and packaged.stem != "sources":
        return packaged
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.csv") if p.stem != "sources")
    raise ConfigError([Problem(name, "(file)", "an existing CSV file or a packaged outcomes table (" +
                               ", ".join(names) + ")", "no such file")])


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read and check an outcomes table (a CSV file, or a packaged table's name: ``find_table``); every
    problem names the file, the line and the column."""
    from wattyear.sim.config_files import read_text_file

    path = Path(path) if Path(path).is_file() else find_table(str(path))
    src = str(path)
    text = read_text_file(path, WHAT, limit=MAX_BYTES)  # a regular file of at most MAX_BYTES, UTF-8
    rows = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), restkey="(extra fields)")
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        header = reader.fieldnames
        for row in reader:
            if len(rows) == MAX_ROWS:
                raise ConfigError([Problem(src, "(rows)", f"at most {MAX_ROWS:,} rows (each a dated figure)",
                                           f"more than {MAX_ROWS:,}")])
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ConfigError([Problem(src, "(file)", "a CSV file", str(exc)[:120])]) from None
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise ConfigError([Problem(src, "(header)", "each column once (which of two would count?)",
                                   ", ".join(twice) + " twice")])
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError([Problem(src, "(header)", "the columns " + ", ".join(COLUMNS), f"no {', '.join(missing)}")])
    problems, out, seen = [], [], {}
    for line, row in rows:
        where = lambda col: f"line {line}: {col}"  # noqa: E731
        bad = False
        if row.get("(extra fields)"):
            problems.append(Problem(src, where("(fields)"), f"{len(header)} fields, as the header has",
                                    f"{len(header) + len(row['(extra fields)'])}"))
            bad = True
        key = (row["key"] or "").strip()
        if not key:
            problems.append(Problem(src, where("key"), "the figure's key (sources.csv)", "nothing"))
            bad = True
        elif key in seen:
            problems.append(Problem(src, where("key"), f"a key not already used (line {seen[key]}): a figure counts "
                                    "once", key))
            bad = True
        else:
            seen[key] = line
        if row["metric"] not in METRICS:
            problems.append(Problem(src, where("metric"), "one of " + ", ".join(METRICS), row["metric"]))
            bad = True
        for col in ("start", "end"):
            try:
                parse_month(row[col])
            except (ValueError, AttributeError):
                problems.append(Problem(src, where(col), 'a month "YYYY-MM"', row[col]))
                bad = True
        try:
            value = float(row["value"])
            if not math.isfinite(value):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(src, where("value"), "a finite number", row["value"]))
            bad = True
        uncertainty = 0.0
        if (row.get("uncertainty") or "").strip():
            try:
                uncertainty = float(row["uncertainty"])
                if not 0 <= uncertainty <= 5:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(Problem(src, where("uncertainty"), "the figure's own log-sd, 0 to 5 (e.g. 0.1 for "
                                        "about ±10%), or blank", row["uncertainty"]))
                bad = True
        if not bad and month_index(row["end"], row["start"]) < 0:
            problems.append(Problem(src, where("end"), f"a month at or after start ({row['start']})", row["end"]))
            bad = True
        if not bad:
            out.append({**{c: row[c] for c in COLUMNS}, "key": key, "value": value, "uncertainty": uncertainty,
                        "line": line})
    if problems:
        raise ConfigError(problems)
    if not out:
        raise ConfigError([Problem(src, "(rows)", "at least one outcome", "none")])
    return pd.DataFrame(out)


def check_rows(table: pd.DataFrame, src: str, *, agents: list[str], segments: list[str], start: str,
               months: int) -> None:
    """Every row names an agent (a segment for ``customers``) the model has, within its months."""
    problems = []
    for row in table.itertuples():
        known = segments if row.metric == "customers" else agents
        if row.agent not in known:
            what = "segment" if row.metric == "customers" else "agent"
            problems.append(Problem(src, f"line {row.line}: agent", f"a {what} of the model: " + ", ".join(known),
                                    row.agent))
        for col in ("start", "end"):
            step = month_index(getattr(row, col), start)
            if not 0 <= step < months:
                last = pd.Timestamp(f"{start}-01") + pd.DateOffset(months=months - 1)
                problems.append(Problem(src, f"line {row.line}: {col}", f"a month the runs cover, {start} to "
                                        f"{last:%Y-%m}", getattr(row, col)))
    if problems:
        raise ConfigError(problems)


def model_values(table: pd.DataFrame, model) -> np.ndarray:
    """(rows, scenarios) the model's value of each outcome row in each scenario of a finished
    ``WattyearModel``, read from its arrays (no tables are built: ABC calls this every generation)."""
    start = model.start
    stacked: dict[str, np.ndarray] = {}

    def months(column: str) -> np.ndarray:  # (months, S, agents), stacked once per column
        if column not in stacked:
            stacked[column] = np.stack([getattr(r.books, column) for r in model.history])
        return stacked[column]

    segments = [s.agent_id for s in model.segments]
    out = np.empty((len(table), model.n_scenarios))
    for i, row in enumerate(table.itertuples()):
        first, last = month_index(row.start, start), month_index(row.end, start)
        how, column = METRICS[row.metric]
        if how == "segment":
            out[i] = model.history[last].market.customers[:, segments.index(row.agent)]
            continue
        a = model.world.agent_ids.index(row.agent)
        if how == "ratio":
            profit, revenue = (months(c)[first:last + 1, :, a].sum(axis=0) for c in column)
            out[i] = np.divide(profit, revenue, out=np.full(profit.shape, np.nan), where=revenue != 0)
        elif how == "sum":
            out[i] = months(column)[first:last + 1, :, a].sum(axis=0)
        else:  # "end" or "run_rate": the value of the last month
            out[i] = months(column)[last, :, a] * (12.0 if how == "run_rate" else 1.0)
    return out
