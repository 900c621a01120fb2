"""Study files: what a sweep varies, how many replicates, which outputs to keep.

A study is TOML (see ``experiments/llama_pressure.toml``)::

    [study]
    name = "llama-pressure"
    base = "../configs/baseline.toml"   # relative to the study file
    replicates = 4                      # seeds per design point
    seed = 2026                         # master seed: replicate seeds are spawned from it
    months = 60                         # optional: overrides run.months

    [grid]                              # every combination of these values
    "open_weights.quality_fraction" = [0.6, 0.75, 0.9]

    [sample]                            # and/or a sampled design
    method = "lhs"                      # or "sobol"
    n = 32
    [sample.ranges]
    "world.energy_usd_per_mwh" = [55, 90]
    "open_weights.lag_months" = "bounds"   # the cited range in configs/bounds.toml

    [outputs]
    keep = "monthly"                    # "monthly", "every" (every_months) or "summary" (last month)
    every_months = 12
    kinds = ["lab"]                     # agent kinds to keep (default: all)

Grid and sample combine as a cartesian product; each design point runs
``replicates`` times. Everything is checked before any run starts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from wattyear.sim.config import (BASELINE, CONFIG_DIR, ConfigError, Problem, field_at, find_config, load_config,
                                 value_at, with_overrides)

KEEP = ("monthly", "every", "summary")
#: space-filling designs (scipy.stats.qmc), designs for SALib's sensitivity analyses, and a design read from a file
SAMPLERS = ("lhs", "sobol", "saltelli", "morris", "file", "posterior")
#: the keys of [sample] each method takes
SAMPLE_KEYS = {"lhs": ("method", "n", "ranges"), "sobol": ("method", "n", "ranges"),
               "saltelli": ("method", "n", "ranges"), "morris": ("method", "n", "ranges", "levels"),
               "file": ("method", "path"), "posterior": ("method", "path", "n")}
BOUNDS = CONFIG_DIR / "bounds.toml"

STUDY_KEYS = {"name", "base", "replicates", "seed", "months", "common_seeds"}
OUTPUT_KEYS = {"keep", "every_months", "kinds", "columns", "tables"}
#: the tables a run can keep: metrics always; market, funding and leases on request
TABLES = ("metrics", "market", "funding", "leases")
KINDS = ("lab", "fringe", "hyperscaler", "open_weights")
#: the packaged studies (``llama_pressure``, ``sensitivity``) sit beside this module
STUDY_DIR = Path(__file__).resolve().parent


def packaged_studies() -> list[str]:
    """Names of the studies that ship with wattyear."""
    return sorted(p.stem for p in STUDY_DIR.glob("*.toml"))


def find_study(name: str | Path) -> Path:
    """The file of a study given as a path, or as the name of a packaged study (``"llama_pressure"``)."""
    path = Path(name)
    if path.is_file():
        return path
    packaged = STUDY_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if len(path.parts) == 1 and packaged.is_file():
        return packaged
    raise ConfigError([Problem(str(name), "(file)", "an existing study file (TOML) or a packaged study (" +
                               ", ".join(packaged_studies()) + ")", "no such file")])


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of a sweep: a design point and a replicate seed."""

    run_id: str
    point: int
    replicate: int
    params: dict[str, Any]
    seed: int


@dataclass
class Study:
    path: Path  #: the study file (for a study given as a dict: where its relative paths start, the folder it was made in)
    name: str
    base_path: Path
    base: dict  #: the validated base config (with months applied)
    replicates: int
    seed: int
    grid: dict[str, list]
    sample_method: str | None
    sample_n: int
    ranges: dict[str, tuple[float, float]]
    keep: str = "monthly"
    every_months: int = 12
    kinds: tuple[str, ...] = KINDS
    columns: tuple[str, ...] | None = None
    tables: tuple[str, ...] = ("metrics",)
    levels: int = 4  #: grid levels of a Morris design
    #: replicate r of every design point runs with the same seed (common random numbers): differences
    #: between points are then the parameters', not the demand shocks'
    common_seeds: bool = False
    design_file: Path | None = None  #: the explicit design (CSV or Parquet) of method = "file"
    runs: list[RunSpec] = field(default_factory=list)
    text: str = ""  #: the study as TOML (a sweep keeps it as ``study.toml`` beside its results)


def load_study(study: str | Path | dict) -> Study:
    """Read and check a study: a file, the name of a packaged study, or the file's tables as a dict
    (``{"study": {...}, "grid": {...}}``, paths relative to the working folder). Raise ConfigError
    naming file and key on any problem."""
    import copy

    import tomli_w

    if isinstance(study, dict):
        raw = copy.deepcopy(study)
        try:
            text = tomli_w.dumps(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError([Problem("<study dict>", "(tables)", "tables TOML can hold", str(exc))]) from None
        name = raw.get("study", {}).get("name", "study") if isinstance(raw.get("study"), dict) else "study"
        path, src = Path.cwd() / f"{name}.toml", "<study dict>"
    else:
        path = find_study(study)
        text = path.read_text()
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Problem(str(path), "(syntax)", "valid TOML", str(exc))]) from None
        src = str(path)
    problems: list[Problem] = []

    def need(cond: bool, key: str, expected: str, found: Any) -> bool:
        if not cond:
            problems.append(Problem(src, key, expected, found))
        return cond

    for key in raw:
        need(key in ("study", "grid", "sample", "outputs"), key, "one of the tables study, grid, sample, outputs",
             key)
    st = raw.get("study", {})
    for key in st:
        need(key in STUDY_KEYS, f"study.{key}", "one of " + ", ".join(sorted(STUDY_KEYS)), key)
    base_path = BASELINE
    if "base" in st:  # a file relative to the study, else a packaged config's name ("baseline")
        try:
            base_path = find_config(str(st["base"]), folder=path.parent).resolve()
        except ConfigError:
            need(False, "study.base", "a config file (relative to the study) or a packaged config", st["base"])
    replicates = st.get("replicates", 1)
    need(isinstance(replicates, int) and not isinstance(replicates, bool) and replicates >= 1,
         "study.replicates", "an integer ≥ 1", replicates)
    seed = st.get("seed", 0)
    need(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0, "study.seed", "an integer ≥ 0", seed)
    common = st.get("common_seeds", False)
    need(isinstance(common, bool), "study.common_seeds", "true or false", common)
    months = st.get("months")
    need(months is None or (isinstance(months, int) and months >= 1), "study.months", "an integer ≥ 1", months)
    if problems:
        raise ConfigError(problems)
    base_overrides = {"run.months": months} if months else {}
    base = load_config(base_path, overrides=base_overrides)

    grid = raw.get("grid", {})
    for key, values in grid.items():
        if need(isinstance(values, list) and len(values) > 0, f"grid.{key}", "a non-empty list of values", values):
            _check_parameter(base, key, values, src, f"grid.{key}", problems)

    sample = raw.get("sample", {})
    method, n, ranges, levels, design_file = None, 0, {}, 4, None
    if sample:
        method = sample.get("method", "lhs")
        need(method in SAMPLERS, "sample.method", "one of " + ", ".join(SAMPLERS), method)
        allowed = SAMPLE_KEYS.get(method, ("method",))
        for key in sample:
            need(key in allowed, f"sample.{key}", f"a key of a {method} sample: " + ", ".join(allowed), key)
        if method == "posterior":  # n parameter sets drawn by weight from a posterior sample
            folder = (path.parent / str(sample.get("path", ""))).resolve()
            n = sample.get("n", 0)
            need(isinstance(n, int) and not isinstance(n, bool) and n >= 1, "sample.n", "an integer ≥ 1 (draws)", n)
            if need((folder / "posterior.parquet").is_file(), "sample.path",
                    "a posterior folder, relative to the study (wattyear calibrate --posterior)", sample.get("path")):
                design_file = folder / "posterior.parquet"
                meta = json.loads((folder / "posterior.json").read_text()) if (folder / "posterior.json").is_file() \
                    else {}
                fitted = Path(meta.get("config", ""))
                need(fitted.is_file() and fitted.resolve() == Path(base_path).resolve(), "study.base",
                     f"the config the posterior was fitted on ({fitted.name or 'unknown'}): its draws belong to it",
                     str(st.get("base", BASELINE.stem)))
                table = pd.read_parquet(design_file).drop(columns=["weight", "distance"], errors="ignore")
                for key in table.columns:
                    where = f"sample.path: column {key}"
                    if _check_parameter(base, key, [table[key].min().item(), table[key].max().item()], src, where,
                                        problems):
                        ranges[key] = (float(table[key].min()), float(table[key].max()))
                digest = hashlib.sha256(design_file.read_bytes()).hexdigest()
                text = text.rstrip("\n") + f"\n\n# posterior {folder}: sha256 {digest}\n"
        elif method == "file":
            design_file = _design_file(sample.get("path"), path.parent, src, need)
            if design_file is not None:
                ranges = _file_ranges(design_file, base, src, problems)
                # the design's fingerprint is part of the study: an edited design is another study
                digest = hashlib.sha256(design_file.read_bytes()).hexdigest()
                text = text.rstrip("\n") + f"\n\n# design {design_file.name}: sha256 {digest}\n"
        elif method in SAMPLERS:
            n = sample.get("n", 0)
            if method == "saltelli":
                need(isinstance(n, int) and not isinstance(n, bool) and n >= 4 and n & (n - 1) == 0, "sample.n",
                     "a power of 2 ≥ 4 such as 64 (Saltelli's scheme)", n)
            else:
                need(isinstance(n, int) and not isinstance(n, bool) and n >= (2 if method == "morris" else 1),
                     "sample.n", "an integer ≥ 2 (Morris trajectories)" if method == "morris" else "an integer ≥ 1",
                     n)
            if method == "morris":
                levels = sample.get("levels", 4)
                need(isinstance(levels, int) and not isinstance(levels, bool) and levels >= 2 and levels % 2 == 0,
                     "sample.levels", "an even integer ≥ 2 (the levels of a Morris grid)", levels)
            bounds = tomllib.loads(BOUNDS.read_text())["bounds"]
            given = sample.get("ranges", {})
            if need(isinstance(given, dict), "sample.ranges", "a table of parameter = [low, high] or \"bounds\"",
                    given):
                for key, rng in given.items():
                    where = f"sample.ranges.{key}"
                    if rng == "bounds":
                        if not need(key in bounds, where,
                                    f"a parameter with bounds in {BOUNDS.name} (or [low, high])", key):
                            continue
                        rng = [bounds[key]["low"], bounds[key]["high"]]
                    if need(isinstance(rng, list) and len(rng) == 2
                            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
                            and rng[0] < rng[1], where, "[low, high] with low < high, or \"bounds\"", rng):
                        if _check_parameter(base, key, list(rng), src, where, problems):
                            ranges[key] = (float(rng[0]), float(rng[1]))
                need(bool(given), "sample.ranges", "at least one parameter range", given)
        if method in ("saltelli", "morris"):  # a one-value grid only fixes parameters
            varied = sorted(k for k, v in grid.items() if isinstance(v, list) and len(v) > 1)
            need(not varied, "grid", f"no varied [grid] parameter with a {method} design (its analysis needs the "
                 "design as sampled; a one-value grid may fix parameters)", varied)
    clash = set(grid) & set(ranges)
    need(not clash, "sample.ranges", "parameters not also in [grid]", sorted(clash))

    out = raw.get("outputs", {})
    for key in out:
        need(key in OUTPUT_KEYS, f"outputs.{key}", "one of " + ", ".join(sorted(OUTPUT_KEYS)), key)
    keep = out.get("keep", "monthly")
    need(keep in KEEP, "outputs.keep", "one of " + ", ".join(KEEP), keep)
    every = out.get("every_months", 12)
    need(isinstance(every, int) and every >= 1, "outputs.every_months", "an integer ≥ 1", every)
    kinds = out.get("kinds", list(KINDS))
    if not need(isinstance(kinds, list) and all(isinstance(k, str) for k in kinds) and set(kinds) <= set(KINDS),
                "outputs.kinds", "a list from " + ", ".join(KINDS), kinds):
        kinds = list(KINDS)
    tables = out.get("tables", ["metrics"])
    if not need(isinstance(tables, list) and all(isinstance(t, str) for t in tables) and set(tables) <= set(TABLES),
                "outputs.tables", "a list from " + ", ".join(TABLES), tables):
        tables = ["metrics"]
    columns = out.get("columns")
    if columns is not None:
        from wattyear.experiments.results import METRIC_COLUMNS

        unknown = [c for c in columns if c not in METRIC_COLUMNS]
        need(isinstance(columns, list) and not unknown, "outputs.columns", "metric columns of metrics.parquet",
             unknown or columns)
    if problems:
        raise ConfigError(problems)

    study = Study(path=path, name=st.get("name", path.stem), base_path=base_path, base=base, replicates=replicates,
                  seed=seed, grid=grid, sample_method=method, sample_n=n, ranges=ranges, keep=keep,
                  common_seeds=common is True,
                  every_months=every, kinds=tuple(kinds), columns=tuple(columns) if columns else None, text=text,
                  tables=tuple(t for t in TABLES if t == "metrics" or t in tables), levels=levels,
                  design_file=design_file)
    study.runs = design(study)
    return study


def _design_file(value, folder: Path, src: str, need) -> Path | None:
    """The file of an explicit design: CSV or Parquet, relative to the study."""
    if not need(isinstance(value, str) and value.endswith((".csv", ".parquet")), "sample.path",
                "a CSV or Parquet file of parameter rows (a column per dotted parameter path)", value):
        return None
    file = (folder / value).resolve()
    return file if need(file.is_file(), "sample.path", "an existing file (relative to the study)", value) else None


def read_design(file: Path) -> pd.DataFrame:
    """An explicit design: one row per design point, one column per dotted parameter path."""
    return pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)


def _file_ranges(file: Path, base: dict, src: str, problems: list[Problem]) -> dict[str, tuple[float, float]]:
    """Check an explicit design's columns and values (each column's smallest and largest value are
    checked against the config, as a range is); return each column's range."""
    try:
        table = read_design(file)
    except Exception as exc:  # any reader error is the user's file, reported as such
        problems.append(Problem(str(file), "(file)", "a readable CSV or Parquet table", str(exc)[:200]))
        return {}
    ranges = {}
    if table.empty or not len(table.columns):
        problems.append(Problem(str(file), "(rows)", "at least one row and one parameter column", "none"))
    for key in table.columns:
        column = table[key]
        where = f"sample.path: column {key}"
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if not numeric or column.isna().any():
            problems.append(Problem(str(file), key, "numbers in every row", "a non-number or an empty cell"))
            continue
        if _check_parameter(base, key, [column.min().item(), column.max().item()], src, where, problems):
            ranges[key] = (float(column.min()), float(column.max()))
    return ranges


def _check_parameter(base: dict, key: str, values: list, src: str, where: str, problems: list[Problem]) -> bool:
    """A swept parameter must exist in the base config and accept each value."""
    f = field_at(key)
    try:
        value_at(base, key)
    except KeyError:
        f = None
    if f is None:
        problems.append(Problem(src, where, "a parameter of the base config (see docs/parameters.md)", key))
        return False
    for value in values:
        try:
            with_overrides(base, {key: _cast(f, value)})
        except ConfigError as exc:
            for p in exc.problems:
                problems.append(Problem(src, where, p.expected, p.found))
            return False
    return True


def _cast(f, value):
    """Sampled values are floats; integer parameters get the nearest integer."""
    if f is not None and f.kind == "int" and isinstance(value, float):
        return int(round(value))
    return value


def design(study: Study) -> list[RunSpec]:
    """The runs: grid × sample design points, each with ``replicates`` seeds.

    Seeds: ``numpy.random.SeedSequence(master).spawn(n_runs)``, one per run in
    run-id order, each turned into a 63-bit integer (recorded in the manifest);
    with ``common_seeds``, one per replicate, shared by every design point.
    """
    grid_keys = list(study.grid)
    grid_points = [dict(zip(grid_keys, combo)) for combo in itertools.product(*study.grid.values())] or [{}]
    sample_points: list[dict] = [{}]
    if study.sample_method == "posterior":
        from wattyear.experiments.posterior import draws

        sample_points = draws(study.design_file.parent, study.sample_n, study.seed)[1]
    elif study.sample_method == "file":
        table = read_design(study.design_file)
        sample_points = [{k: _cast(field_at(k), float(v)) for k, v in zip(table.columns, row)}
                         for row in table.itertuples(index=False)]
    elif study.ranges:
        keys = list(study.ranges)
        low = np.array([study.ranges[k][0] for k in keys])
        high = np.array([study.ranges[k][1] for k in keys])
        if study.sample_method in ("saltelli", "morris"):  # SALib's designs, in the order its analyses expect
            from wattyear.experiments.sensitivity import design as salib_design

            values = salib_design(study.sample_method, study.ranges, study.sample_n, study.seed, levels=study.levels)
        else:
            if study.sample_method == "sobol":
                sampler = qmc.Sobol(d=len(keys), scramble=True, seed=np.random.default_rng(study.seed))
            else:
                sampler = qmc.LatinHypercube(d=len(keys), seed=np.random.default_rng(study.seed))
            values = qmc.scale(sampler.random(study.sample_n), low, high)
        sample_points = [{k: _cast(field_at(k), float(v)) for k, v in zip(keys, row)} for row in values]
    points = [{**g, **s} for g in grid_points for s in sample_points]
    n_runs = study.replicates if study.common_seeds else len(points) * study.replicates
    # the children SeedSequence(seed).spawn(n_runs) would give, made one at a time (not n_runs objects at once)
    seeds = [int(np.random.SeedSequence(study.seed, spawn_key=(k,)).generate_state(1, np.uint64)[0] >> np.uint64(1))
             for k in range(n_runs)]
    runs = []
    for i, params in enumerate(points):
        for r in range(study.replicates):
            k = r if study.common_seeds else i * study.replicates + r
            runs.append(RunSpec(f"p{i:05d}-r{r:03d}", i, r, params, seeds[k]))
    return runs
