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
``replicates`` times. Everything is checked before any run starts: every
key's type and value (a ConfigError naming the file and the key), the name
(one plain folder name: it names ``out/<name>``), and the size: at most
``MAX_RUNS`` runs, computed from the grid's lengths, ``n`` and a design
file's row count before any design is made.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import qmc

from wattyear.sim.config import (BASELINE, CONFIG_DIR, ConfigError, Problem, field_at, find_config, load_config,
                                 value_at, with_overrides)
from wattyear.sim.config_files import parse_toml, read_text_file

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
#: the most runs (design points × replicates) one study may have. Checked from the sizes the file gives
#: (the grid's lengths, ``n``, a design file's row count) before any design is made: a mistyped size is
#: refused at once instead of filling the memory (a 10⁶-run design takes about 1.5 GB to make). Split a
#: larger study into several, each in its own folder
MAX_RUNS = 10**6
#: the largest design file read: 10⁶ rows of a dozen parameters in CSV, with room to spare
MAX_DESIGN_BYTES = 256 * 2**20
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
    if path.exists():  # a folder, a device, a pipe: say so rather than "no such file"
        read_text_file(path, "a study file (TOML, UTF-8)")
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
    #: the explicit design (CSV or Parquet) of method = "file", or the posterior's sample
    design_file: Path | None = None
    design_sha256: str | None = None  #: the design file's hash: part of what a result folder's runs came from
    runs: list[RunSpec] = field(default_factory=list)
    text: str = ""  #: the study as TOML (a sweep keeps it as ``study.toml`` beside its results)


def load_study(study: str | Path | dict) -> Study:
    """Read and check a study: a file, the name of a packaged study, or the file's tables as a dict
    (``{"study": {...}, "grid": {...}}``, paths relative to the working folder). Raise ConfigError
    naming file and key on any problem.

    The checks run cheapest first: the tables' types, then the study's size (from the grid's lengths,
    ``n`` and a design file's row count, before any design is made), then each value against the base
    config, so a study too large to run is refused in a moment instead of filling the memory."""
    raw, text, path, src = _read_study(study)
    problems: list[Problem] = []

    def need(cond: bool, key: str, expected: str, found: Any) -> bool:
        if not cond:
            problems.append(Problem(src, key, expected, found))
        return cond

    for key in raw:
        need(key in ("study", "grid", "sample", "outputs"), key, "one of the tables study, grid, sample, outputs",
             key)
    st, grid, sample, out = (_table(raw, key, need) for key in ("study", "grid", "sample", "outputs"))
    for key in st:
        need(key in STUDY_KEYS, f"study.{key}", "one of " + ", ".join(sorted(STUDY_KEYS)), key)
    name = st.get("name", path.stem)
    need(safe_name(name), "study.name", "a plain folder name, as it names the output folder out/<name> (no / \\ : "
         "or control characters, not starting with '.' or a space, at most 100 characters)", name)
    base_path = BASELINE
    if "base" in st:  # a file relative to the study, else a packaged config's name ("baseline")
        if need(isinstance(st["base"], str) and st["base"] != "", "study.base",
                "a config file (relative to the study) or a packaged config's name, as text", st["base"]):
            try:
                base_path = find_config(st["base"], folder=path.parent).resolve()
            except ConfigError as exc:
                found = exc.problems[0].found if exc.problems else st["base"]
                need(False, "study.base", "a config file (relative to the study) or a packaged config",
                     st["base"] if found == "no such file" else f"{st['base']}: {found}")
    replicates = st.get("replicates", 1)
    need(_is_int(replicates, 1), "study.replicates", "an integer ≥ 1", replicates)
    seed = st.get("seed", 0)
    need(_is_int(seed, 0), "study.seed", "an integer ≥ 0", seed)
    common = st.get("common_seeds", False)
    need(isinstance(common, bool), "study.common_seeds", "true or false", common)
    months = st.get("months")
    need(months is None or _is_int(months, 1), "study.months", "an integer ≥ 1", months)
    if problems:
        raise ConfigError(problems)
    base = _base_config(base_path, months, src)

    sizes = _grid_sizes(grid, need)
    method, n, levels = _sample_settings(sample, need)
    design_file = None
    if method == "file":
        design_file = _design_file(sample.get("path"), path.parent, src, need)
    elif method == "posterior":
        design_file = _posterior_file(sample.get("path"), path.parent, need)
    keep, every, kinds, tables, columns = _outputs(out, need)
    if problems:
        raise ConfigError(problems)
    _check_size(sizes, _sample_points(sample, method, n, design_file), replicates, src, method)

    for key, values in grid.items():
        _check_parameter(base, key, values, src, f"grid.{key}", problems)
    ranges: dict[str, tuple[float, float]] = {}
    design_digest = None
    if method == "posterior":
        ranges = _posterior_ranges(design_file, base, base_path, st, src, need, problems)
    elif method == "file":
        ranges = _file_ranges(design_file, base, src, problems)
    elif method is not None:
        ranges = _sample_ranges(sample.get("ranges", {}), base, src, need, problems)
    if design_file is not None:  # the design's fingerprint is part of the study: an edited design is another study
        design_digest = hashlib.sha256(design_file.read_bytes()).hexdigest()
        what = f"posterior {design_file.parent}" if method == "posterior" else f"design {design_file.name}"
        text = text.rstrip("\n") + f"\n\n# {what}: sha256 {design_digest}\n"
    if method in ("saltelli", "morris"):  # a one-value grid only fixes parameters
        varied = sorted(k for k, size in sizes.items() if size > 1)
        need(not varied, "grid", f"no varied [grid] parameter with a {method} design (its analysis needs the "
             "design as sampled; a one-value grid may fix parameters)", varied)
    clash = set(grid) & set(ranges)
    need(not clash, "sample.ranges", "parameters not also in [grid]", sorted(clash))
    if problems:
        raise ConfigError(problems)

    study = Study(path=path, name=name, base_path=base_path, base=base, replicates=replicates,
                  seed=seed, grid=grid, sample_method=method, sample_n=n, ranges=ranges, keep=keep,
                  common_seeds=common is True,
                  every_months=every, kinds=tuple(kinds), columns=tuple(columns) if columns else None, text=text,
                  tables=tuple(t for t in TABLES if t == "metrics" or t in tables), levels=levels,
                  design_file=design_file, design_sha256=design_digest)
    study.runs = design(study)
    return study


def _read_study(study: str | Path | dict) -> tuple[dict, str, Path, str]:
    """(tables, the study as TOML text, the path relative paths start from, the name problems are
    reported under) of a study file, packaged study or dict. A file that is not UTF-8 text, not a
    regular file or too large is refused by the reader before it is parsed."""
    import copy

    import tomli_w

    if not isinstance(study, dict):
        path = find_study(study)
        text = read_text_file(path, "a study file (TOML, UTF-8)")
        return parse_toml(text, str(path)), text, path, str(path)
    raw = copy.deepcopy(study)
    try:
        text = tomli_w.dumps(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError([Problem("<study dict>", "(tables)", "tables TOML can hold", str(exc))]) from None
    name = raw["study"].get("name", "study") if isinstance(raw.get("study"), dict) else "study"
    # where its relative paths start; the name is checked with the rest (an unsafe one never names a file)
    return raw, text, Path.cwd() / f"{name if safe_name(name) else 'study'}.toml", "<study dict>"


def _table(raw: dict, key: str, need) -> dict:
    """One of the study's tables, ``{}`` when absent; any other value is a problem (and ``{}``)."""
    value = raw.get(key, {})
    return value if need(isinstance(value, dict), key, f"a table ([{key}])", value) else {}


def _is_int(value, low: int) -> bool:
    """An integer (not a boolean, which TOML keeps apart but Python counts as one) ≥ ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


#: characters a study's name may not hold: it names a folder (``out/<name>``)
_UNSAFE = set('/\\:\0') | {chr(c) for c in range(32)} | {chr(127)}


def safe_name(name) -> bool:
    """Whether ``name`` is one plain path component: a study's name is its default output folder, so a
    name such as ``../../x`` or ``/etc`` must never lead outside ``out/``.

    Nor may it hide what it is: no leading or trailing space, and every character printable (a
    right-to-left override or an escape sequence would show another name than the folder's).

    >>> [safe_name(n) for n in ("llama-pressure", "run 2", "../x", "/etc", ".", ".hidden", "", "a/b")]
    [True, True, False, False, False, False, False, False]
    >>> [safe_name(n) for n in (" x", "x\u202etxt", "x\x1b[0m")]
    [False, False, False]
    """
    return (isinstance(name, str) and 0 < len(name) <= 100 and not name.startswith((".", " "))
            and not name.endswith(" ") and name.isprintable() and not _UNSAFE & set(name))


def _base_config(base_path: Path, months: int | None, src: str) -> dict:
    """The study's base config with its ``months``; a horizon the config refuses is the study's
    problem (``study.months``), not an override's."""
    try:
        return load_config(base_path, overrides={"run.months": months} if months else {})
    except ConfigError as exc:
        raise ConfigError([Problem(src, "study.months", p.expected, p.found) if p.source == "--set" else p
                           for p in exc.problems]) from None


def _grid_sizes(grid: dict, need) -> dict[str, int]:
    """Each grid parameter's number of values (its values are checked later, once the size is known)."""
    return {key: len(values) for key, values in grid.items()
            if need(isinstance(values, list) and len(values) > 0, f"grid.{key}", "a non-empty list of values",
                    values)}


def _sample_settings(sample: dict, need) -> tuple[str | None, int, int]:
    """(method, n, Morris levels) of ``[sample]``, checked; method None without a usable sample."""
    if not sample:
        return None, 0, 4
    method = sample.get("method", "lhs")
    if not need(isinstance(method, str) and method in SAMPLERS, "sample.method", "one of " + ", ".join(SAMPLERS),
                method):
        return None, 0, 4
    allowed = SAMPLE_KEYS[method]
    for key in sample:
        need(key in allowed, f"sample.{key}", f"a key of a {method} sample: " + ", ".join(allowed), key)
    n, levels = sample.get("n", 0), 4
    if method == "posterior":  # n parameter sets drawn by weight from a posterior sample
        need(_is_int(n, 1), "sample.n", "an integer ≥ 1 (draws)", n)
    elif method == "saltelli":
        need(_is_int(n, 4) and n & (n - 1) == 0, "sample.n", "a power of 2 ≥ 4 such as 64 (Saltelli's scheme)", n)
    elif method == "morris":
        need(_is_int(n, 2), "sample.n", "an integer ≥ 2 (Morris trajectories)", n)
        levels = sample.get("levels", 4)
        need(_is_int(levels, 2) and levels % 2 == 0, "sample.levels",
             "an even integer ≥ 2 (the levels of a Morris grid)", levels)
    elif method != "file":
        need(_is_int(n, 1), "sample.n", "an integer ≥ 1", n)
    if method in ("lhs", "sobol", "saltelli", "morris"):
        given = sample.get("ranges", {})
        if need(isinstance(given, dict), "sample.ranges", "a table of parameter = [low, high] or \"bounds\"", given):
            need(bool(given), "sample.ranges", "at least one parameter range", given)
    return method, n if _is_int(n, 0) else 0, levels if _is_int(levels, 0) else 4


def _sample_points(sample: dict, method: str | None, n: int, design_file: Path | None) -> int:
    """Design points ``[sample]`` makes, counted from its settings (a design file's rows without
    reading it): ``n``, ``n (D + 2)`` for Saltelli's scheme, ``n (D + 1)`` for Morris."""
    d = len(sample.get("ranges", {})) if isinstance(sample.get("ranges", {}), dict) else 0
    if method is None:
        return 1
    if method == "file":
        return design_rows(design_file) if design_file is not None else 1
    return n * {"saltelli": d + 2, "morris": d + 1}.get(method, 1)


def design_rows(file: Path) -> int:
    """Rows of a design file, counted without loading it: a Parquet file's footer, a CSV's records as the
    parser reads them (any line break, ``\\r`` alone included; blank lines are not rows), less the header.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = path.write_bytes(b"world.pue\\r1.2\\r1.3\\r\\r1.4")
    >>> design_rows(path)
    3
    """
    if file.suffix == ".parquet":
        try:
            return pq.read_metadata(file).num_rows
        except Exception:  # the reader reports an unreadable file
            return 0
    try:
        with file.open(newline="", encoding="utf-8-sig") as fh:
            return max(sum(1 for row in csv.reader(fh) if row) - 1, 0)
    except (OSError, UnicodeDecodeError, csv.Error):  # the reader reports an unreadable file
        return 0


def _check_size(sizes: dict[str, int], sample_points: int, replicates: int, src: str, method: str | None) -> None:
    """Refuse a study of more than ``MAX_RUNS`` runs, computed from the sizes alone (no design is made)."""
    points = math.prod(sizes.values()) * sample_points
    runs = points * replicates
    if runs <= MAX_RUNS:
        return
    sample_key = {"file": "sample.path", None: ""}.get(method, "sample.n")
    keys = [k for k, big in (("grid", math.prod(sizes.values()) > 1), (sample_key, sample_points > 1),
                             ("study.replicates", replicates > 1)) if big and k]
    raise ConfigError([Problem(src, " × ".join(keys) or "study", f"at most {MAX_RUNS:,} runs (design points × "
                               "replicates); split a larger study into several",
                               f"{runs:,} runs ({points:,} points × {replicates:,} replicates)")])


def _posterior_file(value, folder: Path, need) -> Path | None:
    """The sample file of a posterior folder (``wattyear calibrate --posterior``), relative to the study."""
    posterior = (folder / str(value if value is not None else "")).resolve()
    if need(isinstance(value, str) and (posterior / "posterior.parquet").is_file(), "sample.path",
            "a posterior folder, relative to the study (wattyear calibrate --posterior)", value):
        return posterior / "posterior.parquet"
    return None


def _posterior_ranges(file: Path, base: dict, base_path: Path, st: dict, src: str, need,
                      problems: list[Problem]) -> dict[str, tuple[float, float]]:
    """A posterior's parameters and their ranges, checked against the base config, which must be the
    config the posterior was fitted on (``posterior.json``); the folder itself is checked as every reader
    of one checks it (``calibration.posterior.read_posterior``)."""
    from wattyear.experiments.calibration.posterior import read_posterior

    try:
        posterior = read_posterior(file.parent)
    except ConfigError as exc:  # a damaged posterior is the user's folder, reported file by file
        problems.extend(exc.problems)
        return {}
    need(posterior.config.resolve() == Path(base_path).resolve(), "study.base",
         f"the config the posterior was fitted on ({posterior.config.name}): its draws belong to it",
         str(st.get("base", BASELINE.stem)))
    ranges = {}
    for key in posterior.names:
        low, high = posterior.values[key].min().item(), posterior.values[key].max().item()
        if _check_parameter(base, key, [low, high], src, f"sample.path: column {key}", problems):
            ranges[key] = (float(low), float(high))
    return ranges


def _sample_ranges(given: dict, base: dict, src: str, need, problems: list[Problem]) -> dict[str, tuple[float, float]]:
    """``[sample.ranges]``: each parameter's [low, high] (finite numbers, low < high) or its cited
    ``"bounds"``, checked against the base config."""
    bounds = tomllib.loads(BOUNDS.read_text())["bounds"]
    ranges = {}
    for key, rng in given.items():
        where = f"sample.ranges.{key}"
        if rng == "bounds":
            if not need(key in bounds, where, f"a parameter with bounds in {BOUNDS.name} (or [low, high])", key):
                continue
            rng = [bounds[key]["low"], bounds[key]["high"]]
        if need(isinstance(rng, list) and len(rng) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in rng)
                and rng[0] < rng[1], where, "[low, high] with low < high, or \"bounds\"", rng):
            if _check_parameter(base, key, list(rng), src, where, problems) and \
                    need(_integers_in(field_at(key), rng) not in (0, 1), where, _FEW_INTEGERS, _held(rng)):
                ranges[key] = (float(rng[0]), float(rng[1]))
    return ranges


_FEW_INTEGERS = ("a range holding at least 2 integers (an integer parameter's sampled values are rounded: a "
                 "narrower range gives values outside it, or one value and no effect to measure)")


def _integers_in(f, rng) -> int | None:
    """How many integers [low, high] holds, for an integer parameter (None for another kind).

    >>> from wattyear.sim.config import field_at
    >>> [_integers_in(field_at("world.lease_lead_months"), r) for r in ([6.2, 6.8], [6.0, 6.4], [6, 7], [0.5, 9])]
    [0, 1, 2, 9]
    >>> _integers_in(field_at("world.pue"), [1.1, 1.2]) is None
    True
    """
    if f is None or f.kind != "int":
        return None
    return max(math.floor(rng[1]) - math.ceil(rng[0]) + 1, 0)


def _held(rng) -> str:
    """What [low, high] holds of the integers, for a message: 'no integer' or 'only 6'."""
    low, high = math.ceil(rng[0]), math.floor(rng[1])
    return f"[{rng[0]:g}, {rng[1]:g}]: " + ("no integer" if high < low else f"only {low}")


def _outputs(out: dict, need) -> tuple[str, int, list[str], list[str], list[str] | None]:
    """``[outputs]``, checked: (keep, every_months, kinds, tables, columns)."""
    for key in out:
        need(key in OUTPUT_KEYS, f"outputs.{key}", "one of " + ", ".join(sorted(OUTPUT_KEYS)), key)
    keep = out.get("keep", "monthly")
    need(isinstance(keep, str) and keep in KEEP, "outputs.keep", "one of " + ", ".join(KEEP), keep)
    every = out.get("every_months", 12)
    need(_is_int(every, 1), "outputs.every_months", "an integer ≥ 1", every)
    kinds = out.get("kinds", list(KINDS))
    if not need(_str_list(kinds, KINDS), "outputs.kinds", "a list from " + ", ".join(KINDS), kinds):
        kinds = list(KINDS)
    tables = out.get("tables", ["metrics"])
    if not need(_str_list(tables, TABLES), "outputs.tables", "a list from " + ", ".join(TABLES), tables):
        tables = ["metrics"]
    columns = out.get("columns")
    if columns is not None:
        from wattyear.experiments.results import METRIC_COLUMNS

        listed = isinstance(columns, list) and all(isinstance(c, str) for c in columns)
        unknown = [c for c in columns if c not in METRIC_COLUMNS] if listed else columns
        need(listed and bool(columns) and not unknown, "outputs.columns", "a non-empty list of metric columns of "
             "metrics.parquet (leave it out to keep them all)", unknown or columns)
    return keep, every, kinds, tables, columns


def _str_list(value, allowed: tuple[str, ...]) -> bool:
    """A list of names, each one of ``allowed``."""
    return isinstance(value, list) and all(isinstance(v, str) and v in allowed for v in value)


def _design_file(value, folder: Path, src: str, need) -> Path | None:
    """The file of an explicit design: CSV or Parquet, relative to the study."""
    if not need(isinstance(value, str) and value.endswith((".csv", ".parquet")), "sample.path",
                "a CSV or Parquet file of parameter rows (a column per dotted parameter path)", value):
        return None
    file = (folder / value).resolve()
    if not need(file.is_file(), "sample.path", "an existing file (relative to the study)", value):
        return None
    size = file.stat().st_size
    return file if need(size <= MAX_DESIGN_BYTES, "sample.path", f"a design file of at most {MAX_DESIGN_BYTES:,} "
                        f"bytes (split a larger study into several)", f"{value}: {size:,} bytes") else None


def design_columns(file: Path) -> list[str]:
    """A design's column names as the file writes them (pandas would rename a repeated one ``name.1``)."""
    if file.suffix == ".parquet":
        return list(pq.read_schema(file).names)
    with file.open(newline="", encoding="utf-8-sig") as fh:
        return [name.strip() for name in next(csv.reader(fh), [])]


def read_design(file: Path) -> pd.DataFrame:
    """An explicit design: one row per design point, one column per dotted parameter path."""
    return pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)


def _file_ranges(file: Path, base: dict, src: str, problems: list[Problem]) -> dict[str, tuple[float, float]]:
    """Check an explicit design's columns and values (each column's smallest and largest value are
    checked against the config, as a range is); return each column's range."""
    try:
        names = design_columns(file)
        table = read_design(file)
    except Exception as exc:  # any reader error is the user's file, reported as such
        problems.append(Problem(str(file), "(file)", "a readable CSV or Parquet table", str(exc)[:200]))
        return {}
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(Problem(str(file), "(columns)", "each parameter's column once", ", ".join(twice) + " twice"))
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


#: parameters a study cannot sweep, and why: each run's seed is drawn from the study's (a swept one was
#: recorded and ignored: identical runs), and the analysis reads every run on the first run's calendar and
#: to the longest horizon
UNSWEPT = {"run.seed": "run.seed is drawn for each run from [study] seed: use replicates for more seeds",
           "run.start": "every run of a study is read on one calendar: make one study per start",
           "run.months": "every run of a study is analysed to one horizon, where a shorter run would count as "
                         "censored and its horizon as an effect: set [study] months, one study per horizon"}


def _check_parameter(base: dict, key: str, values: list, src: str, where: str, problems: list[Problem]) -> bool:
    """A swept parameter must exist in the base config and accept each value."""
    f = field_at(key)
    try:
        value_at(base, key)
    except KeyError:
        f = None
    if f is None:
        from wattyear.sim.config import did_you_mean, parameter_paths

        problems.append(Problem(src, where, "a parameter of the base config (`wattyear params` lists them)"
                                + did_you_mean(key, parameter_paths(base)), key))
        return False
    if key in UNSWEPT:
        problems.append(Problem(src, where, f"a parameter a study can vary ({UNSWEPT[key]})", key))
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
        from wattyear.experiments.calibration.posterior import draws

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
            from wattyear.experiments.analysis.sensitivity import design as salib_design

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
