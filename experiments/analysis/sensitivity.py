"""Global sensitivity analysis with SALib: Sobol' indices (Saltelli's scheme) and Morris screening.

``design`` gives the rows to run, in the order the method's analysis expects; ``analyze`` turns one
outcome per row into a table of indices, one row per parameter; ``plot_indices`` draws that table.
SALib is an optional dependency (``pip install 'wattyear[ema]'``), imported only when needed.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wattyear.experiments import style
from wattyear.sim.config import ConfigError, Problem

METHODS = ("saltelli", "morris")
#: the table's columns for each method
COLUMNS = {"saltelli": ("S1", "S1_conf", "ST", "ST_conf"), "morris": ("mu", "mu_star", "mu_star_conf", "sigma")}
CONSTANT_NOTE = "outcome does not vary"


def _salib(module: str) -> ModuleType:
    """``SALib.<module>``, or a ConfigError saying how to install SALib."""
    try:
        return importlib.import_module(f"SALib.{module}")
    except ImportError:
        raise ConfigError([Problem("sensitivity", "SALib", "SALib installed: pip install 'wattyear[ema]'",
                                   "not installed")]) from None


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError([Problem("sensitivity", "sample.method", " or ".join(METHODS), method)])


def _problem(ranges: dict[str, tuple[float, float]]) -> dict:
    """SALib's problem definition: uniform inputs on the given ranges."""
    bounds = [[float(lo), float(hi)] for lo, hi in ranges.values()]
    return {"num_vars": len(ranges), "names": list(ranges), "bounds": bounds}


def design(method: str, ranges: dict[str, tuple[float, float]], n: int, seed: int, *, levels: int = 4) -> np.ndarray:
    """Rows of parameter values to run, shape ``(runs, len(ranges))``, columns in ``ranges``' order, rows
    in the order ``analyze`` expects.

    ``saltelli``: Saltelli's scheme on a Sobol' sequence scrambled with ``seed`` (``SALib.sample.sobol``,
    first and total effects only), ``n`` base samples, a power of 2: ``n * (D + 2)`` rows for D parameters.
    ``morris``: ``n`` Morris trajectories on a grid of ``levels`` levels (even): ``n * (D + 1)`` rows.
    The same arguments give the same rows.
    """
    _check_method(method)
    problem = _problem(ranges)
    if method == "saltelli":
        if n < 1 or n & (n - 1):
            raise ConfigError([Problem("sensitivity", "sample.n", "a power of 2 such as 64", n)])
        return _salib("sample.sobol").sample(problem, n, calc_second_order=False, scramble=True, seed=int(seed))
    if levels < 2 or levels % 2:
        # SALib only warns about an odd number of levels; its trajectories are then biased
        raise ConfigError([Problem("sensitivity", "sample.levels",
                                   "an even integer ≥ 2 (the levels of a Morris grid)", levels)])
    return _salib("sample.morris").sample(problem, n, num_levels=levels, seed=int(seed))


def _morris_levels(ranges: dict[str, tuple[float, float]], X: np.ndarray) -> int:
    """The levels of the grid a Morris design was drawn on, read from its step Δ = p / (2 (p − 1)) (a fraction
    of each range): SALib divides the outcome's changes by the Δ of the levels it is told, not by X's steps."""
    bounds = np.array(list(ranges.values()), dtype=float)
    unit = (X - bounds[:, 0]) / (bounds[:, 1] - bounds[:, 0])
    trajectories = unit.reshape(-1, len(ranges) + 1, len(ranges))
    delta = np.abs(np.diff(trajectories, axis=1)).max()
    return round(2 * delta / (2 * delta - 1))


def analyze(method: str, ranges: dict[str, tuple[float, float]], X: np.ndarray, Y: np.ndarray, seed: int,
            *, confidence: float = 0.95) -> pd.DataFrame:
    """Sensitivity indices of the outcome ``Y`` (1-D, one value per row of ``X``, the rows of ``design``):
    one row per parameter, in ``ranges``' order.

    ``saltelli`` → columns ``parameter, S1, S1_conf, ST, ST_conf``: first-order and total Sobol' indices
    (shares of Y's variance) with the half-widths of their ``confidence`` intervals (bootstrap).
    ``morris`` → ``parameter, mu, mu_star, mu_star_conf, sigma``: mean, mean absolute value (with the
    half-width of its interval) and spread of the elementary effects, the change in Y per step, scaled to
    the whole range. ``seed`` fixes the bootstrap. NaN (or infinite) outcomes raise ValueError: censor them
    first (see ``censor``). A constant outcome gives zeros and a column ``note`` = "outcome does not vary".
    """
    _check_method(method)
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    per_block = len(ranges) + (2 if method == "saltelli" else 1)
    if Y.ndim != 1 or X.shape != (len(Y), len(ranges)) or len(Y) % per_block:
        raise ValueError(f"expected X of shape (runs, {len(ranges)}) and one outcome per row, runs a multiple of "
                         f"{per_block} (a {method} design); got X {X.shape} and Y {Y.shape}")
    bad = int(np.count_nonzero(~np.isfinite(Y)))
    if bad:
        raise ValueError(f"{bad} of {len(Y)} outcomes are NaN or infinite: censor or replace them before the analysis")
    table = pd.DataFrame({"parameter": list(ranges)})
    if np.ptp(Y) == 0:
        # SALib would divide by Y's zero variance (Sobol') and give NaN
        for column in COLUMNS[method]:
            table[column] = 0.0
        table["note"] = CONSTANT_NOTE
        return table
    problem = _problem(ranges)
    # a Generator, not the int: SALib's Sobol' analysis ignores a seed of 0 (``if seed:``) and bootstraps unseeded
    rng = np.random.default_rng(int(seed))
    if method == "saltelli":
        indices = _salib("analyze.sobol").analyze(problem, Y, calc_second_order=False, conf_level=confidence, seed=rng)
    else:
        indices = _salib("analyze.morris").analyze(problem, X, Y, conf_level=confidence,
                                                   num_levels=_morris_levels(ranges, X), seed=rng)
    for column in COLUMNS[method]:
        table[column] = np.asarray(indices[column], dtype=float)
    return table


def plot_indices(table: pd.DataFrame, method: str, title: str, path: str | Path) -> Path:
    """A horizontal bar chart of an ``analyze`` table, parameters sorted by total effect (ST, or mu_star for
    Morris), largest on top. Sobol': ST and S1 side by side with their confidence intervals; Morris: mu_star
    with its interval, and sigma. A PNG at ``path`` (dpi 110); returns the path."""
    _check_method(method)
    if method == "saltelli":
        bars = [("ST", "ST_conf", "ST: total effect, with interactions"),
                ("S1", "S1_conf", "S1: first-order effect, alone")]
        xlabel = "Sobol' index: share of the outcome's variance due to the parameter"
    else:
        bars = [("mu_star", "mu_star_conf", "μ*: mean |elementary effect|"),
                ("sigma", None, "σ: spread of the effects (nonlinearity, interactions)")]
        xlabel = "Elementary effect: change in the outcome as the parameter crosses its range"
    ordered = table.sort_values(bars[0][0], ascending=True, kind="stable")
    y = np.arange(len(ordered))
    height = 0.4
    style.apply_style()
    fig = Figure(figsize=(9, 1.5 + 0.45 * len(ordered)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # the first bar (the total effect) sits above the second within each parameter's slot
    # bars are indices, not agents: the total effect dark, the other index light, neither an agent's colour
    for offset, (column, conf, label), colour in zip((height / 2, -height / 2), bars, ("#393b79", "#b8b8d8")):
        xerr = ordered[conf] if conf else None
        ax.barh(y + offset, ordered[column], height, xerr=xerr, capsize=3, label=label, color=colour,
                error_kw={"ecolor": "#555555", "lw": 0.8})
    ax.set_yticks(y, ordered["parameter"])
    ax.grid(axis="y", visible=False)
    ax.axvline(0, color="black", lw=0.5)
    ax.set(title=title, xlabel=xlabel)
    if method == "saltelli":
        style.percent_axis(ax, axis="x")  # a Sobol' index is a share of the variance
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def censor(values: np.ndarray, horizon: int) -> tuple[np.ndarray, int]:
    """Crossing months with NaN for "never within the horizon" → (values with NaN replaced by
    ``horizon + 1``, the number replaced): never crossing counts as crossing one month after the horizon.

    >>> censor(np.array([3.0, np.nan, 12.0, np.nan]), horizon=24)
    (array([ 3., 25., 12., 25.]), 2)
    """
    values = np.asarray(values, dtype=float)
    never = np.isnan(values)
    return np.where(never, float(horizon + 1), values), int(never.sum())


# ----------------------------------------------------------------- a sensitivity study

#: outcomes of a sensitivity study, per lab: (column of analysis.crossings_table or "crossing", name, unit)
OUTCOME_NAMES = {"crossing": ("self-funding month", "months from the start; never = horizon + 1"),
                 "rpwy": ("revenue per watt-year", "$/W-yr")}


def check_analysable(study) -> None:
    """Before any run: a sensitivity study needs a saltelli or morris design and keeps what its
    analysis reads (the labs' rows, their self-funding ratio and revenue per watt-year)."""
    problems = []
    if study.sample_method not in METHODS:
        problems.append(Problem(str(study.path), "sample.method", "saltelli or morris (a design SALib can analyse)",
                                study.sample_method or "none (a grid only)"))
    if "lab" not in study.kinds:
        problems.append(Problem(str(study.path), "outputs.kinds", "a list with \"lab\" (the outcomes are the "
                                "labs')", list(study.kinds)))
    missing = [c for c in ("self_funding_ratio", "revenue_usd_per_watt_year") if study.columns and c not in study.columns]
    if missing:
        problems.append(Problem(str(study.path), "outputs.columns", f"the columns the analysis reads: {missing}",
                                list(study.columns)))
    if problems:
        raise ConfigError(problems)


def _say(progress: bool | None, text: str) -> None:
    """A line on stderr saying what the analysis does next (none with ``progress=False``)."""
    if progress is not False:
        import sys

        print(f"sensitivity: {text}", file=sys.stderr, flush=True)


def analyze_study(folder: str | Path, study, progress: bool | None = None) -> list[Path]:
    """Indices of every lab's outcomes in a finished saltelli or morris study: its self-funding month
    (read from every month; a run that never crosses is censored at the horizon + 1, and the table says
    how many) and its revenue per watt-year in ``analysis.OUTCOME_MONTH`` (or the last kept month before
    it). Replicates of a design point are averaged first. Writes ``sensitivity.csv``, ``sensitivity.md``
    and a bar chart per lab and outcome into ``folder``.

    ``progress``: None, a line on stderr before each long step and a bar over the indices on a terminal;
    True, both anywhere (a widget in a notebook); False, silent."""
    from tqdm.auto import tqdm

    from wattyear.experiments.analysis.study_data import AnalysisError, crossings_table, load

    folder = Path(folder)
    check_analysable(study)
    _say(progress, f"reading the labs' rows of {len(study.runs):,} runs from {folder}…")
    data = load(folder)
    _say(progress, f"each run's self-funding month and outcomes ({data.runs['run_id'].nunique():,} runs × "
                   f"{len(data.labs)} labs)…")
    table = crossings_table(data)
    point = {r.run_id: r.point for r in study.runs}
    table["point"] = table["run_id"].map(point)
    n_points = len({r.point for r in study.runs})
    X = design(study.sample_method, study.ranges, study.sample_n, study.seed, levels=study.levels)
    rpwy = next((c for c in table.columns if c.startswith("rpwy_")), None)
    rows, written, lines = [], [], []
    lines += [f"# Sensitivity: {study.name}", "",
              f"{study.sample_method} design over {len(study.ranges)} parameters (n = {study.sample_n}), "
              f"{n_points} design points × {study.replicates} replicate(s); replicates of a point are averaged. "
              "Ranges:", "", "| parameter | low | high |", "|---|---|---|"]
    lines += [f"| `{k}` | {lo:g} | {hi:g} |" for k, (lo, hi) in study.ranges.items()]
    lines += ["", "Integer parameters are run at the nearest integer; the indices use the design's values.", ""]
    kind = "Sobol' indices" if study.sample_method == "saltelli" else "Morris elementary effects"
    outcomes = [("crossing", "crossing_step")] + ([("rpwy", rpwy)] if rpwy is not None else [])
    _say(progress, f"{kind} of {len(outcomes)} outcome(s) for each of {len(data.labs)} labs, and their charts…")
    bar = tqdm(total=len(data.labs) * len(outcomes), unit="index", desc=kind, leave=False, dynamic_ncols=True,
               disable=None if progress is None else not progress)
    for lab in data.labs:
        g = table[table["agent"] == lab]
        for key, column in outcomes:
            bar.set_postfix_str(f"{lab}: {key}")
            values = g[column].to_numpy(float)
            n_censored = 0
            if key == "crossing":
                values, n_censored = censor(values, data.horizon)
            else:  # a lab that operates no watts then (failed, or letting them all) has no revenue per watt
                # (NaN in the runs' files): it earns no token revenue, and counts $0 per watt-year
                gone = np.isnan(values) & g["run_id"].isin(data.runs["run_id"]).to_numpy()
                values, n_censored = np.where(gone, 0.0, values), int(gone.sum())
            by_point = pd.Series(values).groupby(g["point"].to_numpy()).mean().reindex(range(n_points))
            if by_point.isna().any():
                missing = int(by_point.isna().sum())
                raise AnalysisError(f"{folder}: {missing} design point(s) have no finished run (see the "
                                    "manifest's errors: a sweep stopped early resumes when rerun; a run the model "
                                    "refuses fails again, and its point needs another design)")
            result = analyze(study.sample_method, study.ranges, X, by_point.to_numpy(), study.seed)
            name, unit = OUTCOME_NAMES[key]
            if key == "rpwy":
                name = f"{name} in {column[5:12].replace('_', '-')}"
            rows.append(result.assign(lab=lab, outcome=name, unit=unit, censored=n_censored))
            title = f"{lab}: {name}" + (f" ({n_censored} of {len(values)} runs never cross: censored at month "
                                        f"{data.horizon + 1})" if key == "crossing" else "")
            png = folder / f"sensitivity_{lab}_{key}.png"
            written.append(plot_indices(result, study.sample_method, title, png))
            lines += [f"## {lab}: {name} ({unit})", ""]
            if key == "crossing" and n_censored:
                lines += [f"{n_censored} of {len(values)} runs never cross within the horizon; they count as "
                          f"crossing in month {data.horizon + 1} (censored).", ""]
            elif n_censored:
                lines += [f"In {n_censored} of {len(values)} runs the lab operated no watts then (it had failed, or "
                          "let all its watts); it counts $0 per watt-year there (the runs' files leave the ratio "
                          "undefined).", ""]
            cols = COLUMNS[study.sample_method]
            lines += ["| parameter | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
            order = "ST" if study.sample_method == "saltelli" else "mu_star"
            for _, r in result.sort_values(order, ascending=False).iterrows():
                lines.append(f"| `{r['parameter']}` | " + " | ".join(f"{r[c]:.3g}" for c in cols) + " |")
            lines += ["", f"![{lab}: {name}]({png.name})", ""]
            bar.update(1)
    bar.close()
    meaning = ("S1: share of the outcome's variance due to the parameter alone; ST: including its interactions; "
               "_conf: half-width of the 95% confidence interval (bootstrap)." if study.sample_method == "saltelli"
               else "mu_star: mean absolute elementary effect (the parameter's overall influence, in the "
                    "outcome's unit over the parameter's range); sigma: their spread (interactions or "
                    "non-linearity); mu_star_conf: half-width of its 95% confidence interval.")
    lines += [meaning, ""]
    out = pd.concat(rows, ignore_index=True)
    out = out[["lab", "outcome", "unit", "parameter", *[c for c in out.columns if c not in
                                                        ("lab", "outcome", "unit", "parameter")]]]
    out.to_csv(folder / "sensitivity.csv", index=False)
    (folder / "sensitivity.md").write_text("\n".join(lines) + "\n")
    return [folder / "sensitivity.csv", folder / "sensitivity.md", *written]
