"""Scenario comparison: the labs' per-watt economics in two or more runs, side by side.

    wattyear compare out/baseline out/baseline+open_weights.quality_fraction=0.9
    wattyear compare baseline colossus_lease "baseline+open_weights.quality_fraction=0.9"

Each input is a run folder (``wattyear run``), a config file or packaged
config name, or a config name followed by overrides in the form a run's
folder is named (``NAME+PATH=VALUE+PATH=VALUE``); configs are run first. The
first input is the reference: every other run's values are shown with their
difference from it. Values are read in one month common to all runs (by
default the last month they share), except the self-funding crossing, which
is read over each whole run (the month from which the ratio stays ≥ 1 for 12
months with no outside raise).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.folders import writes
from wattyear.experiments import style
from wattyear.experiments.run import RunResult, identity, load_run, run, run_name
from wattyear.experiments.analysis.summary import crossings
from wattyear.sim.config import ConfigError, Problem, find_config, load_config, parse_value, relabel
from wattyear.sim.units import parse_month

#: (metric column, heading, unit, scale to the unit) of the compared per-watt economics, read in one month
COMPARED = (
    ("revenue_usd_per_mtok", "revenue per token", "$/Mtok", 1.0),
    ("revenue_usd_per_watt_year", "revenue per watt-year", "$/W-yr", 1.0),
    ("cost_usd_per_watt_year", "cost per watt-year", "$/W-yr", 1.0),
    ("operating_margin", "operating margin (of revenue)", "fraction", 1.0),
    ("rate_limited_share", "rate-limited share (of tokens asked)", "fraction", 1.0),
    ("outside_capital_usd", "outside capital raised to date", "$", 1.0),
)
#: the month from which a lab's self-funding ratio stays ≥ 1 (12 months, no raise), in months from the reference's start
CROSSING = ("self_funding_crossing", "self-funding crossing", "months from the reference's start")
#: an override inside a run spec: ``+PATH=VALUE`` (a ``+`` inside a value, as in ``1e+9``, stays)
_OVERRIDE = re.compile(r"\+(?=[A-Za-z_][\w-]*(?:\.[\w-]+)+=)")


def parse_spec(spec: str) -> tuple[str, dict]:
    """``NAME+PATH=VALUE+…`` → (config name, overrides): a run's name read back, where it can be.

    Values are read as on the command line (numbers, booleans, plain words);
    a value that held characters a folder name cannot (spaces, slashes,
    quotes, ``+``) does not read back, and a shortened name (``…~hash``)
    raises ConfigError: compare such runs by their folders.

    >>> parse_spec("baseline+open_weights.quality_fraction=0.9+labs.xai.watts=1e+9")
    ('baseline', {'open_weights.quality_fraction': 0.9, 'labs.xai.watts': 1000000000.0})
    """
    head, *items = _OVERRIDE.split(spec)
    overrides = {}
    for item in items:
        path, value = item.split("=", 1)
        overrides[path] = parse_value(value)
    if "~" in spec:  # run_name shortened it: the overrides it stood for are gone
        raise ConfigError([Problem(spec, "(run)", "a run name that was not shortened (compare the run's "
                                   "folder instead)", "a shortened name")])
    return head, overrides


def check_month(at: str | None) -> None:
    """``--at`` must be a month ``YYYY-MM``; checked before anything runs."""
    if at is None:
        return
    try:
        parse_month(at)
    except (ValueError, TypeError, AttributeError):
        raise ConfigError([Problem("--at", "month", 'a month "YYYY-MM" such as 2030-12', at)]) from None


def resolve_input(spec: str | Path | RunResult) -> RunResult:
    """A run to compare: a RunResult as it is; a run folder read back; a config (file, packaged name,
    or ``NAME+PATH=VALUE…``) run now."""
    if isinstance(spec, RunResult):
        return spec
    path = Path(spec)
    if path.is_dir():
        return load_run(path)
    if path.is_file():
        config_path, overrides = path, {}
    else:
        name, overrides = parse_spec(str(spec))
        try:
            config_path = find_config(name)
        except ConfigError:
            raise ConfigError([Problem(str(spec), "(run)", "a run folder, a config file, a packaged config, "
                                       "or NAME+PATH=VALUE… (as run folders are named)", "none of these")]) from None
    try:
        config = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        raise relabel(exc, str(spec)) from None
    config_name, shown = identity(config_path, overrides)
    return run(config, config_name=config_name, overrides=shown)


@dataclass
class Comparison:
    """Per-lab differences between runs. ``table``: one row per lab × metric × run, with the value,
    the reference run's value and the difference (run − reference)."""

    runs: list[RunResult]
    labels: list[str]  #: each run's label (``#2``… added where two runs have the same one)
    month: str  #: the month (YYYY-MM) the per-watt values are read in
    table: pd.DataFrame

    def wide(self, metric: str) -> pd.DataFrame:
        """One metric: a row per lab, a column per run, and one ``Δ <run>`` column per other run."""
        sub = self.table[self.table["metric"] == metric]
        labels = self.labels
        out = sub.pivot(index="lab", columns="run", values="value")[labels]
        for label in labels[1:]:
            out[f"Δ {label}"] = sub[sub["run"] == label].set_index("lab")["difference"]
        return out.loc[list(dict.fromkeys(sub["lab"]))]

    def markdown(self) -> str:
        """The comparison as Markdown: the runs (the first is the reference), then a table per metric whose
        columns are the runs, by name, and each other run's difference from the reference; every cell written
        as every table writes its unit (``experiments.style.value``)."""
        names = [_header(label) for label in self.labels]
        lines = [f"# Comparison in {self.month}", ""]
        lines += [f"- **{name}**{' (reference)' if i == 0 else ''}" for i, name in enumerate(names)]
        lines += ["", f"Values in {self.month} (the last month all runs share, unless chosen with `--at`); "
                  f"Δ *run* is that run − {names[0]} (shares and margins in percentage points). The self-funding "
                  "crossing is the month from which a lab's trailing-12-month free cash flow covers what its next "
                  "cluster costs a year, for 12 months with no outside raise, over the whole run; its Δ is in months. "
                  "*not within the horizon*: the lab had not crossed when its run ended (censored: the month is later "
                  "than the run shows), and a Δ with such a run is *censored* (not known); *n/a*: not defined in that "
                  "month (a failed lab's ratios, a margin without revenue); –: the lab is not in that run.", ""]
        starts = {str(r.metrics["date"].min())[:7] for r in self.runs}
        if len(starts) > 1:
            lines += [f"The runs start in different months ({', '.join(sorted(starts))}): outside capital is "
                      "counted from each run's own start.", ""]
        for metric, heading, unit, _ in (*COMPARED, (*CROSSING, 1.0)):
            wide = self.wide(metric)
            shown = unit if metric != CROSSING[0] else "month; Δ in months"
            columns = names + [f"Δ {n}" for n in names[1:]]
            lines += [f"## {heading} ({shown})", "", "| lab | " + " | ".join(columns) + " |",
                      "|---" + "|--:" * len(columns) + "|"]
            present = self._present(metric)
            for lab, row in wide.iterrows():
                cells = [self._cell(metric, unit, col, v, lab, present) for col, v in row.items()]
                lines.append(f"| {lab} | " + " | ".join(cells) + " |")
            lines.append("")
        return "\n".join(lines)

    def _present(self, metric: str) -> dict[tuple[str, str], bool]:
        sub = self.table[self.table["metric"] == metric]
        flags = sub["in_run"] if "in_run" in sub else sub["value"].notna()
        return {(lab, run): bool(f) for lab, run, f in zip(sub["lab"], sub["run"], flags)}

    def _cell(self, metric: str, unit: str, column: str, value: float, lab: str,
              present: dict[tuple[str, str], bool]) -> str:
        """One table cell: the value or difference in its unit; – for a lab not in a run, "not within the
        horizon" for a crossing the run did not reach, "censored" for a difference with one, n/a for a value
        not defined in that month."""
        delta = column.startswith("Δ ")
        runs = [self.labels[0], column[2:]] if delta else [column]
        if not all(present.get((lab, r), False) for r in runs):
            return "–"
        if metric == CROSSING[0]:
            if value is None or np.isnan(value):
                return "censored" if delta else "not within the horizon"
            if delta:
                months = int(round(value))
                return f"{'+' if months > 0 else style.MINUS if months < 0 else ''}{abs(months)} months"
            return style.month_text(self.runs[0].config["run"]["start"], int(value))
        return style.value(value, unit, signed=delta, bare=True)


def _header(label: str) -> str:
    """A run's label as a Markdown table header: its bars escaped."""
    return str(label).replace("\\", "\\\\").replace("|", "\\|")


def _month_index(date) -> int:
    ts = pd.Timestamp(date)
    return ts.year * 12 + ts.month - 1


def compare(runs: list[RunResult], at: str | None = None) -> Comparison:
    """Compare runs (the first is the reference) in month ``at`` (``YYYY-MM``; default the last month
    all runs share)."""
    if len(runs) < 2:
        raise ConfigError([Problem("compare", "(runs)", "two or more runs", len(runs))])
    spans = [(r.metrics["date"].min(), r.metrics["date"].max()) for r in runs]
    first, last = max(s[0] for s in spans), min(s[1] for s in spans)
    if first > last:
        raise ConfigError([Problem("compare", "(months)", "runs that share at least one month",
                                   ", ".join(f"{r.label}: {str(a)[:7]} to {str(b)[:7]}"
                                             for r, (a, b) in zip(runs, spans)))])
    when = pd.Timestamp(last) if at is None else pd.Timestamp(f"{at}-01")
    if not first <= when <= last:
        raise ConfigError([Problem("compare --at", "month", f"a month all runs share, {str(first)[:7]} to "
                                   f"{str(last)[:7]}", at)])
    origin = _month_index(runs[0].metrics["date"].min())
    labels = []
    for r in runs:
        labels.append(r.label if r.label not in labels else f"{r.label} #{len(labels) + 1}")
    rows = []
    values: dict[tuple[str, str], dict[str, float]] = {}
    labs: list[str] = []
    present: dict[str, set[str]] = {}  #: the runs each lab is in
    for r, label in zip(runs, labels):
        m = r.metrics[r.metrics["kind"] == "lab"]
        labs += [a for a in dict.fromkeys(m["agent"]) if a not in labs]
        for agent in dict.fromkeys(m["agent"]):
            present.setdefault(agent, set()).add(label)
        month = m[m["date"] == when].set_index("agent")
        for metric, _, _, scale in COMPARED:
            for agent, v in month[metric].items():
                values.setdefault((metric, agent), {})[label] = float(v) * scale
        first_month = _month_index(m["date"].min())
        for agent, step in crossings(m).items():
            values.setdefault((CROSSING[0], agent), {})[label] = (
                np.nan if step is None else float(first_month - origin + step))
    units = {c[0]: c[2] for c in COMPARED} | {CROSSING[0]: CROSSING[2]}
    ref = labels[0]
    for metric in [c[0] for c in COMPARED] + [CROSSING[0]]:
        for lab in labs:
            by_run = values.get((metric, lab), {})
            reference = by_run.get(ref, np.nan)
            for label in labels:
                value = by_run.get(label, np.nan)
                rows.append({"lab": lab, "metric": metric, "unit": units[metric], "run": label, "value": value,
                             "reference": reference, "difference": value - reference,
                             "in_run": label in present.get(lab, ())})
    return Comparison(runs, labels, str(when)[:7], pd.DataFrame(rows))


def plot_comparison(comparison: Comparison, folder: Path) -> list[Path]:
    """One PNG per compared metric: a panel per lab, a line per run (the reference solid black, the others in
    the lab's colour, dashed); margins in percent clipped to −100%…+60% (months beyond marked on the edge),
    shares in percent, money in $B, the self-funding ratio on a symmetric-log axis, dates on every panel."""
    from matplotlib.lines import Line2D

    from wattyear.experiments.analysis.plots import plt, save

    runs = comparison.runs
    labs = list(dict.fromkeys(comparison.table["lab"]))
    title = " vs ".join(comparison.labels)
    dashes = ("--", ":", "-.")
    written = []
    for metric, heading, unit, scale in (*COMPARED, ("self_funding_ratio", "self-funding ratio", "ratio", 1.0)):
        cols = min(len(labs), 4)
        rows = -(-len(labs) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), sharex=True, squeeze=False)
        for k, (ax, lab) in enumerate(zip(axes.flat, labs)):
            for i, r in enumerate(runs):
                g = r.metrics[r.metrics["agent"] == lab]
                kw = ({"color": "black", "lw": 1.8} if i == 0 else
                      {"color": style.colour(lab), "lw": 1.3, "ls": dashes[(i - 1) % 3]})
                y = g[metric].to_numpy(dtype=float) * scale
                if metric == "operating_margin":
                    style.plot_clipped(ax, g["date"].to_numpy(), y, **kw)
                else:
                    ax.plot(g["date"], y, **kw)
            ax.set(title=lab, ylabel=(_axis_unit(unit) if k % cols == 0 else None))
            if metric == "self_funding_ratio":
                ax.axhline(1.0, color="grey", lw=0.8)
                style.symlog_axis(ax, linthresh=1.0)
            elif metric == "operating_margin":
                style.margin_axis(ax)
            elif unit.startswith("share"):
                style.percent_axis(ax)
            elif unit == "$":
                style.money_axis(ax)
                ax.set_ylim(bottom=0)
            elif unit.startswith("$/"):
                style.dollar_axis(ax)
        for ax in list(axes.flat)[len(labs):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color="black", lw=1.8)] + [
            Line2D([], [], color="#555555", lw=1.3, ls=dashes[(i - 1) % 3]) for i in range(1, len(runs))]
        fig.legend(handles, [f"{label}{' (reference)' if i == 0 else ''}" for i, label in enumerate(comparison.labels)],
                   loc="lower center", ncol=min(len(runs), 2), fontsize=8, frameon=False)
        legend_rows = -(-len(runs) // 2)
        bottom = min(0.4, 0.05 * legend_rows / rows + 0.04)
        written.append(save(fig, folder / f"compare_{metric}.png", f"{heading}: {title}", bottom=bottom))
    return written


def _axis_unit(unit: str) -> str:
    """An axis label for a unit whose ticks already carry the $ or % sign."""
    return {"$": "$ (to date)", "share of revenue": "% of revenue", "share of demand": "% of demand"}.get(unit, unit)


def default_folder(runs: list[RunResult]) -> Path:
    """``out/compare/<first>--vs--<second>…`` (shortened like run names)."""
    return Path("out") / "compare" / run_name("--vs--".join(r.name for r in runs))


@writes
def write_comparison(comparison: Comparison, folder: Path, *, plots: bool = True) -> list[Path]:
    """``comparison.md``, ``comparison.csv`` (tidy), ``runs.json`` (what was compared), the plots, and
    the tables of each run made for the comparison (from a config) under ``runs/<name>/``; into a new folder
    or a comparison folder, whose old plots and report go (``experiments.folders.claim``)."""
    from wattyear.experiments.folders import claim

    claim(folder, "comparison")
    folder.mkdir(parents=True, exist_ok=True)
    for result in comparison.runs:
        if result.model is not None:
            result.save(folder / "runs" / result.name, plots=False)
    md, csv, runs_json = folder / "comparison.md", folder / "comparison.csv", folder / "runs.json"
    md.write_text(comparison.markdown())
    comparison.table.to_csv(csv, index=False)
    runs_json.write_text(json.dumps([{"name": r.name, "label": label, "config": r.config_name,
                                      "overrides": r.overrides, "seed": r.seed}
                                     for r, label in zip(comparison.runs, comparison.labels)],
                                    indent=2, default=str) + "\n")
    written = [md, csv, runs_json]
    if plots:
        written += plot_comparison(comparison, folder)
    return written
