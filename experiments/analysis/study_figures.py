"""The figures of a sweep's analysis: fan charts with what their bands carry, Kaplan–Meier crossing curves,
outside capital, and the Llama price-pressure figures (prices by quality, lost demand, the heatmap over
quality × cadence and response curves) drawn only for designs that support them
(``study_data.Design``). ``experiments.analysis.outcomes.analyze`` decides which to draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wattyear.experiments.analysis import survival  # noqa: E402
from wattyear.experiments import style  # noqa: E402
from wattyear.experiments.style import colour  # noqa: E402
from wattyear.sim.capital_market import SUSTAINED_MONTHS  # noqa: E402
from wattyear.experiments.analysis.study_data import (CADENCE, FRINGE, MAX_LEVELS, MIN_CELL_RUNS,  # noqa: E402
                                                      QUALITY, SweepData)

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

    >>> from wattyear.experiments.analysis.study_data import Design
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
