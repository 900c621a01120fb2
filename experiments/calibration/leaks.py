"""Leak guard of a backtest world: the figures its inputs cite that are dated after its information cut-off.

A backtest forecasts from what was known at a cut-off. Every number of a config cites the figures it rests on
(``# src: key`` or ``# fit: key`` in ``configs/*.toml``, keys of ``configs/sources.csv`` with their ``as_of``
date). ``late_citations`` lists the cited figures dated after the cut-off; each must be replaced by a figure
of its date or appear, with its reason, in the world's list of known leaks (``configs/backtest_leaks.csv``:
``key``, ``kind``, ``reason``). ``tests/test_validation.py`` holds the two to each other, both ways, and
``docs/validation.md`` prints the list.

Kinds of leak: ``scheduled`` (a deal or build announced after the cut-off, entered at its date: the forecast is
conditional on it), ``level`` (an engineering or price level dated later, with no figure of the cut-off's date
in the table: it moved little over the months between), ``annual`` (a full-year figure of the backtest's own
year, published after it), ``demand`` (a figure about demand itself: the worst kind, it tells the forecast
part of its answer).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from wattyear.sim.config import CONFIG_DIR

#: a dotted key of configs/sources.csv (lower-case words joined by underscores)
KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
MONTH = re.compile(r"(\d{4})(?:-(\d{2})(?!\d))?")
KINDS = ("scheduled", "level", "annual", "demand")
LEAKS = CONFIG_DIR / "backtest_leaks.csv"


def as_of_month(text: str) -> tuple[int, int]:
    """The latest month a figure's ``as_of`` can mean: '2025-10-06' → (2025, 10), '2025' → (2025, 12),
    'c.2024-2025' → (2025, 12), '2025-Q2' → (2025, 6); several dates: the first one (the figure's own date).

    >>> as_of_month("2025-10-06"), as_of_month("2025"), as_of_month("c.2024-2025"), as_of_month("2025-Q2")
    ((2025, 10), (2025, 12), (2025, 12), (2025, 6))
    """
    quarter = re.search(r"(\d{4})-Q([1-4])", text)
    if quarter:
        return int(quarter.group(1)), 3 * int(quarter.group(2))
    year, month = MONTH.search(text).groups()
    if month is None and re.search(r"\d{4}\s*-\s*(\d{4})", text):
        year = re.search(r"\d{4}\s*-\s*(\d{4})", text).group(1)
    return int(year), int(month or 12)


def cited_keys(line: str) -> list[str]:
    """The figure keys a config line cites after ``src:`` or ``fit:`` (before any ``assumption:`` and any
    parenthesised note).

    >>> cited_keys('x = 1.0  # src: openai_arr_2025_usd, chatgpt_wau_2026_02 (note: other_key_here)')
    ['openai_arr_2025_usd', 'chatgpt_wau_2026_02']
    """
    if "#" not in line:
        return []
    comment = line.split("#", 1)[1]
    keys: list[str] = []
    for tag in ("src:", "fit:"):
        if tag in comment:
            keys += KEY.findall(comment.split(tag, 1)[1].split("assumption:")[0].split("(")[0])
    return [k for k in keys if not k.startswith(("x_", "per_"))]


@dataclass(frozen=True)
class LateCitation:
    key: str
    as_of: str
    lines: tuple[int, ...]  #: the config's line numbers that cite it
    inputs: tuple[str, ...]  #: ``[section] name`` of each citing line


def late_citations(config: Path, cutoff: tuple[int, int], sources: Path = CONFIG_DIR / "sources.csv"
                   ) -> list[LateCitation]:
    """The figures ``config`` cites that are dated after ``cutoff`` (year, month), in order of first citation."""
    with sources.open(newline="") as fh:
        dated = {row["key"]: row["as_of"] for row in csv.DictReader(fh)}
    found: dict[str, list[tuple[int, str]]] = {}
    section = ""
    for lineno, line in enumerate(config.read_text().splitlines(), 1):
        if line.startswith("["):
            section = line.strip()
            continue
        for key in cited_keys(line):
            if key in dated and as_of_month(dated[key]) > cutoff:
                found.setdefault(key, []).append((lineno, f"{section} {line.split('=', 1)[0].strip()}"))
    return [LateCitation(key, dated[key], tuple(n for n, _ in uses), tuple(dict.fromkeys(i for _, i in uses)))
            for key, uses in found.items()]


def read_leaks(path: Path = LEAKS) -> dict[str, dict[str, str]]:
    """The known leaks: key → {kind, reason}."""
    with path.open(newline="") as fh:
        return {row["key"]: {"kind": row["kind"], "reason": row["reason"]} for row in csv.DictReader(fh)}


def leak_markdown(config: Path, cutoff: tuple[int, int], path: Path = LEAKS) -> str:
    """The known leaks of a backtest world as a Markdown table, by kind (worst first); text from the files
    escaped as the reports escape it."""
    from wattyear.experiments.analysis.report import md_text

    leaks = read_leaks(path)
    late = sorted(late_citations(config, cutoff), key=lambda c: (-KINDS.index(leaks.get(c.key, {"kind": "demand"})
                                                                                ["kind"]), c.key))
    counts = {kind: sum(leaks.get(c.key, {}).get("kind") == kind for c in late) for kind in KINDS}
    lines = [f"{len(late)} cited figures are dated after the {cutoff[0]}-{cutoff[1]:02d} cut-off "
             f"({', '.join(f'{n} {k}' for k, n in counts.items() if n)}; kinds in "
             f"`experiments/calibration/leaks.py`). Each is listed in `configs/backtest_leaks.csv` with its reason "
             "(a test keeps the list and the config in step):", "",
             "| figure | dated | kind | inputs citing it | reason |", "|---|---|---|---|---|"]
    for c in late:
        leak = leaks.get(c.key, {"kind": "unlisted", "reason": ""})
        inputs = "; ".join(c.inputs[:3]) + (f"; and {len(c.inputs) - 3} more" if len(c.inputs) > 3 else "")
        lines.append(f"| `{c.key}` | {md_text(c.as_of)} | {leak['kind']} | {md_text(inputs)} | {md_text(leak['reason'])} |")
    return "\n".join(lines) + "\n"
