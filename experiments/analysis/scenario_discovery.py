"""Scenario discovery with the EMA Workbench: under which inputs does Anthropic self-fund before 2030?

    python -m wattyear.experiments.analysis.scenario_discovery [--scenarios 300] [--replicates 1] [--months 120]
                                                      [--out out/scenario_discovery] [--seed 1] [--processes 1]

1. ``perform_experiments`` over a Latin hypercube of the cited ranges in
   ``configs/bounds.toml`` (``wattyear.experiments.analysis.ema.model``; the sample and
   the replicate seeds both come from ``--seed``, so a rerun gives the same
   numbers);
2. the case of interest: Anthropic's self-funding ratio first reaches 1 before
   2030-01, i.e. its crossing month (months from 2026-01) is below 48 and
   within the horizon. If that splits the runs too unevenly for PRIM (fewer
   than ``MIN_SHARE`` of them on one side) the threshold moves to the year
   whose split is closest to even, and the report says so and why;
3. PRIM (``ema_workbench.analysis.prim``) on ``for_prim(experiments)`` with that
   binary outcome: the peeling trajectory, the box with the best balance of
   coverage and density (the highest harmonic mean of the two), and that box
   without the restrictions that could be chance (quasi-p above 0.05).

Writes to ``--out``: ``scenario_discovery.md`` (the report), ``experiments.csv``
(every sampled input and outcome), ``peeling_trajectory.csv``,
``prim_tradeoff.png`` (coverage against density along the trajectory),
``prim_ppt.png`` (coverage, density, mass and restricted dimensions step by
step), ``prim_box.png`` (the chosen box's limits within the ranges) and
``crossing_months.png`` (the distribution of Anthropic's crossing months).
A 120-month run takes roughly 0.8 s per scenario on one core; ``--processes 2``
runs experiments in parallel (the same results).
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: the smallest share of runs on either side of the case for the split to count as usable
MIN_SHARE = 0.10
LAB = "anthropic"
YEAR = 2030


@dataclass
class Split:
    """The binary outcome: which runs are cases (the lab self-funds before ``year``)."""

    lab: str
    year: int  #: the case: first SFR >= 1 before January of this year
    threshold: int  #: months from the start to January of ``year``
    y: np.ndarray  #: True for a case
    shares_by_year: dict[int, float]  #: share of cases for every candidate year
    note: str = ""  #: why the year differs from the one asked for, or a caveat

    @property
    def share(self) -> float:
        return float(self.y.mean()) if self.y.size else float("nan")


@dataclass
class Discovery:
    split: Split
    prim_box: object | None = None  #: the PrimBox (None when PRIM could not run)
    peeled: int | None = None  #: index on the peeling trajectory of the box chosen (best coverage/density balance)
    peeled_stats: dict = field(default_factory=dict)  #: that box's coverage, density, mass, res_dim, n, k
    chosen: int | None = None  #: index of the final box: ``peeled`` without its chance restrictions
    dropped: list[str] = field(default_factory=list)  #: restrictions dropped (quasi-p above ``alpha``)
    stats: dict = field(default_factory=dict)  #: the final box's coverage, density, mass, res_dim, n, k
    limits: pd.DataFrame | None = None  #: the final box's restricted dimensions: low, high, range, quasi-p values
    note: str = ""


def months_until(start: str, year: int) -> int:
    """Months from ``start`` (YYYY-MM) to January of ``year``.

    >>> months_until("2026-01", 2030)
    48
    """
    y, m = (int(p) for p in start.split("-"))
    return (year - y) * 12 + (1 - m)


def split_cases(crossing: np.ndarray, *, start: str, months: int, lab: str = LAB, year: int = YEAR,
                min_share: float = MIN_SHARE) -> Split:
    """Cases: crossing month below the threshold of ``year`` and within the horizon (values above
    ``months`` are the censored "never"). If fewer than ``min_share`` of the runs fall on one side,
    use the candidate year (within the horizon) whose split is closest to even, and say why.

    >>> s = split_cases(np.array([10.0, 30, 50, 120]), start="2026-01", months=120)
    >>> s.year, s.threshold, s.y.tolist()
    (2030, 48, [True, True, False, False])
    """
    crossing = np.asarray(crossing, dtype=float)
    first = int(start.split("-")[0])
    years = [yr for yr in range(first + 1, first + 31) if 0 < months_until(start, yr) <= months]
    is_case = lambda yr: (crossing < months_until(start, yr)) & (crossing < months)  # noqa: E731
    shares = {yr: float(is_case(yr).mean()) for yr in years}
    note = ""
    threshold = months_until(start, year)
    if threshold > months:
        note = (f"The horizon ({months} months from {start}) ends before {year}: a run that has not crossed by then "
                f"is not known to cross before {year}, so only crossings within the horizon count as cases. ")
    share = float(is_case(year).mean()) if crossing.size else float("nan")
    if crossing.size and min(share, 1 - share) < min_share and shares:
        best = min(shares, key=lambda yr: (abs(shares[yr] - 0.5), yr))
        if best != year and min(shares[best], 1 - shares[best]) > min(share, 1 - share):
            note += (f"With the threshold {year} the split is lopsided ({share:.0%} cases, {1 - share:.0%} not): "
                     f"PRIM needs both sides well populated to tell them apart, so the threshold moves to {best}, "
                     f"the year whose split is closest to even ({shares[best]:.0%} cases). ")
            year, threshold = best, months_until(start, best)
        else:
            note += (f"The split is lopsided ({share:.0%} cases) for every candidate year; PRIM's box rests on few "
                     f"cases (consider fewer uncertainties, or a different outcome). ")
    elif crossing.size and min(share, 1 - share) < 0.25:
        top = max(shares.values()) if shares else share
        note += (f"The split is uneven ({share:.0%} cases, {1 - share:.0%} not) but both sides are populated "
                 f"({int(is_case(year).sum())} cases of {crossing.size}, at least {min_share:.0%} on either side), so "
                 f"the threshold stays at {year}: PRIM looks for the region of a minority case, and no year within "
                 f"the horizon splits evenly ({lab} self-funds within the horizon in only {top:.0%} of the runs, "
                 f"the share of the last threshold year). ")
    return Split(lab=lab, year=year, threshold=threshold, y=is_case(year), shares_by_year=shares, note=note.strip())


def choose_box(trajectory: pd.DataFrame) -> int:
    """The box with the highest harmonic mean of coverage and density (ties: the earlier, less restricted).

    >>> choose_box(pd.DataFrame({"coverage": [1.0, 0.9, 0.5], "density": [0.2, 0.6, 0.9]}))
    1
    """
    c, d = trajectory["coverage"].to_numpy(float), trajectory["density"].to_numpy(float)
    f1 = np.where(c + d > 0, 2 * c * d / np.where(c + d > 0, c + d, 1), 0.0)
    return int(np.argmax(f1))


def _limits(box, i: int) -> pd.DataFrame:
    """Box i's restricted dimensions: its limits, the sampled range and the quasi-p values (NaN: not
    restricted on that side)."""
    _, lims = box.inspect(i, style="data")[0]
    full = box.box_lims[0]
    rows = []
    for dim in lims.index:
        low, high = box.box_lims[i][dim]
        qp = box.p_values[i].get(dim, [-1, -1])
        rows.append({"uncertainty": dim, "low": float(low), "high": float(high), "range_low": float(full[dim].iloc[0]),
                     "range_high": float(full[dim].iloc[1]),
                     "qp_low": float(qp[0]) if qp[0] != -1 else np.nan,
                     "qp_high": float(qp[1]) if qp[1] != -1 else np.nan})
    return pd.DataFrame(rows, columns=["uncertainty", "low", "high", "range_low", "range_high", "qp_low", "qp_high"])


def _stats(box, i: int) -> dict:
    row = box.peeling_trajectory.iloc[i]
    return {key: float(row[key]) for key in ("coverage", "density", "mass", "res_dim", "n", "k")}


def run_prim(x: pd.DataFrame, split: Split, *, peel_alpha: float = 0.05, mass_min: float = 0.05,
             alpha: float = 0.05) -> Discovery:
    """PRIM on ``x`` (``ema.for_prim(experiments)``) with the split's binary outcome.

    The box: the one on the peeling trajectory with the best harmonic mean of coverage and density;
    then its restrictions that could be chance (both quasi-p values above ``alpha``) are dropped one
    at a time, the least significant first, until every one left is significant (each drop adds a
    box to the trajectory). Returns both boxes' statistics and the final box's limits."""
    import matplotlib

    matplotlib.use("Agg")
    from ema_workbench.analysis import prim

    out = Discovery(split=split)
    k = int(split.y.sum())
    if k == 0 or k == split.y.size:
        out.note = "PRIM was not run: every run is on the same side of the case."
        return out
    with warnings.catch_warnings():  # EMA 3.0's Prim calls DataFrame.drop(inplace=True), deprecated in pandas 3.1
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        box = prim.Prim(x, split.y.copy(), peel_alpha=peel_alpha, mass_min=mass_min).find_box()
    i = choose_box(box.peeling_trajectory)
    box.select(i)
    out.prim_box, out.peeled, out.peeled_stats = box, i, _stats(box, i)
    while True:
        lims = _limits(box, box._cur_box)
        weakest = lims.assign(qp=lims[["qp_low", "qp_high"]].min(axis=1)).sort_values("qp", ascending=False)
        weakest = weakest[weakest["qp"] > alpha]
        if weakest.empty or len(lims) == 1:
            break
        dim = weakest["uncertainty"].iloc[0]
        box.drop_restriction(dim)
        out.dropped.append(dim)
    out.chosen = int(box._cur_box)
    out.stats, out.limits = _stats(box, out.chosen), _limits(box, out.chosen)
    return out


def _plots(found: Discovery, crossing: np.ndarray, months: int, out: Path, start: str = "2026-01") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wattyear.experiments import style

    style.apply_style()
    written = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    within = crossing[crossing < months]
    ax.hist(within, bins=np.arange(0, months + 6, 6), color=style.colour(found.split.lab))
    ax.axvline(found.split.threshold, color="k", ls="--", label=f"{found.split.year}-01 (threshold)")
    style.months_axis(ax, start)  # months from the start read as dates, as on every other figure
    ax.set_xlabel(f"{found.split.lab}: first month of self-funding ratio ≥ 1 (6-month bins)")
    ax.set_title(f"{len(crossing) - len(within)} of {len(crossing)} runs never cross within {months} months "
                 "(not shown)", fontsize=10)
    ax.set_ylabel("runs")
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "crossing_months.png", dpi=120)
    plt.close(fig)
    written.append("crossing_months.png")
    box = found.prim_box
    if box is None:
        return written
    fig = box.show_tradeoff(annotated=False)
    ax = fig.axes[0]
    for i, colour, label in ((found.peeled, "#ff7f0e", "peeled box"), (found.chosen, "#d62728", "chosen box")):
        row = box.peeling_trajectory.iloc[i]
        ax.scatter([row["coverage"]], [row["density"]], s=160, facecolors="none", edgecolors=colour,
                   label=f"{label} ({i})")
    ax.legend(loc="lower left")
    ax.set_title("PRIM peeling trajectory: coverage vs density")
    fig.savefig(out / "prim_tradeoff.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig = box.show_ppt()
    fig.set_size_inches(8, 4.5)
    fig.savefig(out / "prim_ppt.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    written += ["prim_tradeoff.png", "prim_ppt.png"]
    if found.limits is not None and len(found.limits):
        fig = box.inspect(found.chosen, style="graph")[0]
        fig = fig if hasattr(fig, "savefig") else plt.gcf()
        fig.savefig(out / "prim_box.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append("prim_box.png")
    return written


def report(found: Discovery, *, command: str, n: int, dims: int, replicates: int, months: int, start: str, seed: int,
           seconds: float, plots: list[str], outcomes: pd.DataFrame) -> str:
    """The Markdown report."""
    s = found.split
    k = int(s.y.sum())
    lines = [f"# Scenario discovery: when does {s.lab} self-fund before {s.year}?", "",
             f"Command: `{command}`  ", f"{n} Latin-hypercube scenarios of the {dims} uncertainties of "
             f"`configs/bounds.toml`, {replicates} replicate(s) each (median), {months} months from {start}, "
             f"seed {seed}; {seconds:.0f} s.", ""]
    lines += ["## The case", "",
              f"Case of interest: {s.lab}'s self-funding ratio first reaches 1 before {s.year}-01 (crossing month "
              f"< {s.threshold}, within the horizon).", "",
              "| | runs | share |", "|---|---:|---:|",
              f"| case (self-funds before {s.year}) | {k} | {k / n:.1%} |",
              f"| complement | {n - k} | {(n - k) / n:.1%} |", ""]
    if s.note:
        lines += [f"**Note:** {s.note}", ""]
    never = int((outcomes[f"{s.lab}_crossing_month"] >= months).sum())  # censored at the horizon
    lines += [f"Runs in which {s.lab} never self-funds within the horizon: {never} ({never / n:.1%}).", "",
              "Share of cases by threshold year (crossing before January of that year):", "",
              "| year | " + " | ".join(str(y) for y in s.shares_by_year) + " |",
              "|---|" + "---:|" * len(s.shares_by_year),
              "| share | " + " | ".join(f"{v:.0%}" for v in s.shares_by_year.values()) + " |", "",
              "Median crossing month per lab (months from the start; "
              f"{months} = never within the horizon):", "",
              "| lab | median | share crossing within the horizon |", "|---|---:|---:|"]
    for col in [c for c in outcomes.columns if c.endswith("_crossing_month")]:
        lab = col.removesuffix("_crossing_month")
        lines.append(f"| {lab} | {outcomes[col].median():.0f} | {(outcomes[col] < months).mean():.0%} |")
    lines += ["", "## PRIM", ""]
    if found.prim_box is None:
        lines += [found.note or "PRIM was not run.", ""]
    else:
        pt = found.prim_box.peeling_trajectory
        n_peel = len(pt) - len(found.dropped)
        ps, st = found.peeled_stats, found.stats
        lines += [f"PRIM peels {n_peel} boxes; box {found.peeled} has the best balance of coverage and density "
                  f"(harmonic mean): coverage {ps['coverage']:.2f}, density {ps['density']:.2f}, "
                  f"{int(ps['res_dim'])} restricted dimension(s)."]
        if found.dropped:
            lines += ["Dropping its restrictions that could be chance (quasi-p > 0.05: "
                      + ", ".join(f"`{d}`" for d in found.dropped) + f") gives box {found.chosen}:"]
        lines += ["", f"**Chosen box {found.chosen}**", "",
                  f"- coverage {st['coverage']:.2f} (share of all cases that fall in the box)",
                  f"- density {st['density']:.2f} (share of the box's runs that are cases; base rate {k / n:.2f})",
                  f"- mass {st['mass']:.2f} ({int(st['n'])} runs, {int(st['k'])} cases), "
                  f"{int(st['res_dim'])} restricted dimension(s)", "",
                  "| uncertainty | box low | box high | sampled range | quasi-p (low, high) |",
                  "|---|---:|---:|---|---|"]
        for r in found.limits.itertuples():
            qp = ", ".join("–" if np.isnan(v) else f"{v:.2g}" for v in (r.qp_low, r.qp_high))
            lines.append(f"| `{r.uncertainty}` | {r.low:.4g} | {r.high:.4g} | {r.range_low:.4g}–{r.range_high:.4g} "
                         f"| {qp} |")
        lines += ["", "A limit at the sampled range's end is no restriction on that side (quasi-p shown as –); a "
                  "quasi-p value is the chance that the restriction's gain in density is luck (a one-sided binomial "
                  "test, Bryant & Lempert 2010).", ""]
        lines += ["Peeling trajectory (every box: `peeling_trajectory.csv`):", "",
                  "| box | coverage | density | mass | restricted dims | |", "|---:|---:|---:|---:|---:|---|"]
        shown = sorted(set(range(0, n_peel, max(1, n_peel // 8))) | {found.peeled, n_peel - 1}
                       | set(range(n_peel, len(pt))))
        for i in shown:
            row = pt.iloc[i]
            mark = "; ".join(([f"dropped `{found.dropped[i - n_peel]}`"] if i >= n_peel else [])
                             + (["peeled box"] if i == found.peeled else []) + (["chosen"] if i == found.chosen else []))
            lines.append(f"| {i} | {row['coverage']:.2f} | {row['density']:.2f} | {row['mass']:.2f} | "
                         f"{int(row['res_dim'])} | {mark} |")
        lines.append("")
    if plots:
        lines += ["## Figures", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wattyear.experiments.analysis.scenario_discovery",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=300, help="Latin-hypercube scenarios (default 300)")
    parser.add_argument("--replicates", type=int, default=1, help="seeds per scenario, median outcome (default 1)")
    parser.add_argument("--months", type=int, default=120, help="horizon from 2026-01 (default 120)")
    parser.add_argument("--out", type=Path, default=Path("out/scenario_discovery"), help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample and of the replicates (default 1)")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes (default 1: EMA's SequentialEvaluator; the results do not depend on it)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import wattyear
    from wattyear.experiments.analysis import ema

    started = time.perf_counter()
    m = ema.model(months=args.months, replicates=args.replicates, seed=args.seed)
    workbench = ema._ema()
    if args.processes > 1:
        evaluator = workbench.MultiprocessingEvaluator(m, n_processes=args.processes)
    else:
        evaluator = workbench.SequentialEvaluator(m)
    with evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=args.scenarios,
                                                              uncertainty_sampling_kwargs={"rng": args.seed})
    outcomes = pd.DataFrame(outcomes)
    start = wattyear.load_config()["run"]["start"]
    split = split_cases(outcomes[f"{LAB}_crossing_month"].to_numpy(), start=start, months=args.months)
    x = ema.for_prim(experiments, m)
    found = run_prim(x, split)
    seconds = time.perf_counter() - started

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    pd.concat([x, outcomes, pd.Series(split.y, name="case")], axis=1).to_csv(out / "experiments.csv", index=False)
    if found.prim_box is not None:
        found.prim_box.peeling_trajectory.to_csv(out / "peeling_trajectory.csv", index=False)
    plots = _plots(found, outcomes[f"{LAB}_crossing_month"].to_numpy(), args.months, out, start)
    command = "python -m wattyear.experiments.analysis.scenario_discovery " + " ".join(
        f"--{k} {v}" for k, v in (("scenarios", args.scenarios), ("replicates", args.replicates),
                                  ("months", args.months), ("out", args.out), ("seed", args.seed),
                                  ("processes", args.processes)))
    text = report(found, command=command, n=len(outcomes), dims=x.shape[1], replicates=args.replicates, months=args.months,
                  start=start, seed=args.seed, seconds=seconds, plots=plots, outcomes=outcomes)
    (out / "scenario_discovery.md").write_text(text)
    print(text)
    print(f"written: {out / 'scenario_discovery.md'} and {', '.join(plots)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
