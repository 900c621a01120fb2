"""Reading a sweep: trajectories to self-funding, crossing dates, Llama price pressure, effect sizes.

``wattyear analyze OUT`` reads a sweep's result folder and writes, beside it:

- ``crossings.parquet``: one row per run × lab: the month from which its
  self-funding ratio stayed ≥ 1 for 12 months with no outside raise, read from
  every month of the run (NaN: not within the horizon), its date, whether it is
  censored (not crossed by the horizon) and whether the lab failed, with the
  run's varied parameters and outcomes;
- fan charts (median, 50% and 90% bands across runs) per lab of the
  self-funding ratio (symmetric-log axis with the threshold), revenue per
  token (log axis) and operating margin;
- ``crossing_cdf.png``: per lab, the Kaplan–Meier share of runs that have
  crossed by each date, with its 95% band and the median crossing date;
- ``outside_capital.png``: outside capital each lab raised over the run, by
  source when the study keeps the funding table, else in total;
- when the study grids open-weights quality (the Llama price-pressure
  what-if): blended price and revenue per token over time by quality level,
  demand served by open weights by segment (with the market table), response
  curves of the median crossing date and revenue per token against quality,
  and, when release cadence is on the grid too, a heatmap of the median
  crossing date over quality × cadence with the runs behind each cell. A
  space-filling sample (lhs, sobol, a design file, a posterior) that varies
  quality gets the first two, its quality binned; a Morris or Sobol' (saltelli)
  design gets none of them (its analysis is its indices: ``wattyear sensitivity``);
- ``analysis.md`` and ``findings.csv``: the crossing summary and the effect
  of each varied parameter on each lab's outcomes (least squares on every
  varied parameter at once, 90% bootstrap intervals over runs).

Crossing months are right-censored survival times (``experiments.analysis.survival``): a run whose lab
has not crossed by the horizon tells only that, so shares crossed and median crossing dates come from
Kaplan–Meier curves ("not reached" where fewer than half the runs cross), and a lab that fails counts as
a competing event (it never crosses), not as censored at its failure. Effect sizes on the timing of
crossing are on the months a lab goes without self-funding within the horizon (a restricted mean, which
every run observes in full), not on a made-up month for runs that never cross.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

from wattyear.experiments.analysis import survival  # noqa: E402
from wattyear.experiments.studies.store import ResultStore  # noqa: E402
from wattyear.experiments import style  # noqa: E402
from wattyear.experiments.style import colour  # noqa: E402
from wattyear.sim import outputs  # noqa: E402
from wattyear.sim.capital_market import SUSTAINED_MONTHS, crossing_step, first_touch_step  # noqa: E402

NEEDED = ("run_id", "seed", "step", "date", "agent", "kind", "self_funding_ratio")
#: metrics the figures and findings use when the study kept them
OPTIONAL = ("revenue_usd_per_mtok", "blended_price_usd_per_mtok", "operating_margin", "outside_capital_usd",
            "revenue_usd_per_watt_year", "crossing_step", "failed", "raised_usd")
QUALITY = "open_weights.quality_fraction"
CADENCE = "open_weights.release_every_months"
#: the month outcomes such as revenue per token are read in (or the last kept month before it)
OUTCOME_MONTH = "2030-12"
FRINGE = "open_weights_fringe"
BOOTSTRAP = 1000
#: a parameter with more distinct values than this is binned into quantile groups in the Llama figures
MAX_LEVELS = 8
#: a heatmap cell (or a response curve's point) backed by fewer runs shows no median: it is marked "too few"
MIN_CELL_RUNS = 3
#: sample methods that fill the parameter space (a binned quality line is a fair marginal); Morris and
#: saltelli designs are read through their indices instead
SPACE_FILLING = ("lhs", "sobol", "file", "posterior")


class AnalysisError(ValueError):
    """A sweep folder the analysis cannot read (the message says why); not a bug."""


@dataclass(frozen=True)
class Design:
    """What a study varies and how, read from the ``study.toml`` its folder keeps: the parameters of its
    ``[grid]`` with more than one value, and its ``[sample]`` method (None: a grid only)."""

    grid: tuple[str, ...] = ()
    method: str | None = None
    known: bool = True  #: False for a folder without a readable study.toml

    @classmethod
    def of(cls, folder: Path) -> "Design":
        """The design of the study in ``folder``.

        >>> Design.of(Path("nowhere")).known
        False
        """
        try:
            study = tomllib.loads((folder / "study.toml").read_text())
        except (OSError, tomllib.TOMLDecodeError):
            return cls(known=False)
        grid = tuple(k for k, v in study.get("grid", {}).items() if isinstance(v, list) and len(v) > 1)
        sample = study.get("sample")
        method = sample.get("method", "lhs") if isinstance(sample, dict) and sample else None
        return cls(grid, method)

    def grids(self, param: str) -> bool:
        """Whether ``param`` is an axis of the study's grid."""
        return param in self.grid

    def supports_levels(self, param: str) -> bool:
        """Whether lines by level of ``param`` read as its effect: a grid axis, or a parameter of a
        space-filling sample (binned); not a Morris or saltelli design's, whose points are placed for
        their indices."""
        return self.grids(param) or (self.method in SPACE_FILLING)


@dataclass
class SweepData:
    """A sweep's lab rows and what the analysis knows about it."""

    folder: Path
    runs: pd.DataFrame  #: the labs' kept rows
    params: list[str]  #: varied parameters (dotted paths), numeric ones only
    horizon: int  #: last month index of the runs
    start: pd.Timestamp
    every_month: bool  #: whether crossing months were read from every month (else from the kept months)
    notes: list[str] = field(default_factory=list)
    design: Design = field(default_factory=Design)

    @property
    def labs(self) -> list[str]:
        return list(dict.fromkeys(self.runs["agent"]))

    def date_of(self, month: float) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=int(month))

    def label_of(self, month: float | None) -> str:
        """A crossing month as its date, or "not reached" (None or NaN: not within the horizon)."""
        if month is None or not np.isfinite(month):
            return f"not by {self.date_of(self.horizon):%Y-%m}"
        return f"{self.date_of(month):%Y-%m}"


def load(folder: str | Path) -> SweepData:
    """The labs' rows of every run (the columns the analysis uses) and the varied parameters."""
    folder = Path(folder)
    try:
        dataset = ResultStore(folder).dataset()  # the runs' packed file (one file, not one a run)
    except (pa.ArrowException, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise AnalysisError(f"{folder / 'runs'}: run files unreadable ({first}); run the sweep again to redo "
                            "damaged runs") from None
    names = dataset.schema.names
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise AnalysisError(f"{folder}: results lack the columns {missing}; keep them in the study's [outputs]")
    if dataset.count_rows() == 0:  # footers only: kinds = [] keeps no agent's rows (or no run has finished)
        raise AnalysisError(f"{folder}: the runs hold no rows: the study keeps no agent's rows (kinds = [] in its "
                            "[outputs]) or no run has finished; keep kinds = [\"lab\"] to analyse it")
    params = [n for n in names if "." in n]
    old = [c for c in outputs.RENAMED if c in names and outputs.RENAMED[c][0] not in names]  # an older folder
    columns = [*NEEDED, *[c for c in OPTIONAL if c in names], *old, *params]
    try:
        runs = dataset.to_table(columns=columns, filter=ds.field("kind") == "lab").to_pandas()
    except (pa.ArrowException, OSError) as exc:  # a file whose footer read but whose data does not
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise AnalysisError(f"{folder / 'runs'}: run files unreadable ({first}); run the sweep again to redo "
                            "damaged runs") from None
    if runs.empty:
        raise AnalysisError(f"{folder}: no lab rows; keep kinds = [\"lab\"] in the study's [outputs]")
    runs = outputs.upgrade(runs)
    # numbers and switches (a switch's effect is on vs off); text parameters are not regressed on
    params = [p for p in params if pd.api.types.is_numeric_dtype(runs[p]) and runs[p].nunique() > 1]
    first = runs.iloc[0]  # the run's first month: a kept row's date less its step (the first month may not be kept)
    start = pd.Timestamp(first["date"]) - pd.DateOffset(months=int(first["step"]))
    data = SweepData(folder, runs, params, int(runs["step"].max()), start, "crossing_step" in runs,
                     design=Design.of(folder))
    if not data.every_month:
        data.notes.append("Crossing months were read from the kept months only (results from before crossings "
                          "were read from every month): a crossing is the first kept month from which the "
                          "self-funding ratio stays ≥ 1 over the kept months that span a year, so it is rounded "
                          "up to a kept month and raises between kept months are not seen.")
    return data


def crossings_table(data: SweepData) -> pd.DataFrame:
    """One row per run × lab: when the lab crossed and how its run ended, the run's parameters and its
    outcomes (revenue per token and per watt-year in ``OUTCOME_MONTH``, final margin, outside capital).

    ``crossing_step``: the month of the sustained crossing (0 = the first month; NaN: not within the
    horizon) and ``crossing_date`` its date (NaT); ``censored``: True where the lab had not crossed by
    the horizon (a survival time known only to exceed it); ``first_touch_step`` / ``first_touch_date``:
    the first kept month its self-funding ratio reached 1, sustained or not; ``failed``: whether the lab
    failed within the horizon, and ``failed_step`` the first kept month it was out (a failure before a
    crossing is a competing event: ``experiments.analysis.survival``)."""
    runs = data.runs.sort_values("step")
    month, month_label = outcome_step(data)
    rows = []
    for (run_id, agent), g in runs.groupby(["run_id", "agent"], sort=True):
        first = g.iloc[0]
        if data.every_month:
            step = first["crossing_step"]
        else:
            # the kept months stand for the months between them: a streak of SUSTAINED_MONTHS months spans
            # this many kept rows
            spacing = max(int(np.median(np.diff(g["step"].to_numpy()))) if len(g) > 1 else 1, 1)
            hit = crossing_step(g["self_funding_ratio"].to_numpy(),
                                g["raised_usd"].to_numpy() if "raised_usd" in g else None,
                                sustain=max(1, -(-SUSTAINED_MONTHS // spacing)))
            step = float(g["step"].iloc[hit]) if hit is not None else np.nan
        last = g.iloc[-1]
        at = g[g["step"] == month]
        touch = first_touch_step(g["self_funding_ratio"].to_numpy(float))
        touch = float(g["step"].iloc[touch]) if touch is not None else np.nan
        out = pd.to_numeric(g["failed"], errors="coerce").fillna(0).to_numpy() > 0 if "failed" in g else None
        failed_step = float(g["step"].to_numpy()[out][0]) if out is not None and out.any() else np.nan
        row = {"run_id": run_id, "agent": agent, "seed": first["seed"], "crossing_step": float(step),
               "crossing_date": _date(data, step), "censored": not np.isfinite(step),
               "first_touch_step": touch, "first_touch_date": _date(data, touch),
               "failed": bool(np.isfinite(failed_step)), "failed_step": failed_step,
               **{p: first[p] for p in data.params}}
        if "revenue_usd_per_mtok" in g:
            row[f"rpt_{month_label}_usd_per_mtok"] = float(at["revenue_usd_per_mtok"].iloc[0]) if len(at) else np.nan
        if "revenue_usd_per_watt_year" in g:
            row[f"rpwy_{month_label}_usd_per_w_year"] = float(at["revenue_usd_per_watt_year"].iloc[0]) if len(at) else np.nan
        if "operating_margin" in g:
            row["final_operating_margin"] = float(last["operating_margin"])
        if "outside_capital_usd" in g:
            row["outside_capital_bn"] = float(last["outside_capital_usd"]) / 1e9
        rows.append(row)
    return pd.DataFrame(rows)


#: the columns of a crossing table that say when and how (``crossings_table``, ``run_crossings``)
CROSSING_COLUMNS = ["crossing_step", "crossing_date", "censored", "first_touch_step", "first_touch_date", "failed",
                    "failed_step"]


def run_crossings(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per lab of one run's every-month ``metrics`` (``RunResult.crossings``): its sustained
    crossing (``capital_market.crossing_step``), first touch and failure, as ``crossings_table`` has them.

    >>> import wattyear
    >>> t = wattyear.run(months=3).crossings()          # no lab crosses within three months
    >>> list(t.columns[:4]), len(t), bool(t["censored"].all())
    (['agent', 'crossing_step', 'crossing_date', 'censored'], 4, True)
    """
    labs = metrics[metrics["kind"] == "lab"].sort_values("step")
    first = labs.iloc[0]
    start = pd.Timestamp(first["date"]) - pd.DateOffset(months=int(first["step"]))
    date = lambda m: start + pd.DateOffset(months=int(m)) if np.isfinite(m) else pd.NaT  # noqa: E731
    rows = []
    for agent, g in labs.groupby("agent", sort=False):
        hit = crossing_step(g["self_funding_ratio"].to_numpy(float),
                            g["raised_usd"].to_numpy(float) if "raised_usd" in g else None)
        step = float(g["step"].iloc[hit]) if hit is not None else np.nan
        touch = first_touch_step(g["self_funding_ratio"].to_numpy(float))
        touch = float(g["step"].iloc[touch]) if touch is not None else np.nan
        out = pd.to_numeric(g["failed"], errors="coerce").fillna(0).to_numpy() > 0 if "failed" in g else None
        failed_step = float(g["step"].to_numpy()[out][0]) if out is not None and out.any() else np.nan
        rows.append({"agent": agent, "crossing_step": step, "crossing_date": date(step),
                     "censored": not np.isfinite(step), "first_touch_step": touch, "first_touch_date": date(touch),
                     "failed": bool(np.isfinite(failed_step)), "failed_step": failed_step})
    return pd.DataFrame(rows, columns=["agent", *CROSSING_COLUMNS])


def _date(data: SweepData, month: float) -> pd.Timestamp:
    return data.date_of(month) if np.isfinite(month) else pd.NaT


def outcome_step(data: SweepData) -> tuple[int, str]:
    """The kept month outcomes are read in: ``OUTCOME_MONTH`` or the last kept month before it."""
    target = pd.Timestamp(f"{OUTCOME_MONTH}-01")
    kept = data.runs.drop_duplicates("step")[["step", "date"]].sort_values("step")
    before = kept[pd.to_datetime(kept["date"]) <= target]
    row = before.iloc[-1] if len(before) else kept.iloc[-1]
    return int(row["step"]), pd.Timestamp(row["date"]).strftime("%Y_%m")


def months_without(crossings: pd.Series, horizon: int) -> pd.Series:
    """The months a lab went without self-funding within the horizon: its crossing month, or every month
    of the run (``horizon + 1``) where it did not cross. Every run observes this number in full, so its
    mean over runs (the restricted mean time to crossing) and regressions on it need no made-up month for
    runs that never cross; it is not a crossing date and is never shown as one.

    >>> months_without(pd.Series([3.0, np.nan]), 119).tolist()
    [3.0, 120.0]
    """
    return crossings.fillna(horizon + 1).clip(upper=horizon + 1)


# ----------------------------------------------------------------- figures

def levels_of(values: pd.Series) -> tuple[pd.Series, list]:
    """Groups of a parameter's values for lines and curves: the values themselves when there are at most
    ``MAX_LEVELS`` (a grid), else four quantile bins labelled by their range (a sampled design).

    >>> levels_of(pd.Series([0.5, 0.9, 0.5]))[1]
    [0.5, 0.9]
    """
    if values.nunique() <= MAX_LEVELS:
        return values, sorted(values.unique().tolist())
    bins = pd.qcut(values, 4, duplicates="drop")
    labels = {b: f"{b.left:.3g}–{b.right:.3g}" for b in bins.cat.categories}
    grouped = bins.map(labels).astype(str)
    return grouped, [labels[b] for b in bins.cat.categories]


def _level_label(level) -> str:
    return level if isinstance(level, str) else f"{level:g}"


def is_grid(data: SweepData, param: str) -> bool:
    """Whether a varied parameter is an axis of the study's ``[grid]`` (not merely a sampled parameter
    that happens to take few values, as a Morris design's levels do)."""
    return param in data.params and data.design.grids(param)


def _plain_log(ax) -> None:
    """A log y axis whose ticks read as numbers (0.2, 0.3), not powers of ten."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)


def _legend_below(fig, axes, ncol: int = 4) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)


def _save(fig, path: Path, title: str, legend: bool = True) -> Path:
    fig.suptitle(title, fontsize=11)
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0.07 if legend else 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def band_contents(data: SweepData) -> str:
    """What a fan chart's bands carry, for its caption: the spread over the study's runs, made of their
    seeds and of what the design varies; never the model's structural error.

    >>> runs = pd.DataFrame({"run_id": ["p00000-r000", "p00000-r001", "p00001-r000", "p00001-r001"]})
    >>> band_contents(SweepData(Path("."), runs, ["world.pue"], 12, pd.Timestamp("2026-01-01"), True,
    ...                         design=Design(("world.pue",), None)))
    'Bands: the spread over 4 runs: seed noise (2 replicates a point) and the varied parameter world.pue (a grid of 2 points). No model-discrepancy term: bands of seeds and parameters alone cover too little of what later happens (docs/validation.md).'
    """
    ids = data.runs["run_id"].drop_duplicates().astype(str)
    points = ids.str.split("-r").str[0].nunique()
    replicates = ids.str.split("-r").str[-1].nunique()
    parts = [f"seed noise ({replicates} replicates a point)" if replicates > 1 else "one seed a point"]
    varied = ", ".join(data.params)
    if data.design.method == "posterior":
        parts.append(f"parameter uncertainty ({points} posterior draws of {varied or 'the fitted parameters'})")
    elif data.params:
        how = f"a grid of {points} points" if data.design.method is None else f"{points} {data.design.method} points"
        parts.append(f"the varied parameter{'s' if len(data.params) > 1 else ''} {varied} ({how})")
    return (f"Bands: the spread over {len(ids):,} runs: {' and '.join(parts)}. No model-discrepancy term: bands of "
            "seeds and parameters alone cover too little of what later happens (docs/validation.md).")


def plot_fan(data: SweepData, column: str, path: Path, *, title: str, unit: str, scale: float = 1.0,
             yscale: str = "linear", threshold: float | None = None) -> Path:
    """Per lab: the median across runs and the 50% and 90% bands of ``column`` over time, with what the
    bands carry (``band_contents``) under the legend."""
    labs = data.labs
    fig, axes = plt.subplots(1, len(labs), figsize=(4.2 * len(labs), 3.8), sharey=True, squeeze=False)
    for ax, lab in zip(axes[0], labs):
        wide = data.runs[data.runs["agent"] == lab].pivot_table(index="date", columns="run_id", values=column)
        q = (wide * scale).quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
        ink = colour(lab)
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color=ink, lw=0, label="90% of runs")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color=ink, lw=0, label="50% of runs")
        ax.plot(q.index, q[0.5], lw=2, color=ink, label="median")
        if threshold is not None:
            ax.axhline(threshold, color="black", ls="--", lw=1, label="self-funding threshold")
        if yscale == "symlog":
            style.symlog_axis(ax)  # (ticks 1, 0.5, 0, −1, −10, as every figure's)
        elif yscale == "log":
            ax.set_yscale("log")
            if "$" in unit:
                style.dollar_axis(ax)
        ax.set(title=f"{lab} ({wide.shape[1]} runs)", ylabel=unit if ax is axes[0, 0] else None)
    _legend_below(fig, axes[0])
    fig.text(0.5, 0.005, band_contents(data), ha="center", va="bottom", fontsize=7, color="0.35", wrap=True)
    return _save(fig, path, title)


def crossing_summaries(crossings: pd.DataFrame, data: SweepData) -> dict[str, survival.CrossingSummary]:
    """Each lab's ``survival.CrossingSummary`` over all runs (censored at the horizon; a failure before a
    crossing is a competing event)."""
    return {lab: survival.summarise(g["crossing_step"], data.horizon, g["failed"] if "failed" in g else None)
            for lab, g in crossings.groupby("agent", sort=False)}


def plot_crossing_cdf(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Per lab: the Kaplan–Meier share of runs that have crossed by each date, its 95% pointwise band
    (Greenwood, log-log), and the median crossing date where at least half the runs cross."""
    fig, ax = plt.subplots(figsize=(10, 5))
    end = data.date_of(data.horizon)
    for lab, g in crossings.groupby("agent", sort=False):
        ink = colour(lab)
        curve = survival.step_curve(survival.survival_table(g["crossing_step"], data.horizon), data.horizon)
        dates = pd.DatetimeIndex([data.date_of(m) for m in curve["month"]]).to_numpy()
        s = survival.summarise(g["crossing_step"], data.horizon, g["failed"] if "failed" in g else None)
        ax.fill_between(dates, curve["low"], curve["high"], step="post", color=ink, alpha=0.15, lw=0)
        median = f"median {data.label_of(s.median)}" if s.median is not None else "median not reached"
        failed = f", {s.failed} failed" if s.failed else ""
        ax.step(dates, curve["share_crossed"], where="post", color=ink, lw=2,
                label=f"{lab}: {s.share_crossed:.0%} of {s.runs} runs by {end:%Y-%m}{failed}; {median}")
        if s.median is not None:
            ax.plot([data.date_of(s.median)], [0.5], "o", color=ink, ms=5)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(ylim=(0, 1.02), xlim=(data.start, end), ylabel="share of runs that have crossed",
           title="When each lab can fund its next cluster from operations (self-funding ratio ≥ 1 for "
                 f"{SUSTAINED_MONTHS} months, no raise)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8, loc="upper left")
    ax.text(0.99, 0.02, "Kaplan–Meier, 95% band; runs not crossed by the horizon are censored there,\n"
            "a failed lab counts as not crossed (a competing event)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=7, color="grey")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_outside_capital(data: SweepData, funding: pd.DataFrame | None, path: Path) -> Path:
    """Outside capital each lab raised over the run: the mean across runs by source (stacked), or, without
    the funding table, the median and 90% band of the total."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labs = data.labs
    n_runs = data.runs["run_id"].nunique()
    if funding is not None and len(funding):
        by = funding.groupby(["lab", "source"])["amount_usd"].sum().unstack("source").reindex(labs).fillna(0.0)
        (by / n_runs / 1e9).plot.bar(stacked=True, ax=ax, rot=0)
        ax.set(ylabel="$B (mean across runs)", title=f"Outside capital raised over the run, by source ({n_runs} runs)")
        ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        last = data.runs[data.runs["step"] == data.horizon].groupby("agent")["outside_capital_usd"]
        q = last.quantile([0.05, 0.5, 0.95]).unstack().reindex(labs) / 1e9
        ax.bar(labs, q[0.5], yerr=[q[0.5] - q[0.05], q[0.95] - q[0.5]], capsize=4, color="C0")
        ax.set(ylabel="$B (median, bars: 90% of runs)",
               title=f"Outside capital raised over the run ({n_runs} runs; keep the funding table for sources)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_by_quality(data: SweepData, path: Path) -> Path:
    """Llama pressure over time: per lab, the median blended price and revenue per token across runs at
    each open-weights quality level."""
    groups, levels = levels_of(data.runs[QUALITY])
    labs = data.labs
    rows = [("blended_price_usd_per_mtok", "blended price, $/M tokens", 1.0),
            ("revenue_usd_per_mtok", "revenue per token, $/M tokens", 1.0)]
    rows = [r for r in rows if r[0] in data.runs]
    fig, axes = plt.subplots(len(rows), len(labs), figsize=(4.2 * len(labs), 3.4 * len(rows)), sharex=True,
                             squeeze=False)
    cmap = plt.get_cmap("viridis")
    for r, (column, unit, scale) in enumerate(rows):
        for c, lab in enumerate(labs):
            ax = axes[r, c]
            mine = data.runs["agent"] == lab
            for i, q in enumerate(levels):
                med = data.runs[mine & (groups == q)].groupby("date")[column].median() * scale
                ax.plot(med.index, med, color=cmap(i / max(len(levels) - 1, 1)), label=f"quality {_level_label(q)}")
            ax.set_yscale("log")
            ax.set(title=lab if r == 0 else None, ylabel=unit if c == 0 else None)
    _legend_below(fig, axes[0], ncol=len(levels))
    return _save(fig, path, "Llama price pressure: the closed labs' prices by open-weights quality (median of runs)")


def plot_lost_demand(market: pd.DataFrame, path: Path) -> Path:
    """Share of each priced segment's served tokens that open weights (the fringe) served, over time, by
    open-weights quality (median across runs)."""
    segs = [s for s in dict.fromkeys(market["segment"]) if market.loc[market["segment"] == s, "spend_usd"].sum() > 0]
    segs = segs or list(dict.fromkeys(market["segment"]))
    served = market[market["provider"] != "unserved"]
    total = served.groupby(["run_id", "segment", "date"])["served_tokens"].transform("sum")
    share = served.assign(share=np.where(total > 0, served["served_tokens"] / total.where(total > 0, 1), 0.0))
    fringe = share[share["provider"] == FRINGE]
    groups, levels = levels_of(fringe[QUALITY])
    fig, axes = plt.subplots(1, len(segs), figsize=(4.2 * len(segs), 3.8), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, seg in zip(axes[0], segs):
        in_seg = fringe["segment"] == seg
        for i, q in enumerate(levels):
            med = fringe[in_seg & (groups == q)].groupby("date")["share"].median()
            ax.plot(med.index, med * 100, color=cmap(i / max(len(levels) - 1, 1)), label=f"quality {_level_label(q)}")
        ax.set(title=seg, ylabel="% of tokens served" if ax is axes[0, 0] else None)
    _legend_below(fig, axes[0], ncol=len(levels))
    return _save(fig, path, "Demand taken by open weights: the fringe's share of each segment's tokens (median of runs)")


def cell_summaries(crossings: pd.DataFrame, data: SweepData, by: list[str]) -> pd.DataFrame:
    """One row per lab and combination of the ``by`` parameters: the runs behind it, how many crossed,
    the Kaplan–Meier median crossing month (NaN: not reached) with its 95% interval, and ``too_few``
    where fewer than ``MIN_CELL_RUNS`` runs back it (its median is not shown)."""
    rows = []
    for key, g in crossings.groupby(["agent", *by], sort=True):
        s = survival.summarise(g["crossing_step"], data.horizon, g["failed"] if "failed" in g else None)
        nan = lambda m: np.nan if m is None else m  # noqa: E731
        rows.append({**dict(zip(["agent", *by], key)), "runs": s.runs, "crossed": s.crossed,
                     "median": nan(s.median), "low": nan(s.median_low), "high": nan(s.median_high),
                     "too_few": s.runs < MIN_CELL_RUNS})
    return pd.DataFrame(rows)


def _year_ticks(data: SweepData) -> tuple[list[int], list[str]]:
    """Months of each January within the horizon, labelled by year (a colour bar or axis in dates)."""
    months = [m for m in range(data.horizon + 1) if data.date_of(m).month == 1]
    return months, [f"{data.date_of(m):%Y}" for m in months]


def plot_heatmap(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Per lab: the Kaplan–Meier median crossing date over open-weights quality × release cadence (both
    grid axes), each cell with the runs crossing out of the runs behind it. A cell where fewer than half
    the runs cross says "not reached" (grey); a cell backed by fewer than ``MIN_CELL_RUNS`` runs is
    hatched and shows no median."""
    labs = data.labs
    cells = cell_summaries(crossings, data, [CADENCE, QUALITY])
    qualities, cadences = sorted(crossings[QUALITY].unique()), sorted(crossings[CADENCE].unique())
    fig, axes = plt.subplots(1, len(labs), figsize=(4.2 * len(labs), 4.1), squeeze=False)
    cmap = plt.get_cmap("magma_r").with_extremes(bad="#d9d9d9")
    for ax, lab in zip(axes[0], labs):
        mine = cells[cells["agent"] == lab].set_index([CADENCE, QUALITY])
        full = pd.MultiIndex.from_product([cadences, qualities], names=[CADENCE, QUALITY])
        mine = mine.reindex(full)
        shown = mine["median"].where(~mine["too_few"].fillna(True).astype(bool))
        grid = shown.to_numpy(float).reshape(len(cadences), len(qualities))
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap, vmin=0,
                       vmax=data.horizon)
        ax.set_xticks(range(len(qualities)), [f"{v:g}" for v in qualities])
        ax.set_yticks(range(len(cadences)), [f"{v:g}" for v in cadences])
        ax.set(title=lab, xlabel="open-weights quality (of frontier)",
               ylabel="release every … months" if ax is axes[0, 0] else None)
        for (i, j), v in np.ndenumerate(grid):
            cell = mine.iloc[i * len(qualities) + j]
            if np.isnan(cell["runs"]):
                text = "no runs"
            elif cell["too_few"]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", color="grey", lw=0))
                text = f"{int(cell['runs'])} run{'s' if cell['runs'] != 1 else ''}:\ntoo few"
            else:
                when = "not reached" if np.isnan(v) else data.label_of(v)
                text = f"{when}\n{int(cell['crossed'])}/{int(cell['runs'])} cross"
            dark = np.isfinite(v) and v > data.horizon * 0.55
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    ticks, labels = _year_ticks(data)
    bar = fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, ticks=ticks)
    bar.ax.set_yticklabels(labels)
    bar.set_label("median crossing date (grey: not reached)")
    fig.suptitle("Median date of self-funding over open-weights quality × release cadence (Kaplan–Meier; "
                 f"runs crossing / runs in each cell; hatched: fewer than {MIN_CELL_RUNS} runs)", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_response(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Against open-weights quality (a grid axis): each lab's median crossing date (Kaplan–Meier, with its
    95% interval; "not reached" drawn as an open marker at the horizon) and revenue per token in the
    outcome month (median across runs at each level, and the 90% band)."""
    rpt = next((c for c in crossings.columns if c.startswith("rpt_")), None)
    panels = ["crossing"] + ([rpt] if rpt else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.4), squeeze=False)
    cells = cell_summaries(crossings, data, [QUALITY])
    offsets = np.linspace(-0.006, 0.006, max(len(data.labs), 1))
    for ax, column in zip(axes[0], panels):
        for k, lab in enumerate(data.labs):
            ink = colour(lab)
            if column == "crossing":
                c = cells[(cells["agent"] == lab) & ~cells["too_few"]].set_index(QUALITY)
                x = c.index.to_numpy(float) + offsets[k]  # labs side by side at each level
                med, low = c["median"].to_numpy(float), c["low"].to_numpy(float)
                high = c["high"].fillna(data.horizon).to_numpy(float)
                reached = np.isfinite(med)
                y = np.where(reached, med, data.horizon)
                ax.plot(x, np.where(reached, med, np.nan), color=ink, lw=1.2, label=lab)
                ax.errorbar(x[reached], med[reached], yerr=[med[reached] - np.nan_to_num(low[reached]),
                                                           high[reached] - med[reached]],
                            fmt="o", color=ink, ms=4, capsize=2, lw=1)
                ax.plot(x[~reached], y[~reached], "o", mfc="white", color=ink, ms=5)
            else:
                q = crossings[crossings["agent"] == lab].groupby(QUALITY)[column].quantile([0.05, 0.5, 0.95]).unstack()
                ax.fill_between(q.index, q[0.05], q[0.95], color=ink, alpha=0.15, lw=0)
                ax.plot(q.index, q[0.5], color=ink, marker="o", label=lab)
        if column == "crossing":
            ticks, labels = _year_ticks(data)
            ax.set_yticks(ticks, labels)
            ax.set_ylim(-1, data.horizon + 2)
            ax.axhline(data.horizon, color="grey", lw=0.8, ls=":")
            ax.set(ylabel="median crossing date (95% interval)",
                   title=f"open marker: fewer than half the runs cross by {data.date_of(data.horizon):%Y-%m}")
            ax.title.set_fontsize(8)
        else:
            _plain_log(ax)
            ax.set(ylabel=f"revenue per token in {column[4:11].replace('_', '-')}, $/M tokens")
        ax.set(xlabel="open-weights quality (share of frontier)")
    _legend_below(fig, axes[0])
    return _save(fig, path, "Response to open-weights quality (levels of the study's grid)")


# ----------------------------------------------------------------- effect sizes

def effect_step(param: str, values: pd.Series) -> tuple[float, str]:
    """The step an effect is reported per: on vs off for a switch, 10 points of a share, 3 months of a
    month count, else a tenth of the swept range (a whole number for an integer parameter).

    >>> effect_step("open_weights.quality_fraction", pd.Series([0.5, 0.95]))
    (0.1, '+10 points')
    """
    if pd.api.types.is_bool_dtype(values):
        return 1.0, "on (vs off)"
    if values.min() >= 0 and values.max() <= 1:
        return 0.1, "+10 points"
    if param.endswith("_months"):
        return 3.0, "+3 months"
    span = float(values.max() - values.min())
    step = float(f"{span / 10:.2g}")
    if pd.api.types.is_integer_dtype(values):
        step = float(max(1, round(step)))
    return step, f"+{step:g}"


#: columns of findings.csv
#: the outcome on the timing of crossing in findings.csv
RESTRICTED = "months to self-funding within the horizon"
FINDINGS_COLUMNS = ["lab", "parameter", "step", "outcome", "unit", "effect", "low", "high", "runs", "censored"]
#: the months to self-funding with more runs not crossing than this share get no effect (nearly every run
#: counts all its months, and the effect would read as a precise null)
MOST_CENSORED = 0.9


def findings(crossings: pd.DataFrame, data: SweepData, seed: int = 0) -> pd.DataFrame:
    """Effect of each varied parameter on each lab's outcomes: the least-squares coefficient on all varied
    parameters at once, per step (``effect_step``), with a 90% bootstrap interval over runs.

    Outcomes: the chance of self-funding within the horizon (a linear probability model, in
    percentage points), the months to self-funding restricted to the horizon (``months_without``: a run
    that does not cross counts all its months; its mean over runs is the restricted mean time to crossing,
    which every run observes in full, so ordinary least squares needs no censoring model; skipped when
    more than ``MOST_CENSORED`` of the runs do not cross), and revenue per token and per watt-year in the outcome
    month (in percent, on the log, where positive in every run; else in their own units). A study with
    ``common_seeds`` resamples runs that share seeds as if independent, so its intervals are somewhat
    too narrow."""
    outcomes = [("crossed", "chance of self-funding within the horizon", "pp"),
                ("crossing", RESTRICTED, "months")]
    for column in crossings.columns:
        if column.startswith("rpt_"):
            outcomes.append((column, f"revenue per token in {column[4:11].replace('_', '-')}", "$/M tokens"))
        elif column.startswith("rpwy_"):
            outcomes.append((column, f"revenue per watt-year in {column[5:12].replace('_', '-')}", "$/W-yr"))
    rng = np.random.default_rng(seed)
    rows = []
    params = data.params
    if not params:
        return pd.DataFrame(columns=FINDINGS_COLUMNS)
    steps = {p: effect_step(p, crossings[p]) for p in params}
    from tqdm.auto import tqdm

    # the longest step of an analysis (BOOTSTRAP least-squares fits per lab and outcome): a bar on a terminal
    bar = tqdm(total=crossings["agent"].nunique() * len(outcomes), unit="outcome", desc="effect sizes", leave=False,
               disable=None, dynamic_ncols=True)
    for lab, g in crossings.groupby("agent", sort=False):
        never = int(g["crossing_step"].isna().sum())
        g = g.assign(crossing=months_without(g["crossing_step"], data.horizon),
                     crossed=g["crossing_step"].notna().astype(float) * 100)
        X = np.column_stack([np.ones(len(g)), *[g[p].to_numpy(float) for p in params]])
        draws = rng.integers(0, len(g), size=(BOOTSTRAP, len(g)))
        for column, outcome, unit in outcomes:
            bar.update(1)
            if column == "crossing" and never > MOST_CENSORED * len(g):
                continue
            y = g[column].to_numpy(float)
            if unit not in ("months", "pp") and np.all(y > 0):
                y, unit = np.log(y), "%"
            ok = np.isfinite(y)
            if ok.sum() <= len(params) + 1 or np.ptp(y[ok]) == 0:  # too few runs, or an outcome that never moves
                continue
            beta = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
            boot = np.array([np.linalg.lstsq(X[d][ok[d]], y[d][ok[d]], rcond=None)[0] for d in draws])
            for k, p in enumerate(params, start=1):
                step, label = steps[p]
                est, lo, hi = beta[k] * step, *np.percentile(boot[:, k] * step, [5, 95])
                if unit == "%":
                    est, lo, hi = (np.expm1(v) * 100 for v in (est, lo, hi))
                rows.append({"lab": lab, "parameter": p, "step": label, "outcome": outcome, "unit": unit,
                             "effect": est, "low": lo, "high": hi, "runs": int(ok.sum()),
                             "censored": never if column in ("crossing", "crossed") else 0})
    bar.close()
    return pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def findings_lines(table: pd.DataFrame, data: SweepData) -> list[str]:
    """The findings table as Markdown, one row per lab, parameter and outcome."""
    horizon = data.horizon
    if not data.params:
        return ["No parameter varies across runs: no effect sizes (replicates only)."]
    if table.empty:
        runs = data.runs["run_id"].nunique()
        return [f"Too few runs ({runs}) to estimate the effects of {len(data.params)} varied parameter(s) at once: "
                "add replicates or design points."]
    with_chance = set(table.loc[table["outcome"].str.startswith("chance"), "lab"])
    with_months = set(table.loc[table["outcome"] == RESTRICTED, "lab"])
    lines = [f"- {lab} crosses in every run or in none, so no effect on its chance of self-funding can be "
             "estimated" + ("." if lab in with_months else " (nor on its months to self-funding).")
             for lab in data.labs if lab not in with_chance]
    if lines:
        lines.append("")
    lines += ["| lab | parameter | each step moves | by | 90% interval | runs (never crossing) |",
              "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        unit = {"months": " months", "%": "%", "pp": " pp"}.get(r["unit"], f" {r['unit']}")
        censor = f" ({r['censored']})" if r["unit"] in ("months", "pp") else ""
        lines.append(f"| {r['lab']} | `{r['parameter']}` {r['step']} | {r['outcome']} | {r['effect']:+.1f}{unit} | "
                     f"{r['low']:+.1f} to {r['high']:+.1f}{unit} | {r['runs']}{censor} |")
    lines += ["", f"Effects are least-squares coefficients on all varied parameters at once, per the step shown; "
              f"intervals are the 5th–95th percentiles of {BOOTSTRAP} bootstrap resamples of the runs. The chance "
              "of self-funding is a linear probability model, in percentage points (pp). The months to "
              "self-funding within the horizon count a run whose lab does not cross (or fails first) as all "
              f"{horizon + 1} months of the run: an effect on them is an effect on the restricted mean time to "
              "crossing, not on a crossing date, and a lab with more than "
              f"{MOST_CENSORED:.0%} of its runs not crossing gets none (read its chance instead). Percent effects are on the log of the outcome; an outcome that is zero in some run (a "
              "lab that sold nothing) gets an effect in its own unit instead."]
    return lines


# ----------------------------------------------------------------- the analysis

def crossing_lines(crossings: pd.DataFrame, data: SweepData) -> list[str]:
    """The crossing summary as Markdown: per lab, the share of runs crossed by the horizon and the dates by
    which a quarter, half (with its 95% interval) and three quarters of runs have crossed (Kaplan–Meier)."""
    end = data.date_of(data.horizon)
    lines = [f"| lab | runs crossing by {end:%Y-%m} | failed first | a quarter crossed by | median crossing "
             "(95% interval) | three quarters by |", "|---|---|---|---|---|---|"]
    for lab, g in crossings.groupby("agent", sort=False):
        s = survival.summarise(g["crossing_step"], data.horizon, g["failed"] if "failed" in g else None)
        table = survival.survival_table(g["crossing_step"], data.horizon)
        quarter, three = (survival.median_crossing(table, share=q) for q in (0.25, 0.75))
        interval = f" ({data.label_of(s.median_low)} to {data.label_of(s.median_high)})" \
            if s.median_low is not None else ""  # no interval when not even its early end is reached
        lines.append(f"| {lab} | {s.crossed} of {s.runs} ({s.share_crossed:.0%}) | {s.failed} | "
                     f"{data.label_of(quarter)} | {data.label_of(s.median)}{interval} | {data.label_of(three)} |")
    lines += ["", f"Crossing dates are read from Kaplan–Meier curves: a run whose lab has not crossed by {end:%Y-%m} "
              "is censored there (it tells only that the crossing is later, if ever), and a lab that fails "
              f"before crossing counts as not crossing (a competing event). \"not by {end:%Y-%m}\" means fewer "
              "than that share of runs cross within the horizon; an interval's end that says so is not "
              "reached either. The curves and their 95% bands are in `crossing_cdf.png`."]
    return lines


def _say(text: str) -> None:
    """What the analysis does next, on stderr (a study of thousands of runs takes a minute or more)."""
    import sys

    print(f"analysis: {text}", file=sys.stderr, flush=True)


def analyze(folder: str | Path) -> list[Path]:
    """Write the crossing table, findings, figures and ``analysis.md`` into ``folder``, saying on stderr
    what it does at each step."""
    _say(f"reading the labs' rows from {folder}…")
    data = load(folder)
    folder = data.folder
    _say(f"each run's crossing month and outcomes ({data.runs['run_id'].nunique():,} runs × {len(data.labs)} labs)…")
    crossings = crossings_table(data)
    _say("fan charts, crossing curves and the study's figures…")
    written = [folder / "crossings.parquet"]
    crossings.to_parquet(written[0], index=False)
    figures: list[tuple[str, Path]] = []
    add = lambda caption, path: figures.append((caption, path))  # noqa: E731
    add("Self-funding ratio across runs (symmetric-log axis: linear within ±1, so the threshold is readable)",
        plot_fan(data, "self_funding_ratio", folder / "fan_self_funding.png", unit="SFR", yscale="symlog",
                 threshold=1.0, title="Trajectories to self-funding: trailing free cash flow of the token business "
                                      "/ what the next cluster costs a year"))
    if "revenue_usd_per_mtok" in data.runs:
        add("Revenue per token across runs", plot_fan(data, "revenue_usd_per_mtok", folder / "fan_revenue_per_token.png",
                                                       unit="$/M tokens", yscale="log",
                                                       title="Revenue per token = blended price × utilisation"))
    if "operating_margin" in data.runs:
        add("Operating margin across runs", plot_fan(data, "operating_margin", folder / "fan_operating_margin.png",
                                                     unit="share of revenue", yscale="symlog",
                                                     title="Operating margin (symmetric-log axis)"))
    add("Crossing dates", plot_crossing_cdf(crossings, data, folder / "crossing_cdf.png"))
    finished = set(data.runs["run_id"])

    def read(table: str) -> pd.DataFrame:
        """A kept table's rows of the runs with metrics (a killed or failed run's other files are left out)."""
        rows = ResultStore(folder).load(table)
        return rows[rows["run_id"].isin(finished)] if len(rows) else rows

    funding = read("funding") if (folder / "funding").is_dir() else None
    if (funding is not None and len(funding)) or "outside_capital_usd" in data.runs:
        add("Outside capital", plot_outside_capital(data, funding, folder / "outside_capital.png"))
    llama = QUALITY in data.params and data.design.supports_levels(QUALITY)
    if QUALITY in data.params and not llama:
        why = (f"a {data.design.method} design places its points for its indices (wattyear sensitivity)"
               if data.design.known else "the folder keeps no study.toml to say how it was designed")
        data.notes.append(f"No figures by open-weights quality: {why}; quality-level lines, the heatmap and "
                          "the response curves need quality on the study's [grid] (lines also from an lhs, "
                          "sobol, file or posterior sample).")
    if llama:
        add("Prices by open-weights quality", plot_by_quality(data, folder / "llama_prices_by_quality.png"))
        if (folder / "market").is_dir():
            market = read("market")
            if QUALITY in market and len(market):
                add("Demand served by open weights", plot_lost_demand(market, folder / "llama_lost_demand.png"))
        else:
            data.notes.append("Demand lost to open weights by segment needs the market table: keep it with "
                              "tables = [\"market\"] in the study's [outputs].")
        if is_grid(data, QUALITY) and is_grid(data, CADENCE):
            add("Median crossing date over quality × cadence",
                plot_heatmap(crossings, data, folder / "llama_heatmap.png"))
        if is_grid(data, QUALITY):
            add("Response to open-weights quality", plot_response(crossings, data, folder / "llama_response.png"))
        else:
            data.notes.append("No quality heatmap or response curves: open-weights quality is sampled, not on "
                              "the study's [grid], so no level has runs of its own (the lines by quality bin it).")
    _say(f"effect sizes of {len(data.params)} parameter(s) on each lab's outcomes, with {BOOTSTRAP:,} bootstrap "
         "fits each…")
    effects = findings(crossings, data)
    effects.to_csv(folder / "findings.csv", index=False)
    written += [folder / "findings.csv", *(p for _, p in figures)]

    lines = [f"# Sweep analysis: {folder.name}", "",
             f"{data.runs['run_id'].nunique()} runs, {data.start:%Y-%m} to {data.date_of(data.horizon):%Y-%m}; "
             f"varied: {', '.join(f'`{p}`' for p in data.params) or 'nothing (replicates only)'}.", ""]
    lines += [f"> {note}" for note in data.notes] + ([""] if data.notes else [])
    lines += ["## Crossing the self-funding threshold", "", *crossing_lines(crossings, data)]
    lines += ["", "## Findings: what moves each lab's outcomes", "", *findings_lines(effects, data), ""]
    lines += ["## Figures", "", band_contents(data), ""]
    lines += [f"![{caption}]({path.name})\n" for caption, path in figures]
    written.append(folder / "analysis.md")
    written[-1].write_text("\n".join(lines) + "\n")
    from wattyear import __version__

    (folder / "analysis.json").write_text(json.dumps({"wattyear": __version__,
                                                      "runs": int(data.runs["run_id"].nunique()),
                                                      "horizon": data.horizon, "parameters": data.params,
                                                      "figures": [[c, p.name] for c, p in figures],
                                                      "notes": data.notes}, indent=2) + "\n")
    return written
