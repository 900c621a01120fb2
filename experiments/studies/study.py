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

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from wattyear.sim.config import (BASELINE, ConfigError, Problem, find_config, load_config)
from wattyear.sim.config_files import parse_toml, read_text_file
from wattyear.experiments.studies.design import (RunSpec, check_parameter, design_path, file_ranges,
                                                 posterior_path, posterior_ranges, sample_ranges, design,
                                                 design_rows)

KEEP = ("monthly", "every", "summary")
#: space-filling designs (scipy.stats.qmc), designs for SALib's sensitivity analyses, and a design read from a file
SAMPLERS = ("lhs", "sobol", "saltelli", "morris", "file", "posterior")
#: the keys of [sample] each method takes
SAMPLE_KEYS = {"lhs": ("method", "n", "ranges"), "sobol": ("method", "n", "ranges"),
               "saltelli": ("method", "n", "ranges"), "morris": ("method", "n", "ranges", "levels"),
               "file": ("method", "path"), "posterior": ("method", "path", "n")}

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
        design_file = design_path(sample.get("path"), path.parent, src, need)
    elif method == "posterior":
        design_file = posterior_path(sample.get("path"), path.parent, need)
    keep, every, kinds, tables, columns = _outputs(out, need)
    if problems:
        raise ConfigError(problems)
    _check_size(sizes, _sample_points(sample, method, n, design_file), replicates, src, method)

    for key, values in grid.items():
        check_parameter(base, key, values, src, f"grid.{key}", problems)
    ranges: dict[str, tuple[float, float]] = {}
    design_digest = None
    if method == "posterior":
        ranges = posterior_ranges(design_file, base, base_path, st, src, need, problems)
    elif method == "file":
        ranges = file_ranges(design_file, base, src, problems)
    elif method is not None:
        ranges = sample_ranges(sample.get("ranges", {}), base, src, need, problems)
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


