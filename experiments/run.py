"""One run: a config in; metrics, market, plots, summary and the exact config out."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from wattyear.experiments.folders import writes
from wattyear.experiments.analysis.plots import plot_market, plot_per_watt, plot_self_funding
from wattyear.experiments.results import funding_frame, leases_frame, market_frame, metrics_frame
from wattyear.experiments.analysis.summary import format_crossings, format_summary, summary_frame
from wattyear.sim.guard import check_frame
from wattyear.sim.model import WattyearModel
from wattyear.sim import outputs
from wattyear.sim.outputs import FILES as OUTPUT_FILES


#: longest run folder name; longer names keep their start and end in a hash of the whole
MAX_NAME = 120


def format_value(value) -> str:
    """An override's value as a run's name shows it: numbers and booleans as TOML writes them (the
    shorter of ``2000000000.0`` and ``2e9``), strings bare.

    >>> format_value(0.9), format_value(2e9), format_value(True), format_value("blackwell"), format_value([1, 2])
    ('0.9', '2e9', 'true', 'blackwell', '[1, 2]')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):  # the shorter of 2000000000.0 and 2e9 that reads back the same float
        mantissa, exponent = f"{value:.15e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        short = f"{mantissa}e{int(exponent)}"
        plain = repr(value)
        return short if len(short) < len(plain) and float(short) == value else plain
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def run_name(config_name: str, overrides: dict | None = None) -> str:
    """A run's name, and its folder's: the config's name and the overrides, in the order given.

    Safe as a folder name anywhere (characters other than letters, digits and ``._=+-`` become ``_``)
    and at most ``MAX_NAME`` long (a longer one ends in a hash of the whole, so names stay distinct).

    >>> run_name("baseline")
    'baseline'
    >>> run_name("baseline", {"open_weights.quality_fraction": 0.9, "run.seed": 7})
    'baseline+open_weights.quality_fraction=0.9+run.seed=7'
    >>> run_name(".."), run_name(".hidden")
    ('_.', '_hidden')
    """
    import hashlib
    import re

    name = "+".join([config_name, *(f"{k}={format_value(v)}" for k, v in (overrides or {}).items())])
    name = re.sub(r"[^A-Za-z0-9._=+-]", "_", name)
    if name.startswith("."):  # '..' or '.': one safe path component, never the folder above or this one
        name = "_" + name[1:]
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:MAX_NAME - 11]}~{digest}"
    return name


def describe(config_name: str, overrides: dict | None = None) -> str:
    """A run's label for plot titles and tables: ``baseline (open_weights.quality_fraction=0.9)``."""
    if not overrides:
        return config_name
    return f"{config_name} (" + ", ".join(f"{k}={format_value(v)}" for k, v in overrides.items()) + ")"


@dataclass
class RunResult:
    """One finished run: four tidy tables and what made them.

    ``metrics`` (month × agent), ``market`` (month × segment × provider),
    ``leases`` (one row a lease) and ``funding`` (one row a raise and
    source): the columns are listed in the README and ``wattyear.sim.outputs``.
    ``config`` is the resolved config; ``config_name`` and ``overrides`` say
    where it came from, and ``name`` is the run's folder name. ``model`` is
    the stepped model (None for a run loaded from its folder).
    """

    metrics: pd.DataFrame
    market: pd.DataFrame
    leases: pd.DataFrame
    funding: pd.DataFrame
    config: dict
    config_name: str = "config"
    overrides: dict = field(default_factory=dict)
    seconds: float = 0.0
    model: WattyearModel | None = None
    record: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return run_name(self.config_name, self.overrides)

    @property
    def label(self) -> str:
        return describe(self.config_name, self.overrides)

    @property
    def seed(self) -> int:
        return int(self.config["run"]["seed"])

    def summary(self) -> pd.DataFrame:
        """One row per lab: the start and end value of each summary metric."""
        return summary_frame(self.metrics)

    def crossings(self) -> pd.DataFrame:
        """One row per lab: the month from which it funds its next cluster from operations (its self-funding
        ratio ≥ 1 for 12 months with no outside raise): ``crossing_step`` (0 = the first month; NaN: not
        within the horizon) and ``crossing_date`` (NaT); ``censored`` (True: not crossed by the horizon);
        ``first_touch_step`` / ``first_touch_date`` (the first month its ratio reached 1); ``failed`` and
        ``failed_step``. ``dict(zip(t.agent, t.crossing_date))`` gives the mapping of earlier versions."""
        from wattyear.experiments.analysis.study_data import run_crossings

        return run_crossings(self.metrics)

    def costs(self) -> pd.DataFrame:
        """Each provider's cost stack per million tokens served, year by year, against its revenue per
        token (``wattyear.experiments.analysis.costs.cost_stack``: $/Mtok columns ``energy``,
        ``depreciation``, ``site_opex``, ``rent``, their sum ``watts``, its ``training`` and ``serving``
        parts, ``other``, ``total``, ``revenue``, and ``gross_margin``)."""
        from wattyear.experiments.analysis.costs import cost_stack

        return cost_stack(self.metrics).drop(columns=["watts_usd", "cpwy_usd"])

    def _month_labels(self) -> list[str]:
        dates = self.metrics.drop_duplicates("step").sort_values("step")["date"]
        return [str(d)[:7] for d in dates]

    def summary_text(self) -> str:
        return summary_text(self)

    def save(self, folder: str | Path | None = None, *, plots: bool = True) -> Path:
        """Write the run's folder (default ``out/<name>``): config, run record, tables, summary, plots."""
        folder = Path(folder) if folder is not None else Path("out") / self.name
        write_outputs(self, folder, plots=plots)
        return folder

    def _repr_html_(self) -> str:
        """What a notebook shows for a run: its name, seed and span, and the summary ``wattyear run`` prints
        (per lab, start → end, in the units tables use; then the crossings and outside capital)."""
        import html

        months = self.metrics["step"].nunique()
        dates = self._month_labels()
        return (f"<div><strong>wattyear run</strong> {html.escape(self.label)} · seed {self.seed} · {months} months "
                f"({dates[0]} to {dates[-1]}) · {self.metrics['agent'].nunique()} agents"
                f"<pre>{html.escape(summary_text(self))}</pre>"
                "<small>Tables: <code>.metrics</code>, <code>.market</code>, <code>.leases</code>, "
                "<code>.funding</code>; <code>.costs()</code> per Mtok; <code>.save()</code> writes the folder."
                "</small></div>")

    def __repr__(self) -> str:
        return (f"RunResult({self.label!r}, seed {self.seed}, {self.metrics['step'].nunique()} months, "
                f"{self.metrics['agent'].nunique()} agents)")


def run(config: dict, seed: int | None = None, *, config_name: str = "config",
        overrides: dict | None = None) -> RunResult:
    """Run a validated config to its horizon; ``seed`` overrides ``run.seed``. ``config_name`` and
    ``overrides`` only name the result (the overrides are already in ``config``)."""
    config = dict(config, run=dict(config["run"], **({} if seed is None else {"seed": seed})))
    t0 = time.perf_counter()
    model = WattyearModel(config).run()
    seconds = time.perf_counter() - t0
    tables = {"metrics": metrics_frame(model), "market": market_frame(model), "leases": leases_frame(model),
              "funding": funding_frame(model)}
    for name, frame in tables.items():  # the derived columns too, before anything is written
        check_frame(name, frame)
    result = RunResult(*tables.values(), config=model.scenario_config(0), config_name=config_name,
                       overrides=dict(overrides or {}), seconds=seconds, model=model)
    result.record = run_record(result)
    return result


def identity(path: Path, overrides: dict | None = None) -> tuple[str, dict]:
    """(config name, overrides) a run of the config file ``path`` carries: the file's stem and the
    overrides, or, for a run folder's ``config.resolved.toml``, the config name and overrides its
    ``run.json`` records (and any new overrides after them), so a rerun says what it reruns."""
    overrides = dict(overrides or {})
    record_path = Path(path).parent / "run.json"
    if Path(path).name == "config.resolved.toml" and record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and isinstance(record.get("config"), str):
            return record["config"], {**(record.get("overrides") or {}), **overrides}
    return Path(path).stem, overrides


def source_revision() -> str | None:
    """The git commit of the wattyear source that runs (``-dirty`` if it has uncommitted changes), or
    None for an installed package or without git."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


#: the fields of ``run.json`` that say what made a run (kept when a run read back is saved again)
PROVENANCE = ("run_seconds", "wattyear", "git_commit", "python", "numpy")


def run_record(result: RunResult) -> dict:
    """What ``run.json`` holds: the run's name, config and overrides, seed, horizon, versions."""
    from wattyear import __version__

    config = result.config
    return {
        "name": result.name,
        "label": result.label,
        "config": result.config_name,
        "overrides": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in result.overrides.items()},
        "seed": int(config["run"]["seed"]),
        "start": config["run"]["start"],
        "months": int(result.metrics["step"].nunique()),
        "run_seconds": round(result.seconds, 4),
        "wattyear": __version__,
        "git_commit": source_revision(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary name, then rename: a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _toml_ready(value):
    """tomli-w cannot write None or numpy scalars; configs hold neither, but be safe."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_parquet(frame: pd.DataFrame, path: Path, columns) -> None:
    """A table as Parquet, each column carrying its unit and meaning (``sim.outputs.with_units``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wattyear.sim.outputs import with_units

    pq.write_table(with_units(pa.Table.from_pandas(frame, preserve_index=False), columns), path)


@writes
def write_outputs(result: RunResult, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write the resolved config, run record, Parquet tables, plots and summary (into a new folder or a run
    folder, whose old plots, report and cost view go: ``experiments.folders.claim``)."""
    from wattyear.experiments.folders import claim

    out_dir = Path(out_dir)
    claim(out_dir, "run")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    cfg_path = out_dir / "config.resolved.toml"
    _atomic_write(cfg_path, lambda p: p.write_text(tomli_w.dumps(_toml_ready(result.config))))
    # what the run is comes from the result; what made it (versions, commit, time) from the record it
    # was made with, so a run read back and saved again keeps its provenance
    record = run_record(result) | {k: v for k, v in result.record.items() if k in PROVENANCE}
    run_path = out_dir / "run.json"
    _atomic_write(run_path, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    written += [cfg_path, run_path]
    for name, frame in (("metrics.parquet", result.metrics), ("market.parquet", result.market),
                        ("leases.parquet", result.leases), ("funding.parquet", result.funding)):
        path = out_dir / name
        _atomic_write(path, lambda p, f=frame, n=name: _write_parquet(f, p, OUTPUT_FILES[n][1]))
        written.append(path)
    summary = summary_text(result)
    summary_path = out_dir / "summary.txt"
    _atomic_write(summary_path, lambda p: p.write_text(summary + "\n"))
    written.append(summary_path)
    if plots:
        title = result.label
        written.append(plot_per_watt(result.metrics, out_dir / "per_watt_metrics.png", title=title))
        written.append(plot_market(result.market, out_dir / "market.png", title=title))
        written.append(plot_self_funding(result.metrics, result.funding, out_dir / "self_funding.png", title=title))
    return written


def summary_text(result: RunResult) -> str:
    """The table printed after a run, headed by the run's config and overrides."""
    metrics = result.metrics
    dates = result._month_labels()
    table = format_summary(metrics, dates[0], dates[-1])
    date_of = lambda step: dates[step]  # noqa: E731
    head = f"Run: {result.label}, seed {result.seed}"
    return head + "\n\n" + table + "\n\n" + format_crossings(metrics, date_of)


#: the columns a run's tables must have to be read back (``sim.outputs``)
KEYS = {"metrics": ("step", "date", "agent", "kind"), "market": ("step", "date", "segment", "provider"),
        "leases": (), "funding": ()}


def load_run(folder: str | Path) -> RunResult:
    """A run read back from its folder (``wattyear run`` or ``RunResult.save``)."""
    from wattyear.experiments.studies.folder_files import read_json, read_table
    from wattyear.sim.config import ConfigError, Problem, read_toml, resolve

    folder = Path(folder)
    missing = [n for n in ("run.json", "config.resolved.toml", "metrics.parquet", "market.parquet",
                           "leases.parquet", "funding.parquet") if not (folder / n).is_file()]
    if missing:
        raise ConfigError([Problem(str(folder), ", ".join(missing), "a run folder written by wattyear run",
                                   "no such file")])
    record = read_json(folder / "run.json", "a run's record (run.json, written by wattyear run)")
    config = resolve(read_toml(folder / "config.resolved.toml"), source=str(folder / "config.resolved.toml"))
    tables = {n: read_table(folder / f"{n}.parquet", f"a run's {n} table (written by wattyear run)", KEYS[n])
              for n in ("metrics", "market", "leases", "funding")}
    tables["metrics"] = outputs.upgrade(tables["metrics"])  # (a folder from before 0.2.0: today's names)
    return RunResult(**tables, config=config, config_name=record.get("config", folder.name),
                     overrides=record.get("overrides", {}), seconds=record.get("run_seconds", 0.0), record=record)
