"""The run summary: per-watt economics of every lab at the start and at the end."""

from __future__ import annotations

import pandas as pd

from wattyear.experiments import style
from wattyear.sim import outputs
from wattyear.sim.capital_market import SUSTAINED_MONTHS, crossing_step, first_touch_step

#: (column, heading) of the summary table
SUMMARY_HEADINGS = (
    ("mtok_per_watt_year", "TPWY Mtok/W-yr"),
    ("revenue_usd_per_mtok", "RPT $/Mtok"),
    ("revenue_usd_per_watt_year", "RPWY $/W-yr"),
    ("cost_usd_per_watt_year", "CPWY $/W-yr"),
    ("utilization", "util"),
    ("rate_limited_share", "rate-ltd"),
    ("operating_margin", "op. margin"),
)
#: (column, heading, unit): the unit is the column's own (``sim.outputs``), from which ``experiments.style.value``
#: writes each cell
SUMMARY_COLUMNS = tuple((c, heading, outputs.ALL_COLUMNS[c].unit) for c, heading in SUMMARY_HEADINGS)


def summary_frame(metrics: pd.DataFrame, kinds: tuple[str, ...] = ("lab",)) -> pd.DataFrame:
    """Wide table: one row per agent of ``kinds``, start and end value of each metric."""
    sub = metrics[metrics["kind"].isin(kinds)]
    first, last = sub["step"].min(), sub["step"].max()
    rows = []
    for agent, g in sub.groupby("agent", sort=False):
        start, end = g[g["step"] == first].iloc[0], g[g["step"] == last].iloc[0]
        row = {"agent": agent}
        for col, *_ in SUMMARY_COLUMNS:
            row[f"{col}_start"] = start[col]
            row[f"{col}_end"] = end[col]
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(metrics: pd.DataFrame, start_label: str, end_label: str) -> str:
    """The table printed after a run: each cell shows start → end, written as every table writes its unit
    (``experiments.style.value``: $0.703 → $0.097, 32% → 21%, −109% → 15%; n/a where a value is undefined)."""
    table = summary_frame(metrics)
    cells = [[f"{style.value(row[f'{col}_start'], unit, bare=True)} → "
              f"{style.value(row[f'{col}_end'], unit, bare=True)}" for col, _, unit in SUMMARY_COLUMNS]
             for _, row in table.iterrows()]
    widths = [max([len(heading)] + [len(r[i]) for r in cells]) + 3 for i, (_, heading, _) in enumerate(SUMMARY_COLUMNS)]
    name = max([3] + [len(a) for a in table["agent"]]) + 1 if len(table) else 12
    head = f"{'lab':<{name}}" + "".join(f"{h:>{w}}" for (_, h, _), w in zip(SUMMARY_COLUMNS, widths))
    lines = [f"Per-watt economics of the labs, {start_label} → {end_label}", head, "-" * len(head)]
    for agent, row in zip(table["agent"], cells):
        lines.append(f"{agent:<{name}}" + "".join(c.rjust(w) for c, w in zip(row, widths)))
    return "\n".join(lines)


def crossings(metrics: pd.DataFrame) -> dict[str, int | None]:
    """Each lab's sustained self-funding crossing (``capital_market.crossing_step``: SFR ≥ 1 for
    ``SUSTAINED_MONTHS`` months with no raise), or None."""
    labs = metrics[metrics["kind"] == "lab"]
    return {agent: crossing_step(g.sort_values("step")["self_funding_ratio"].to_numpy(),
                                 g.sort_values("step")["raised_usd"].to_numpy() if "raised_usd" in g else None)
            for agent, g in labs.groupby("agent", sort=False)}


def first_touches(metrics: pd.DataFrame) -> dict[str, int | None]:
    """The first month each lab's self-funding ratio reaches 1, sustained or not, or None."""
    labs = metrics[metrics["kind"] == "lab"]
    return {agent: first_touch_step(g.sort_values("step")["self_funding_ratio"].to_numpy())
            for agent, g in labs.groupby("agent", sort=False)}


def no_more_outside_capital(metrics: pd.DataFrame) -> dict[str, int | None]:
    """First step from which each lab raises no more outside capital (0 if it never raises),
    or None if it is still raising in the last month."""
    labs = metrics[metrics["kind"] == "lab"]
    out = {}
    for agent, g in labs.groupby("agent", sort=False):
        g = g.sort_values("step")
        raised = g["step"][g["raised_usd"] > 0]
        last_step = int(g["step"].max())
        out[agent] = 0 if raised.empty else (None if int(raised.max()) >= last_step else int(raised.max()) + 1)
    return out


def format_crossings(metrics: pd.DataFrame, date_of) -> str:
    """Lines: when each lab could first fund its next cluster from operations, and from when it
    raises no more outside capital."""
    label = lambda step: "not within the horizon" if step is None else f"{str(date_of(step))[:7]} (month {step})"  # noqa: E731
    lines = [f"Self-funding (trailing-12-month free cash flow of its token business ≥ what its next cluster costs a "
             f"year, for {SUSTAINED_MONTHS} months",
             "with no raise; first touch: the first month it reaches 1), and the month from which a lab raises no "
             "more outside capital:"]
    independent = no_more_outside_capital(metrics)
    touches = first_touches(metrics)
    for agent, step in crossings(metrics).items():
        rows = metrics[metrics["agent"] == agent]
        raised = rows["outside_capital_usd"].max()
        failed_at = rows.loc[rows["failed"].astype(bool), "step"] if "failed" in rows else rows["step"].iloc[:0]
        tail = f"  FAILED in {label(int(failed_at.min()))}" if len(failed_at) else ""
        lines.append(f"  {agent:<12} {label(step):<26} first touch: {label(touches[agent]):<26} "
                     f"no more outside capital from: {label(independent[agent]):<26} raised: {style.money(raised)}{tail}")
    return "\n".join(lines)
