"""Bayesian calibration of a config to dated figures, and draws from the posterior.

``wattyear calibrate CONFIG --posterior --targets TARGETS.csv`` runs ABC-SMC
(``experiments/calibration/abc.py``) over parameters with cited ranges in
``configs/bounds.toml`` (uniform priors on those ranges), simulating every
generation's particles as one batched ensemble up to the last target month,
with the summaries of ``experiments/calibration/validate.py`` (each target row's model
value) and a log-ratio distance to the observed values. It writes into its
folder:

- ``posterior.parquet``: the last generation, a row per particle: one column
  per parameter (dotted path), ``weight`` and ``distance``;
- ``posterior.json``: the config, the targets, the priors and the settings;
- ``diagnostics.csv``: per generation, tolerance, simulations, the moves'
  acceptance rate and the effective sample size (distinct particles);
  ``calibration_posterior.md`` with it all;
- ``posterior_vs_prior.png`` (each parameter's weighted histogram over its
  prior range) and ``posterior_pairs.png`` (the four parameters the data
  narrowed most).

``draws(folder, n, seed)`` resamples n parameter sets by weight: what a study
(``[sample] method = "posterior"``), ``wattyear validate --posterior`` and the
API use to run scenarios with parameter uncertainty as well as seed noise.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.calibration.abc import Posterior, abc_smc
from wattyear.sim.config import CONFIG_DIR, ConfigError, Problem, field_at, find_config, with_overrides
from wattyear.sim.paths import value_at
from wattyear.sim.config_files import read_text_file
from wattyear.sim.problems import MISSING

BOUNDS = CONFIG_DIR / "bounds.toml"


def priors(paths: list[str] | None = None, extra: dict[str, tuple[float, float]] | None = None,
           config: dict | None = None) -> dict[str, tuple[float, float]]:
    """Uniform priors from ``bounds.toml``: the given dotted paths, or every parameter there that may
    differ between the scenarios of an ensemble (those that set the model's structure cannot be
    calibrated on the scenario axis) and, given the ``config`` they will be set in, that it takes at both
    ends of its range (a parent's funding share means nothing in a world where the lab has no parent) and
    does not hold at the value that switches its mechanism off (``switched_off``);
    ``extra`` adds ranges of other parameters (the backtest adds the affinities ``wattyear calibrate --fit``
    fits, over the ranges that fit searches)."""
    bounds = tomllib.loads(BOUNDS.read_text())["bounds"] | {k: {"low": lo, "high": hi}
                                                            for k, (lo, hi) in (extra or {}).items()}
    if paths is None:
        paths = [p for p in bounds if p not in (extra or {}) and (f := field_at(p)) is not None and f.varies
                 and (config is None or (applies(config, p, (bounds[p]["low"], bounds[p]["high"]))
                                         and not switched_off(config, p)))]
    paths = list(dict.fromkeys([*paths, *(extra or {})]))  # an extra range is calibrated, or refused below
    def why(p: str) -> str | None:
        if field_at(p) is None:
            return "a parameter of the config (docs/parameters.md)"
        if p not in bounds:
            return f"a parameter with bounds in {BOUNDS.name}"
        if not field_at(p).varies:
            return "a parameter that may differ between scenarios (this one sets the model's structure)"
        return None

    problems = [Problem("--parameters", p, why(p), p) for p in paths if p and why(p)]
    if problems:
        raise ConfigError(problems)
    return {p: (float(bounds[p]["low"]), float(bounds[p]["high"])) for p in paths}


#: parameters whose value in a config can switch their mechanism off: a config that holds one there leaves
#: the mechanism out of its world, and a prior would switch it on (the 2025 backtest world predates the
#: nested logit and the tasks customers route to open weights, and keeps them off)
OFF_VALUES = {"open_task_affinity": -1000.0}


def switched_off(config: dict, path: str) -> bool:
    """Whether ``config`` holds ``path`` at the value that switches its mechanism off (``OFF_VALUES``).

    >>> switched_off({"segments": {"api": {"open_task_affinity": -1000.0}}}, "segments.api.open_task_affinity")
    True
    >>> switched_off({"segments": {"api": {"open_task_affinity": -3.0}}}, "segments.api.open_task_affinity")
    False
    """
    off = OFF_VALUES.get(path.rsplit(".", 1)[-1])
    if off is None:
        return False
    try:
        return value_at(config, path) == off
    except KeyError:
        return False


def applies(config: dict, path: str, values) -> bool:
    """Whether ``config`` takes ``path`` set to each of ``values`` (integer parameters rounded)."""
    for value in values:
        try:
            with_overrides(config, overrides_of([path], np.array([[value]], dtype=float))[0])
        except ConfigError:
            return False
    return True


def overrides_of(names: list[str], rows: np.ndarray) -> list[dict]:
    """Parameter rows as config overrides (integer parameters rounded; a number smaller in size than the configs'
    smallest non-zero value, ``TINY``, is 0: a draw at the edge of a prior starting at 0 lands within 1e-15 of it,
    which the configs refuse as a typo).

    A name that is no parameter, or a value that is not a finite number (a NaN would otherwise become 0), is a
    ConfigError naming it.

    >>> overrides_of(["world.power_growth_per_year", "world.lease_lead_months"], np.array([[1.1e-15, 2.6]]))
    [{'world.power_growth_per_year': 0.0, 'world.lease_lead_months': 3}]
    >>> overrides_of(["world.pue"], np.array([[np.nan]]))
    Traceback (most recent call last):
    wattyear.sim.problems.ConfigError: parameters: world.pue: expected a finite number, found 'nan (row 1)'
    """
    from wattyear.sim.config_checks import TINY

    rows = np.asarray(rows, dtype=float)
    problems = [Problem("parameters", n, "a parameter of the config (docs/parameters.md)", n)
                for n in names if field_at(n) is None]
    problems += [Problem("parameters", n, "a finite number", f"{rows[i, j]} (row {i + 1})")
                 for j, n in enumerate(names) if field_at(n) is not None and len(rows)
                 for i in np.flatnonzero(~np.isfinite(rows[:, j]))[:1]]
    if problems:
        raise ConfigError(problems)
    ints = [field_at(n).kind == "int" for n in names]
    return [{n: int(round(v)) if i else (float(v) if abs(v) >= TINY else 0.0) for n, v, i in zip(names, row, ints)}
            for row in rows]


def calibrate(config: str | Path, targets: str | Path, out: str | Path, *, paths: list[str] | None = None,
              extra: dict[str, tuple[float, float]] | None = None,
              particles: int = 400, generations: int = 4, seed: int = 0, chunk: int = 1000,
              progress=None) -> Posterior:
    """Fit the parameters' posterior to the targets and write it into ``out`` (see the module's docstring)."""
    import wattyear
    from wattyear.experiments.calibration.outcomes import check_rows, model_values, read_outcomes
    from wattyear.sim.model import WattyearModel
    from wattyear.sim.units import month_index

    config_path = find_config(config)
    cfg = wattyear.load_config(config_path)
    table = read_outcomes(targets)
    start = cfg["run"]["start"]
    model = WattyearModel(cfg)
    check_rows(table, str(targets), agents=list(model.world.agent_ids), segments=[s.agent_id for s in model.segments],
               start=start, months=cfg["run"]["months"])
    months = max(month_index(e, start) for e in table["end"]) + 1
    bounds = priors(paths, extra, config=cfg)
    names = list(bounds)
    observed = table["value"].to_numpy(float)
    zero = table[table["value"] == 0]
    if len(zero):
        raise ConfigError([Problem(str(targets), f"line {r.line}: value", "a non-zero figure (the distance compares "
                                   "log ratios)", r.value) for r in zero.itertuples()])
    if particles < 2:
        raise ConfigError([Problem("--particles", "particles", "at least 2", particles)])
    from wattyear.experiments.folders import claim

    claim(Path(out), "posterior")  # before the fit: a run's, a comparison's or a study's folder is not a posterior's
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])  # the sampler draws from the other

    short = with_overrides(cfg, {"run.months": months})

    def simulate(thetas: np.ndarray) -> np.ndarray:
        seeds = rng.integers(0, 2**62, size=len(thetas)).tolist()  # every simulation its own demand shocks
        values = np.empty((len(thetas), len(table)))
        for i in range(0, len(thetas), chunk):  # ensembles of at most ``chunk`` scenarios
            configs = [with_overrides(short, o) for o in overrides_of(names, thetas[i:i + chunk])]
            values[i:i + chunk] = model_values(table, WattyearModel(configs, seeds=seeds[i:i + chunk]).run()).T
        return values

    post = abc_smc(simulate, observed, bounds, particles=particles, generations=generations, seed=seed,
                   progress=progress)
    write(post, Path(out), config=config_path, targets=Path(targets), settings={
        "particles": particles, "generations": generations, "seed": seed, "months": months})
    return post


def write(post: Posterior, out: Path, *, config: Path, targets: Path, settings: dict) -> list[Path]:
    from wattyear.experiments.analysis.plots import plt

    out.mkdir(parents=True, exist_ok=True)
    sample = post.sample()
    sample.to_parquet(out / "posterior.parquet", index=False)
    diag = post.diagnostics()
    diag.to_csv(out / "diagnostics.csv", index=False)
    import hashlib

    (out / "posterior.json").write_text(json.dumps({
        "config": str(Path(config).resolve()), "targets": str(Path(targets).resolve()),
        "config_sha256": hashlib.sha256(Path(config).read_bytes()).hexdigest(),
        "priors": {k: list(v) for k, v in post.bounds.items()}, **settings}, indent=2) + "\n")
    names = post.names
    # how much the data narrowed each parameter: posterior sd / prior sd (uniform: range / √12)
    w = post.last.weights
    mean = w @ post.last.particles
    sd = np.sqrt(w @ (post.last.particles - mean) ** 2)
    prior_sd = np.array([(hi - lo) / np.sqrt(12) for lo, hi in post.bounds.values()])
    shrink = pd.Series(sd / prior_sd, index=names).sort_values()
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, (j, name) in zip(axes.flat, enumerate(names)):
        lo, hi = post.bounds[name]
        ax.hist(post.last.particles[:, j], bins=20, range=(lo, hi), weights=w, density=True, alpha=0.7,
                label="posterior")
        ax.axhline(1 / (hi - lo), color="black", ls="--", lw=1, label="prior")
        ax.set_title(name, fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Posterior (weighted histogram) against the uniform prior of each parameter", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out / "posterior_vs_prior.png", dpi=100)
    plt.close(fig)
    top = list(shrink.index[:4])
    fig, axes = plt.subplots(len(top), len(top), figsize=(3 * len(top), 3 * len(top)), squeeze=False)
    for a, x in enumerate(top):
        for b, y in enumerate(top):
            ax = axes[a, b]
            if a == b:
                ax.hist(sample[x], bins=20, weights=sample["weight"], color="C0")
            else:
                ax.scatter(sample[y], sample[x], s=4, alpha=0.5, c=sample["weight"], cmap="viridis")
            if a == len(top) - 1:
                ax.set_xlabel(y, fontsize=7)
            if b == 0:
                ax.set_ylabel(x, fontsize=7)
    fig.suptitle("The four parameters the data narrowed most", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out / "posterior_pairs.png", dpi=100)
    plt.close(fig)
    q = post.quantiles()
    lines = ["# Posterior calibration", "", f"Config `{Path(config).name}`, targets `{Path(targets).name}`; "
             f"ABC-SMC with {settings['particles']} particles, up to {settings['generations']} generations, "
             f"seed {settings['seed']}; months simulated: {settings['months']}.", "", "## Generations", "",
             "| generation | tolerance | simulations | acceptance of moves | effective sample (distinct particles) | "
             "median distance |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {int(r.generation)} | {r.epsilon:.3g} | {int(r.simulations)} | {r.acceptance:.1%} | {r.distinct_particles} | "
              f"{r.median_distance:.3g} |" for r in diag.itertuples()]
    lines += ["", "## Parameters (weighted 5%, 50%, 95% quantiles; prior range; posterior sd / prior sd)", "",
              "| parameter | 5% | 50% | 95% | prior | sd ratio |", "|---|---|---|---|---|---|"]
    for name in names:
        lo, hi = post.bounds[name]
        lines.append(f"| `{name}` | {q.loc[name, 0.05]:.3g} | {q.loc[name, 0.5]:.3g} | {q.loc[name, 0.95]:.3g} | "
                     f"{lo:g} – {hi:g} | {shrink[name]:.2f} |")
    lines += ["", "![posterior vs prior](posterior_vs_prior.png)", "", "![pairs](posterior_pairs.png)", ""]
    (out / "calibration_posterior.md").write_text("\n".join(lines))
    return [out / n for n in ("posterior.parquet", "posterior.json", "diagnostics.csv", "calibration_posterior.md",
                              "posterior_vs_prior.png", "posterior_pairs.png")]


def draws(folder: str | Path, n: int, seed: int = 0) -> tuple[Path, list[dict]]:
    """(the config the posterior was fitted on, n parameter sets resampled by weight as overrides), from a
    posterior folder ``read_posterior`` has checked."""
    posterior = read_posterior(folder)
    return posterior.config, posterior.draws(n, seed)


#: what a posterior folder's two files are, in messages
RECORD = "a posterior's record (wattyear calibrate --posterior)"
SAMPLE = "a posterior sample (wattyear calibrate --posterior)"
#: the largest posterior sample read (400 particles of 40 parameters take about 130 kB)
MAX_SAMPLE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class PosteriorSample:
    """A checked posterior folder: the config it was fitted on, its priors, a row per particle of parameter
    values and the particles' weights (normalised to sum to 1)."""

    folder: Path
    config: Path
    priors: dict[str, tuple[float, float]]
    values: pd.DataFrame
    weights: np.ndarray

    @property
    def names(self) -> list[str]:
        return list(self.values.columns)

    def draws(self, n: int, seed: int = 0) -> list[dict]:
        """n parameter sets resampled by weight, as config overrides."""
        picks = np.random.default_rng(seed).choice(len(self.values), size=n, p=self.weights)
        return overrides_of(self.names, self.values.to_numpy(float)[picks])


def read_posterior(folder: str | Path) -> PosteriorSample:
    """Read and check a posterior folder (``wattyear calibrate --posterior``): the one check every reader of
    one (``validate --posterior``, a posterior study, the API, the dashboard) relies on. Every problem is a
    ConfigError naming the folder's file, the key or column and what was found:

    - ``posterior.json`` and ``posterior.parquet`` regular files, readable (a JSON object, a Parquet table);
    - the record's ``config`` an existing config whose sha256 is still the recorded ``config_sha256`` (the
      draws belong to the config as it was fitted), its ``priors`` a [low, high] range per parameter;
    - the sample a column per prior's parameter (a parameter of the config) and ``weight``, at least one row,
      every value a finite number within its prior, the weights finite, ≥ 0 and not all 0.
    """
    import os
    import stat

    from wattyear.experiments.studies.folder_files import read_json, read_table

    folder = Path(folder)
    record, table = folder / "posterior.json", folder / "posterior.parquet"
    if not folder.is_dir():
        raise ConfigError([Problem(str(folder), "(posterior)", "a posterior folder (wattyear calibrate --posterior)",
                                   "no such folder" if not folder.exists() else "not a folder")])
    meta = read_json(record, RECORD)
    try:
        info = os.stat(table)
    except OSError as exc:
        raise ConfigError([Problem(str(table), "(file)", SAMPLE, "no such file" if isinstance(exc, FileNotFoundError)
                                   else exc.strerror or str(exc))]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError([Problem(str(table), "(file)", SAMPLE, "a folder" if stat.S_ISDIR(info.st_mode)
                                   else "not a regular file (a device, pipe or socket)")])
    if info.st_size > MAX_SAMPLE_BYTES:
        raise ConfigError([Problem(str(table), "(file)", SAMPLE, f"{info.st_size:,} bytes (at most "
                                   f"{MAX_SAMPLE_BYTES:,} are read)")])
    sample = read_table(table, SAMPLE)
    problems: list[Problem] = []
    config = _fitted_config(meta, record, problems)
    bounds = _recorded_priors(meta.get("priors", MISSING), record, problems)
    months = meta.get("months", MISSING)
    if not (isinstance(months, int) and not isinstance(months, bool) and months >= 1):
        problems.append(Problem(str(record), "months", "the months simulated, an integer ≥ 1", months))
    names = [str(c) for c in sample.columns if c not in ("weight", "distance")]
    if len(set(sample.columns)) < len(sample.columns):
        problems.append(Problem(str(table), "(columns)", "each column once",
                                sorted({c for c in sample.columns if list(sample.columns).count(c) > 1})))
        raise ConfigError(problems)
    if "weight" not in sample.columns:
        problems.append(Problem(str(table), "(columns)", "a weight column (each particle's weight)", "no column weight"))
    if sample.empty:
        problems.append(Problem(str(table), "(rows)", "at least one particle", "none"))
    if bounds is not None:
        missing = [p for p in bounds if p not in names]
        if missing:
            problems.append(Problem(str(table), "(columns)", f"a column for each parameter of the priors in "
                                    f"{record.name}", "no column " + ", ".join(missing)))
    for name in names:
        where = f"column {name}"
        if field_at(name) is None:
            problems.append(Problem(str(table), where, "a parameter of the config (docs/parameters.md)", name))
            continue
        if bounds is not None and name not in bounds:
            problems.append(Problem(str(table), where, f"a parameter with a prior in {record.name}", name))
            continue
        column = _numbers(sample[name], str(table), where, problems)
        if column is None or bounds is None:
            continue
        low, high = bounds[name]
        outside = np.flatnonzero((column < low) | (column > high))
        if len(outside):
            problems.append(Problem(str(table), where, f"values within its prior, {low:g} to {high:g}",
                                    f"{column[outside[0]]:g} in row {outside[0] + 1}" + _more(outside)))
    weights = _numbers(sample["weight"], str(table), "column weight", problems) if "weight" in sample else None
    if weights is not None and len(weights):
        if (weights < 0).any():
            negative = np.flatnonzero(weights < 0)
            problems.append(Problem(str(table), "column weight", "weights ≥ 0",
                                    f"{weights[negative[0]]:g} in row {negative[0] + 1}" + _more(negative)))
        elif not weights.sum() > 0:
            problems.append(Problem(str(table), "column weight", "weights not all 0", f"{len(weights)} zeros"))
    if problems:
        raise ConfigError(problems)
    return PosteriorSample(folder, config, bounds, sample[names].astype(float), weights / weights.sum())


def _fitted_config(meta: dict, record: Path, problems: list[Problem]) -> Path | None:
    """The config a posterior was fitted on, found and unchanged since (its sha256 as recorded)."""
    import hashlib

    name, digest = meta.get("config", MISSING), meta.get("config_sha256", MISSING)
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(str(record), "config", "the config the posterior was fitted on, as a path", name))
        return None
    try:
        path = find_config(name, folder=record.parent)
        read_text_file(path, "a config file")  # a regular file of a sensible size
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except ConfigError as exc:
        problems.append(Problem(str(record), "config", "the config the posterior was fitted on, an existing file",
                                f"{name}: {exc.problems[0].found}" if exc.problems else name))
        return None
    if not isinstance(digest, str):
        problems.append(Problem(str(record), "config_sha256", "the sha256 of the config it was fitted on", digest))
    elif digest != actual:
        problems.append(Problem(str(record), "config_sha256", f"the sha256 of {path.name} as fitted: the config "
                                "has changed since (fit the posterior again)",
                                f"{digest[:12]}… recorded, {actual[:12]}… now"))
    return path


def _recorded_priors(priors, record: Path, problems: list[Problem]) -> dict[str, tuple[float, float]] | None:
    """A posterior record's priors: a [low, high] range (finite, low < high) per parameter; None if damaged."""
    def is_range(r) -> bool:
        return (isinstance(r, list) and len(r) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                            and math.isfinite(v) for v in r) and r[0] < r[1])

    if not isinstance(priors, dict) or not priors:
        problems.append(Problem(str(record), "priors", "each parameter's prior range, {path: [low, high]}", priors))
        return None
    bad = {k: r for k, r in priors.items() if not is_range(r)}
    for key, r in bad.items():
        problems.append(Problem(str(record), f"priors.{key}", "[low, high] with low < high", r))
    return None if bad else {k: (float(lo), float(hi)) for k, (lo, hi) in priors.items()}


def _more(rows: np.ndarray) -> str:
    """' and N more' after the first of ``rows`` named in a message, or ''."""
    return f" and {len(rows) - 1:,} more" if len(rows) > 1 else ""


def _numbers(column: pd.Series, src: str, where: str, problems: list[Problem]) -> np.ndarray | None:
    """A column's values as floats, or None (and a problem) unless every one is a finite number."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        first = column.iloc[0] if len(column) else None
        problems.append(Problem(src, where, "numbers", f"{column.dtype} values such as {first!r}"))
        return None
    values = column.to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        problems.append(Problem(src, where, "a finite number in every row", f"{values[bad[0]]} in row {bad[0] + 1}" + _more(bad)))
        return None
    return values
