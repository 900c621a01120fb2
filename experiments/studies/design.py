"""A study's design: the parameters it may vary and their ranges (``[sample.ranges]``, a design file, a
posterior's priors), checked against the base config, and the runs they make (``design``: grid × sample
points, each with its replicates' seeds). ``experiments.studies.study`` reads and checks the study file and
calls these.
"""

from __future__ import annotations

import csv
import itertools
import math
import operator
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import qmc

from wattyear.sim.config import BASELINE, CONFIG_DIR, ConfigError, Problem, field_at, value_at, with_overrides

#: the cited ranges a design's "bounds" take
BOUNDS = CONFIG_DIR / "bounds.toml"
#: the largest design file read: 10⁶ rows of a dozen parameters in CSV, with room to spare
MAX_DESIGN_BYTES = 256 * 2**20

@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of a sweep: a design point and a replicate seed."""

    run_id: str
    point: int
    replicate: int
    params: dict[str, Any]
    seed: int


class RunList(Sequence):
    """A study's runs, each ``RunSpec`` made when it is asked for: design points × replicates, in run-id order
    (point by point, each point's replicates in turn), or the runs at ``indices`` of that order (``without``).

    It holds the design points (shared by their replicates) and one 8-byte seed a run, not a ``RunSpec`` a run
    (about 190 bytes each: 19 MB at 10⁵ runs), so a large study's coordinator does not grow with its runs.

    >>> runs = RunList([{"x": 1}, {"x": 2}], replicates=2, seeds=np.array([7, 8, 9, 10], dtype=np.uint64))
    >>> [(r.run_id, r.params["x"], r.seed) for r in runs]
    [('p00000-r000', 1, 7), ('p00000-r001', 1, 8), ('p00001-r000', 2, 9), ('p00001-r001', 2, 10)]
    >>> [r.run_id for r in runs.without({"p00000-r001"})][1:]
    ['p00001-r000', 'p00001-r001']
    >>> runs[-1].run_id, len(runs[1:3]), runs[1:3][0].run_id
    ('p00001-r001', 2, 'p00000-r001')
    """

    def __init__(self, points: list[dict], replicates: int, seeds: np.ndarray, common_seeds: bool = False,
                 indices: np.ndarray | None = None):
        self.points, self.replicates, self.seeds, self.common_seeds = points, replicates, seeds, common_seeds
        self.indices = indices  #: the runs kept, as positions in the whole design's order (None: all of them)

    def __len__(self) -> int:
        return len(self.points) * self.replicates if self.indices is None else len(self.indices)

    def _spec(self, k: int) -> RunSpec:
        i, r = divmod(k, self.replicates)
        return RunSpec(f"p{i:05d}-r{r:03d}", i, r, self.points[i], int(self.seeds[r if self.common_seeds else k]))

    def positions(self) -> np.ndarray:
        """(len,) each run's position in the whole design's order."""
        return np.arange(len(self), dtype=np.int64) if self.indices is None else self.indices

    def at(self, positions) -> "RunList":
        """The runs at ``positions`` (of this list: a slice or an integer array), in that order."""
        if self.indices is None and isinstance(positions, slice):  # no arange of the whole design per slice
            picked = np.arange(*positions.indices(len(self)), dtype=np.int64)
        else:
            picked = self.positions()[positions]
        return RunList(self.points, self.replicates, self.seeds, self.common_seeds, picked)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.at(item)
        item = operator.index(item)
        n = len(self)
        if not -n <= item < n:
            raise IndexError(f"run {item} of {n}")
        item %= n
        return self._spec(item if self.indices is None else int(self.indices[item]))

    def __iter__(self):
        for k in (range(len(self)) if self.indices is None else self.indices.tolist()):
            yield self._spec(k)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None

    def without(self, run_ids) -> "RunList":
        """The runs not in ``run_ids``, in run order (itself when there are none to leave out). An id is
        read as its position (``p<point>-r<replicate>``); ids of no run of the design are ignored."""
        if not run_ids:
            return self
        gone = []
        for run_id in run_ids:
            point, sep, replicate = str(run_id).partition("-r")
            if sep and point[:1] == "p" and point[1:].isdigit() and replicate.isdigit() \
                    and int(replicate) < self.replicates and int(point[1:]) < len(self.points):
                gone.append(int(point[1:]) * self.replicates + int(replicate))
        positions = self.positions()
        keep = positions[~np.isin(positions, np.array(gone, dtype=np.int64))]
        return RunList(self.points, self.replicates, self.seeds, self.common_seeds, keep)

    def __repr__(self) -> str:
        return f"RunList({len(self)} runs of {len(self.points)} points × {self.replicates} replicates)"


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


def posterior_path(value, folder: Path, need) -> Path | None:
    """The sample file of a posterior folder (``wattyear calibrate --posterior``), relative to the study."""
    posterior = (folder / str(value if value is not None else "")).resolve()
    if need(isinstance(value, str) and (posterior / "posterior.parquet").is_file(), "sample.path",
            "a posterior folder, relative to the study (wattyear calibrate --posterior)", value):
        return posterior / "posterior.parquet"
    return None


def posterior_ranges(file: Path, base: dict, base_path: Path, st: dict, src: str, need,
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
        if check_parameter(base, key, [low, high], src, f"sample.path: column {key}", problems):
            ranges[key] = (float(low), float(high))
    return ranges


def sample_ranges(given: dict, base: dict, src: str, need, problems: list[Problem]) -> dict[str, tuple[float, float]]:
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
            if check_parameter(base, key, list(rng), src, where, problems) and \
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


def design_path(value, folder: Path, src: str, need) -> Path | None:
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


def file_ranges(file: Path, base: dict, src: str, problems: list[Problem]) -> dict[str, tuple[float, float]]:
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
        if check_parameter(base, key, [column.min().item(), column.max().item()], src, where, problems):
            ranges[key] = (float(column.min()), float(column.max()))
    return ranges


#: parameters a study cannot sweep, and why: each run's seed is drawn from the study's (a swept one was
#: recorded and ignored: identical runs), and the analysis reads every run on the first run's calendar and
#: to the longest horizon
UNSWEPT = {"run.seed": "run.seed is drawn for each run from [study] seed: use replicates for more seeds",
           "run.start": "every run of a study is read on one calendar: make one study per start",
           "run.months": "every run of a study is analysed to one horizon, where a shorter run would count as "
                         "censored and its horizon as an effect: set [study] months, one study per horizon"}


def check_parameter(base: dict, key: str, values: list, src: str, where: str, problems: list[Problem]) -> bool:
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


def design(study: "Study") -> RunList:  # noqa: F821  (experiments.studies.study.Study, which imports this)
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
    seeds = np.fromiter((np.random.SeedSequence(study.seed, spawn_key=(k,)).generate_state(1, np.uint64)[0]
                         >> np.uint64(1) for k in range(n_runs)), dtype=np.uint64, count=n_runs)
    return RunList(points, study.replicates, seeds, study.common_seeds)
