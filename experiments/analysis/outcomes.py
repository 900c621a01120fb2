"""Reading a sweep: trajectories to self-funding, crossing dates, Llama price pressure, effect sizes.

``wattyear analyze OUT`` reads a sweep's result folder and writes, beside it:

- ``crossings.parquet``: one row per run × lab: the month from which its
  self-funding ratio stayed ≥ 1 for 12 months with no outside raise, read from
  every month of the run (NaN: not within the horizon), with the run's varied parameters and outcomes;
- fan charts (median, 50% and 90% bands across runs) per lab of the
  self-funding ratio (symmetric-log axis with the threshold), revenue per
  token (log axis) and operating margin;
- ``crossing_cdf.png``: per lab, the share of runs that have crossed by each
  calendar month, with "not within the horizon" as its own mass;
- ``outside_capital.png``: outside capital each lab raised over the run, by
  source when the study keeps the funding table, else in total;
- when the study varies open-weights quality (the Llama price-pressure
  what-if): blended price and revenue per token over time by quality level,
  demand served by open weights by segment (with the market table), a
  heatmap of crossing month over quality × release cadence, and response
  curves of crossing month and revenue per token against quality;
- ``analysis.md`` and ``findings.csv``: the crossing summary and the effect
  of each varied parameter on each lab's outcomes (least squares on every
  varied parameter at once, 90% bootstrap intervals over runs).

Crossing months are censored: a lab that never crosses counts as crossing
one month after the horizon wherever a number is needed (medians, effects),
and the tables say how many runs that concerns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

from wattyear.experiments.studies.store import ResultStore  # noqa: E402
from wattyear.sim import outputs  # noqa: E402
from wattyear.sim.capital_market import SUSTAINED_MONTHS, crossing_step  # noqa: E402

#: revenue per token is shown in $/Mtok (``sim.outputs.display``)
RPT_SCALE = outputs.display("revenue_per_token")[1]

NEEDED = ("run_id", "seed", "step", "date", "agent", "kind", "self_funding_ratio")
#: metrics the figures and findings use when the study kept them
OPTIONAL = ("revenue_per_token", "blended_price_usd_per_mtok", "operating_margin", "outside_capital_usd",
            "revenue_per_watt_year", "crossing_step")
QUALITY = "open_weights.quality_fraction"
CADENCE = "open_weights.release_every_months"
#: the month outcomes such as revenue per token are read in (or the last kept month before it)
OUTCOME_MONTH = "2030-12"
FRINGE = "open_weights_fringe"
BOOTSTRAP = 1000
#: a parameter with more distinct values than this is binned into quantile groups in the Llama figures
MAX_LEVELS = 8


class AnalysisError(ValueError):
    """A sweep folder the analysis cannot read (the message says why); not a bug."""


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

    @property
    def labs(self) -> list[str]:
        return list(dict.fromkeys(self.runs["agent"]))

    def date_of(self, month: float) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=int(month))


def load(folder: str | Path) -> SweepData:
    """The labs' rows of every run (the columns the analysis uses) and the varied parameters."""
    folder = Path(folder)
    try:
        dataset = ds.dataset(folder / "runs", format="parquet")
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
    columns = [*NEEDED, *[c for c in OPTIONAL if c in names], *params]
    try:
        runs = dataset.to_table(columns=columns, filter=ds.field("kind") == "lab").to_pandas()
    except (pa.ArrowException, OSError) as exc:  # a file whose footer read but whose data does not
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise AnalysisError(f"{folder / 'runs'}: run files unreadable ({first}); run the sweep again to redo "
                            "damaged runs") from None
    if runs.empty:
        raise AnalysisError(f"{folder}: no lab rows; keep kinds = [\"lab\"] in the study's [outputs]")
    # numbers and switches (a switch's effect is on vs off); text parameters are not regressed on
    params = [p for p in params if pd.api.types.is_numeric_dtype(runs[p]) and runs[p].nunique() > 1]
    first = runs.iloc[0]  # the run's first month: a kept row's date less its step (the first month may not be kept)
    start = pd.Timestamp(first["date"]) - pd.DateOffset(months=int(first["step"]))
    data = SweepData(folder, runs, params, int(runs["step"].max()), start, "crossing_step" in runs)
    if not data.every_month:
        data.notes.append("Crossing months were read from the kept months only (results from before crossings "
                          "were read from every month): a crossing is the first kept month from which the "
                          "self-funding ratio stays ≥ 1 over the kept months that span a year, so it is rounded "
                          "up to a kept month and raises between kept months are not seen.")
    return data


def crossings_table(data: SweepData) -> pd.DataFrame:
    """One row per run × lab: the crossing month (NaN: never), the run's parameters and its outcomes
    (revenue per token and per watt-year in ``OUTCOME_MONTH``, final margin, outside capital)."""
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
        row = {"run_id": run_id, "agent": agent, "seed": first["seed"], "crossing_step": float(step),
               **{p: first[p] for p in data.params}}
        if "revenue_per_token" in g:
            row[f"rpt_{month_label}_usd_per_mtok"] = float(at["revenue_per_token"].iloc[0]) * RPT_SCALE if len(at) else np.nan
        if "revenue_per_watt_year" in g:
            row[f"rpwy_{month_label}_usd_per_w_year"] = float(at["revenue_per_watt_year"].iloc[0]) if len(at) else np.nan
        if "operating_margin" in g:
            row["final_operating_margin"] = float(last["operating_margin"])
        if "outside_capital_usd" in g:
            row["outside_capital_bn"] = float(last["outside_capital_usd"]) / 1e9
        rows.append(row)
    return pd.DataFrame(rows)


def outcome_step(data: SweepData) -> tuple[int, str]:
    """The kept month outcomes are read in: ``OUTCOME_MONTH`` or the last kept month before it."""
    target = pd.Timestamp(f"{OUTCOME_MONTH}-01")
    kept = data.runs.drop_duplicates("step")[["step", "date"]].sort_values("step")
    before = kept[pd.to_datetime(kept["date"]) <= target]
    row = before.iloc[-1] if len(before) else kept.iloc[-1]
    return int(row["step"]), pd.Timestamp(row["date"]).strftime("%Y_%m")


def censored(crossings: pd.Series, horizon: int) -> pd.Series:
    """Crossing months with "never" counted as one month past the horizon.

    >>> censored(pd.Series([3.0, np.nan]), 119).tolist()
    [3.0, 120.0]
    """
    return crossings.fillna(horizon + 1)


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
    """Whether a varied parameter takes few enough values to be a grid axis."""
    return param in data.params and data.runs[param].nunique() <= MAX_LEVELS


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


def plot_fan(data: SweepData, column: str, path: Path, *, title: str, unit: str, scale: float = 1.0,
             yscale: str = "linear", threshold: float | None = None) -> Path:
    """Per lab: the median across runs and the 50% and 90% bands of ``column`` over time."""
    labs = data.labs
    fig, axes = plt.subplots(1, len(labs), figsize=(4.2 * len(labs), 3.8), sharey=True, squeeze=False)
    for ax, lab in zip(axes[0], labs):
        wide = data.runs[data.runs["agent"] == lab].pivot_table(index="date", columns="run_id", values=column)
        q = (wide * scale).quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color="C0", label="90% of runs")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color="C0", label="50% of runs")
        ax.plot(q.index, q[0.5], lw=2, color="C0", label="median")
        if threshold is not None:
            ax.axhline(threshold, color="black", ls="--", lw=1, label="self-funding threshold")
        if yscale == "symlog":
            ax.set_yscale("symlog", linthresh=1.0)
        elif yscale == "log":
            ax.set_yscale("log")
        ax.set(title=f"{lab} ({wide.shape[1]} runs)", ylabel=unit if ax is axes[0, 0] else None)
    _legend_below(fig, axes[0])
    return _save(fig, path, title)


def plot_crossing_cdf(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Per lab: share of runs that have crossed by each calendar month; the rest never cross."""
    fig, ax = plt.subplots(figsize=(10, 4.8))
    end = data.date_of(data.horizon)
    for i, lab in enumerate(data.labs):
        steps = crossings.loc[crossings["agent"] == lab, "crossing_step"]
        never = float(steps.isna().mean())
        crossed = np.sort(steps.dropna().to_numpy())
        color = f"C{i}"
        if crossed.size:
            dates = [data.start] + [data.date_of(m) for m in crossed] + [end]
            share = np.concatenate([[0.0], np.arange(1, crossed.size + 1) / len(steps), [1 - never]])
            ax.step(dates, share, where="post", color=color, lw=2, label=f"{lab}: never {never:.0%}")
        else:
            ax.plot([data.start, end], [0, 0], color=color, lw=2, label=f"{lab}: never {never:.0%}")
        ax.bar(end + pd.DateOffset(months=4 + 3 * i), never, width=80, bottom=1 - never, color=color, alpha=0.5)
    ax.axvline(end, color="grey", lw=0.8)
    ax.text(end + pd.DateOffset(months=2), 1.02, "not within\nthe horizon", fontsize=8, va="bottom")
    ax.set(ylim=(0, 1.12), ylabel="share of runs that have crossed",
           title="When each lab first could fund its next cluster from operations (self-funding ratio ≥ 1)")
    ax.legend(fontsize=8, loc="upper left")
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
            ("revenue_per_token", "revenue per token, $/M tokens", RPT_SCALE)]
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


def plot_heatmap(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Per lab: the median crossing month over open-weights quality × release cadence (a grid over both),
    with the share of runs crossing. The median is the lower middle run's month (never = horizon + 1),
    so a cell always shows a month some run crossed in, or "never"; an empty cell shows –."""
    labs = data.labs
    fig, axes = plt.subplots(1, len(labs), figsize=(4.2 * len(labs), 3.9), squeeze=False)
    c = crossings.assign(month=censored(crossings["crossing_step"], data.horizon))
    vmin, vmax = 0, data.horizon + 1
    lower_median = lambda v: v.quantile(0.5, interpolation="lower")  # noqa: E731
    for ax, lab in zip(axes[0], labs):
        mine = c[c["agent"] == lab]
        grid = mine.pivot_table(index=CADENCE, columns=QUALITY, values="month", aggfunc=lower_median)
        share = mine.assign(crossed=mine["crossing_step"].notna()).pivot_table(
            index=CADENCE, columns=QUALITY, values="crossed", aggfunc="mean").reindex_like(grid)
        im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="magma_r", vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns])
        ax.set_yticks(range(len(grid.index)), [f"{v:g}" for v in grid.index])
        ax.set(title=lab, xlabel="open-weights quality (of frontier)",
               ylabel="release every … months" if ax is axes[0, 0] else None)
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            if np.isnan(v):
                text = "–"
            else:
                text = "never" if v > data.horizon else data.date_of(v).strftime("%Y-%m")
                text += f"\n{share.to_numpy()[i, j]:.0%} cross"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                    color="white" if not np.isnan(v) and v > vmax * 0.55 else "black")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=f"months from {data.start:%Y-%m} (never = {vmax})")
    fig.suptitle("Median month of self-funding over open-weights quality × release cadence", fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_response(crossings: pd.DataFrame, data: SweepData, path: Path) -> Path:
    """Against open-weights quality: each lab's crossing month and revenue per token in the outcome month
    (median across runs at each level, and the 90% band)."""
    rpt = next((c for c in crossings.columns if c.startswith("rpt_")), None)
    panels = [("crossing", "self-funding month (months from start; never = horizon + 1)")]
    if rpt:
        panels.append((rpt, f"revenue per token in {rpt[4:11].replace('_', '-')}, $/M tokens"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    c = crossings.assign(crossing=censored(crossings["crossing_step"], data.horizon))
    if c[QUALITY].nunique() > MAX_LEVELS:  # a sampled design: eight quantile bins, at their median quality
        c[QUALITY] = c.groupby(pd.qcut(c[QUALITY], 8, duplicates="drop"), observed=True)[QUALITY].transform("median")
    for ax, (column, label) in zip(axes[0], panels):
        for i, lab in enumerate(data.labs):
            q = c[c["agent"] == lab].groupby(QUALITY)[column].quantile([0.05, 0.5, 0.95]).unstack()
            ax.fill_between(q.index, q[0.05], q[0.95], color=f"C{i}", alpha=0.15)
            ax.plot(q.index, q[0.5], color=f"C{i}", marker="o", label=lab)
        if column == "crossing":
            ax.axhline(data.horizon + 1, color="grey", lw=0.8, ls=":")
        else:
            ax.set_yscale("log")
        ax.set(xlabel="open-weights quality (share of frontier)", ylabel=label)
    _legend_below(fig, axes[0])
    return _save(fig, path, "Response to open-weights quality: median and 90% of runs")


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
FINDINGS_COLUMNS = ["lab", "parameter", "step", "outcome", "unit", "effect", "low", "high", "runs", "censored"]
#: a self-funding month with more runs censored than this share gets no effect (it would read as a precise null)
MOST_CENSORED = 0.9


def findings(crossings: pd.DataFrame, data: SweepData, seed: int = 0) -> pd.DataFrame:
    """Effect of each varied parameter on each lab's outcomes: the least-squares coefficient on all varied
    parameters at once, per step (``effect_step``), with a 90% bootstrap interval over runs.

    Outcomes: the chance of self-funding within the horizon (a linear probability model, in
    percentage points), the self-funding month (censored at the horizon + 1; skipped when more than
    ``MOST_CENSORED`` of the runs never cross), and revenue per token and per watt-year in the outcome
    month (in percent, on the log, where positive in every run; else in their own units). A study with
    ``common_seeds`` resamples runs that share seeds as if independent, so its intervals are somewhat
    too narrow."""
    outcomes = [("crossed", "chance of self-funding within the horizon", "pp"),
                ("crossing", "self-funding month", "months")]
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
    for lab, g in crossings.groupby("agent", sort=False):
        never = int(g["crossing_step"].isna().sum())
        g = g.assign(crossing=censored(g["crossing_step"], data.horizon),
                     crossed=g["crossing_step"].notna().astype(float) * 100)
        X = np.column_stack([np.ones(len(g)), *[g[p].to_numpy(float) for p in params]])
        draws = rng.integers(0, len(g), size=(BOOTSTRAP, len(g)))
        for column, outcome, unit in outcomes:
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
    lines = [f"- {lab} crosses in every run or in none, so no effect on its chance of self-funding or on its "
             "month can be estimated." for lab in data.labs if lab not in with_chance]
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
              "of self-funding is a linear probability model, in percentage points (pp). Runs whose lab never "
              f"crosses count as crossing in month {horizon + 1} (one past the horizon), so effects on the "
              "self-funding month are understated where many runs never cross, and a lab with more than "
              f"{MOST_CENSORED:.0%} of its runs never crossing gets no effect on its month (read its chance "
              "instead). Percent effects are on the log of the outcome; an outcome that is zero in some run (a "
              "lab that sold nothing) gets an effect in its own unit instead."]
    return lines


# ----------------------------------------------------------------- the analysis

def analyze(folder: str | Path) -> list[Path]:
    """Write the crossing table, findings, figures and ``analysis.md`` into ``folder``."""
    data = load(folder)
    folder = data.folder
    crossings = crossings_table(data)
    written = [folder / "crossings.parquet"]
    crossings.to_parquet(written[0], index=False)
    figures: list[tuple[str, Path]] = []
    add = lambda caption, path: figures.append((caption, path))  # noqa: E731
    add("Self-funding ratio across runs (symmetric-log axis: linear within ±1, so the threshold is readable)",
        plot_fan(data, "self_funding_ratio", folder / "fan_self_funding.png", unit="SFR", yscale="symlog",
                 threshold=1.0, title="Trajectories to self-funding: trailing free cash flow of the token business "
                                      "/ what the next cluster costs a year"))
    if "revenue_per_token" in data.runs:
        add("Revenue per token across runs", plot_fan(data, "revenue_per_token", folder / "fan_revenue_per_token.png",
                                                       unit="$/M tokens", scale=RPT_SCALE, yscale="log",
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
    llama = QUALITY in data.params
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
            add("Crossing month over quality × cadence", plot_heatmap(crossings, data, folder / "llama_heatmap.png"))
        add("Response to open-weights quality", plot_response(crossings, data, folder / "llama_response.png"))
    effects = findings(crossings, data)
    effects.to_csv(folder / "findings.csv", index=False)
    written += [folder / "findings.csv", *(p for _, p in figures)]

    lines = [f"# Sweep analysis: {folder.name}", "",
             f"{data.runs['run_id'].nunique()} runs, {data.start:%Y-%m} to {data.date_of(data.horizon):%Y-%m}; "
             f"varied: {', '.join(f'`{p}`' for p in data.params) or 'nothing (replicates only)'}.", ""]
    lines += [f"> {note}" for note in data.notes] + ([""] if data.notes else [])
    lines += ["## Crossing the self-funding threshold", "",
              "| lab | runs crossing | median (of all runs; never = after the horizon) | 5th–95th percentile |",
              "|---|---|---|---|"]
    for lab, g in crossings.groupby("agent", sort=False):
        s = censored(g["crossing_step"], data.horizon)
        label = lambda m: "never" if m > data.horizon else data.date_of(m).strftime("%Y-%m")  # noqa: E731
        q = s.quantile([0.05, 0.5, 0.95], interpolation="lower")
        lines.append(f"| {lab} | {g['crossing_step'].notna().mean():.0%} | {label(q[0.5])} | "
                     f"{label(q[0.05])} to {label(q[0.95])} |")
    lines += ["", "## Findings: what moves each lab's outcomes", "", *findings_lines(effects, data), ""]
    lines += ["## Figures", ""] + [f"![{caption}]({path.name})\n" for caption, path in figures]
    written.append(folder / "analysis.md")
    written[-1].write_text("\n".join(lines) + "\n")
    from wattyear import __version__

    (folder / "analysis.json").write_text(json.dumps({"wattyear": __version__,
                                                      "runs": int(data.runs["run_id"].nunique()),
                                                      "horizon": data.horizon, "parameters": data.params,
                                                      "figures": [[c, p.name] for c, p in figures],
                                                      "notes": data.notes}, indent=2) + "\n")
    return written
