"""Reading a sweep: fan charts, crossing-date distributions, which inputs matter.

``wattyear analyze OUT`` reads a sweep's result folder and writes, beside it:

- ``crossings.parquet``: one row per run × lab, the month its self-funding
  ratio first reached 1 (empty when not within the horizon), with the run's
  varied parameters;
- ``fan_self_funding.png``: each lab's SFR over time across runs (median,
  25–75% and 5–95% bands) with the threshold;
- ``crossing_dates.png``: the distribution of crossing months per lab, and the
  share of runs that never cross;
- ``analysis.md``: crossing summary per lab, mean crossing month per value of
  each grid parameter, and the rank correlation (Spearman) of each varied
  parameter with each lab's crossing month (never crossing counts as one month
  past the horizon) and final revenue per token: which inputs move them most.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
from scipy import stats  # noqa: E402

from wattyear.sim.capital_market import crossing_step  # noqa: E402

NEEDED = ("run_id", "seed", "step", "date", "agent", "kind", "self_funding_ratio", "revenue_per_token")


def load_runs(folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """The labs' rows of every run (only the columns the analysis needs) and the varied parameters."""
    dataset = ds.dataset(folder / "runs", format="parquet")
    names = dataset.schema.names
    params = [n for n in names if "." in n]
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise ValueError(f"{folder}: results lack the columns {missing}; keep them in the study's [outputs]")
    table = dataset.to_table(columns=[*NEEDED, *params], filter=ds.field("kind") == "lab")
    return table.to_pandas(), params


def crossings_table(runs: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """One row per run × lab: the first kept month with SFR ≥ 1 (or NaN), and the run's parameters.

    >>> frame = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "agent": ["x"] * 6, "step": [0, 1, 2] * 2,
    ...                       "self_funding_ratio": [0.5, 1.2, 0.9, 0.1, 0.2, 0.3], "seed": 1})
    >>> crossings_table(frame, [])[["run_id", "crossing_step"]].to_dict("records")
    [{'run_id': 'a', 'crossing_step': 1.0}, {'run_id': 'b', 'crossing_step': nan}]
    """
    rows = []
    for (run_id, agent), g in runs.sort_values("step").groupby(["run_id", "agent"], sort=True):
        hit = crossing_step(g["self_funding_ratio"].to_numpy())
        first = g.iloc[0]
        rows.append({"run_id": run_id, "agent": agent, "seed": first["seed"],
                     "crossing_step": float(g["step"].iloc[hit]) if hit is not None else np.nan,
                     **{p: first[p] for p in params}})
    return pd.DataFrame(rows)


def plot_fan(runs: pd.DataFrame, path: Path) -> Path:
    labs = list(dict.fromkeys(runs["agent"]))
    fig, axes = plt.subplots(1, len(labs), figsize=(4.2 * len(labs), 4), sharey=True, squeeze=False)
    for ax, lab in zip(axes[0], labs):
        wide = runs[runs["agent"] == lab].pivot_table(index="date", columns="run_id", values="self_funding_ratio")
        q = wide.quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, label="5–95%")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, label="25–75%")
        ax.plot(q.index, q[0.5], lw=2, label="median")
        ax.axhline(1.0, color="black", ls="--", lw=1)
        ax.set(title=f"{lab}: self-funding ratio ({wide.shape[1]} runs)")
        ax.tick_params(axis="x", rotation=30)
    axes[0, 0].set_ylabel("SFR")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_crossings(crossings: pd.DataFrame, horizon: int, path: Path) -> Path:
    labs = list(dict.fromkeys(crossings["agent"]))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bins = np.arange(0, horizon + 13, 6)
    for lab in labs:
        steps = crossings.loc[crossings["agent"] == lab, "crossing_step"]
        never = steps.isna().mean()
        ax.hist(steps.dropna(), bins=bins, histtype="step", lw=2, label=f"{lab} (never: {never:.0%})")
    ax.set(title="Month each lab's self-funding ratio first reaches 1, across runs", xlabel="month from the start",
           ylabel="runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sensitivity(crossings: pd.DataFrame, finals: pd.DataFrame, params: list[str], horizon: int) -> pd.DataFrame:
    """Spearman rank correlation of each parameter with each lab's crossing month and final RPT."""
    rows = []
    for lab, g in crossings.groupby("agent", sort=False):
        month = g["crossing_step"].fillna(horizon + 1)
        final = finals[finals["agent"] == lab].set_index("run_id")["revenue_per_token"].reindex(g["run_id"])
        for p in params:
            x = g[p].astype(float)
            if x.nunique() < 2:
                continue
            rho_c = stats.spearmanr(x, month).statistic if month.nunique() > 1 else np.nan
            rho_r = stats.spearmanr(x, final.to_numpy()).statistic if final.nunique() > 1 else np.nan
            rows.append({"agent": lab, "parameter": p, "rho_crossing_month": rho_c, "rho_final_rpt": rho_r})
    return pd.DataFrame(rows)


def analyze(folder: str | Path) -> list[Path]:
    """Write the crossing table, plots and Markdown summary into ``folder``."""
    folder = Path(folder)
    runs, params = load_runs(folder)
    horizon = int(runs["step"].max())
    crossings = crossings_table(runs, params)
    finals = runs[runs["step"] == horizon]
    written = [folder / "crossings.parquet"]
    crossings.to_parquet(written[0], index=False)
    written.append(plot_fan(runs, folder / "fan_self_funding.png"))
    written.append(plot_crossings(crossings, horizon, folder / "crossing_dates.png"))
    sens = sensitivity(crossings, finals, params, horizon)
    lines = [f"# Sweep analysis: {folder.name}", "",
             f"{runs['run_id'].nunique()} runs, months 0–{horizon}; varied: "
             f"{', '.join(f'`{p}`' for p in params) or 'nothing (replicates only)'}.", "",
             "## Crossing the self-funding threshold", "",
             "| lab | runs crossing | median month | 10th–90th percentile (of runs crossing) |",
             "|---|---|---|---|"]
    for lab, g in crossings.groupby("agent", sort=False):
        s = g["crossing_step"]
        if s.notna().any():
            pct = s.quantile([0.1, 0.5, 0.9])  # of the runs that cross
            lines.append(f"| {lab} | {s.notna().mean():.0%} | {pct[0.5]:.0f} | {pct[0.1]:.0f}–{pct[0.9]:.0f} |")
        else:
            lines.append(f"| {lab} | 0% | never | never |")
    for p in params:
        if crossings[p].nunique() <= 12:
            table = crossings.groupby([p, "agent"])["crossing_step"].agg(lambda s: s.fillna(horizon + 1).mean())
            wide = table.unstack("agent")
            lines += ["", f"## Mean crossing month by `{p}` (never = {horizon + 1})", "",
                      "| value | " + " | ".join(wide.columns) + " |", "|---" * (len(wide.columns) + 1) + "|"]
            lines += [f"| {v:g} | " + " | ".join(f"{x:.1f}" for x in row) + " |" for v, row in wide.iterrows()]
    if not sens.empty:
        lines += ["", "## Which inputs move the results (Spearman rank correlation across runs)", "",
                  "| lab | parameter | with crossing month | with final revenue per token |", "|---|---|---|---|"]
        ranked = sens.assign(strength=sens["rho_crossing_month"].abs().fillna(0))
        for _, r in ranked.sort_values(["agent", "strength"], ascending=[True, False]).iterrows():
            lines.append(f"| {r['agent']} | `{r['parameter']}` | {r['rho_crossing_month']:+.2f} | "
                         f"{r['rho_final_rpt']:+.2f} |")
    written.append(folder / "analysis.md")
    written[-1].write_text("\n".join(lines) + "\n")
    (folder / "analysis.json").write_text(json.dumps({"runs": int(runs["run_id"].nunique()), "horizon": horizon,
                                                      "parameters": params}, indent=2) + "\n")
    return written
