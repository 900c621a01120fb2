"""The public API: what ``import wattyear`` offers.

    >>> import wattyear
    >>> result = wattyear.run(months=12)                    # the calibrated baseline, one year
    >>> result.metrics.query("kind == 'lab'").shape
    (48, 67)

Configs are named as on the command line: a TOML file, the name of a packaged
config (``"baseline"``, ``"colossus_lease"``) or a config dict; ``overrides``
are dotted paths (``{"open_weights.quality_fraction": 0.9}``), checked like a
file. Every result is a set of tidy pandas DataFrames: ``metrics`` (month ×
agent), ``market`` (month × segment × provider), ``leases`` and ``funding``,
the columns listed in the README.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from wattyear.experiments.run import RunResult, identity, load_run, run_name, run_record
from wattyear.sim.config import ConfigError, Problem, extend, find_config, relabel, resolve
from wattyear.sim.config import load_config as _load_file
from wattyear.sim.guard import ModelError  # noqa: F401  (part of the API: a run the run-time guard stopped)


def load_config(config: str | Path | dict | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """A validated config with defaults filled: a file, a packaged config's name or a dict (default
    the baseline), with ``overrides`` by dotted path. Raises ``ConfigError`` naming each problem.

    >>> load_config(overrides={"open_weights.quality_fraction": 0.9})["open_weights"]["quality_fraction"]
    0.9
    """
    return _config_and_name(config, overrides)[0]


def _config_and_name(config, overrides, name: str | None = None) -> tuple[dict, str, dict]:
    """(validated config, config name, overrides as the run's name shows them)."""
    try:
        if config is None or isinstance(config, (str, Path)):
            path = find_config(config)
            config_name, shown = identity(path, overrides)
            return _load_file(path, overrides=overrides), name or config_name, shown
        if isinstance(config, dict):  # "extends" works as in a file, from the working folder
            raw = extend(config, Path.cwd(), "<config dict>")
            return resolve(raw, source="<config dict>", overrides=overrides), name or "config", dict(overrides or {})
    except ConfigError as exc:
        raise relabel(exc, "overrides") from None
    raise TypeError(f"config: expected a file, a packaged config's name or a dict, found {type(config).__name__}")


def _shortcuts(overrides: dict | None, months: int | None, seed: int | None) -> dict:
    out = dict(overrides or {})
    if months is not None:
        out["run.months"] = months
    if seed is not None:
        out["run.seed"] = seed
    return out


def run(config: str | Path | dict | None = None, *, overrides: dict[str, Any] | None = None,
        months: int | None = None, seed: int | None = None, name: str | None = None) -> RunResult:
    """Run one scenario to its horizon and return its tables (``RunResult``).

    ``months`` and ``seed`` are shortcuts for the overrides ``run.months`` and
    ``run.seed``. The run is named after its config file (a dict: ``name``,
    default ``"config"``) and the overrides; ``result.save()`` writes the
    folder ``wattyear run`` would (``out/<config name>+<overrides>``).
    """
    from wattyear.experiments.run import run as run_config

    overrides = _shortcuts(overrides, months, seed)
    cfg, config_name, shown = _config_and_name(config, overrides, name)
    return run_config(cfg, config_name=config_name, overrides=shown)


@dataclass
class EnsembleResult:
    """Scenarios stepped together as one model. Each table is every scenario's, stacked, with the
    columns ``scenario`` (its index), ``name`` (what its run folder would be called) and ``seed``
    in front; ``scenarios`` has one row per scenario. ``result.run(i)`` is scenario i alone, a
    ``RunResult`` bit-identical to running it by itself."""

    scenarios: pd.DataFrame
    metrics: pd.DataFrame
    market: pd.DataFrame
    leases: pd.DataFrame
    funding: pd.DataFrame
    model: Any = field(repr=False, default=None)
    _runs: list[RunResult] = field(repr=False, default_factory=list)

    def run(self, i: int) -> RunResult:
        return self._runs[i]

    def __len__(self) -> int:
        return len(self._runs)


def run_ensemble(configs: Any = None, *, overrides: dict | Sequence[dict] | None = None,
                 seeds: Sequence[int] | None = None, months: int | None = None) -> EnsembleResult:
    """Run several scenarios as one ensemble (one model with a scenario axis: fast, and each member is
    bit-identical to its run alone).

    ``configs``: one config (file, packaged name or dict) or a list of them;
    ``overrides``: one dict for all, or a list of dicts, one per scenario;
    ``seeds``: a seed per scenario, or, for a single scenario, one seed per
    replicate. Lists must have the same length.

    >>> ens = run_ensemble(overrides=[{"open_weights.quality_fraction": q} for q in (0.6, 0.9)], months=6)
    >>> ens.scenarios["name"].tolist()
    ['baseline+open_weights.quality_fraction=0.6+run.months=6', 'baseline+open_weights.quality_fraction=0.9+run.months=6']
    """
    from wattyear.experiments.results import funding_frame, leases_frame, market_frame, metrics_frame, \
        stacked_metrics
    from wattyear.sim.model import WattyearModel

    config_list = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    override_list = list(overrides) if isinstance(overrides, (list, tuple)) else [overrides]
    lengths = {"configs": len(config_list), "overrides": len(override_list),
               "seeds": len(seeds) if seeds is not None else 1}
    n = max(lengths.values())
    if any(k not in (1, n) for k in lengths.values()):
        raise ConfigError([Problem("run_ensemble", ", ".join(lengths), "lists of one length (an item per "
                                   "scenario) or single items", ", ".join(f"{v} {k}" for k, v in lengths.items()))])
    broadcast = lambda items: items * n if len(items) == 1 else items  # noqa: E731
    seed_list = broadcast(list(seeds) if seeds is not None else [None])
    members = []
    for config, extra, seed in zip(broadcast(config_list), broadcast(override_list), seed_list):
        extra = _shortcuts(extra, months, None if seed is None else int(seed))
        members.append(_config_and_name(config, extra))
    model = WattyearModel([cfg for cfg, _, _ in members]).run()
    stacked = stacked_metrics(model)
    runs, tables = [], {"metrics": [], "market": [], "leases": [], "funding": []}
    for i, (_, name, extra) in enumerate(members):
        frames = {"metrics": metrics_frame(model, i, stacked), "market": market_frame(model, i),
                  "leases": leases_frame(model, i), "funding": funding_frame(model, i)}
        result = RunResult(**frames, config=model.scenario_config(i), config_name=name, overrides=extra)
        result.record = run_record(result)
        runs.append(result)
        for key, frame in frames.items():
            tables[key].append(frame.assign(scenario=i, name=result.name, seed=result.seed))
    front = ["scenario", "name", "seed"]
    joined = {key: (lambda t: t[front + [c for c in t.columns if c not in front]])(pd.concat(frames, ignore_index=True))
              for key, frames in tables.items()}
    scenarios = pd.DataFrame({"scenario": np.arange(len(runs)), "name": [r.name for r in runs],
                              "label": [r.label for r in runs], "seed": [r.seed for r in runs],
                              "config": [r.config_name for r in runs],
                              "overrides": [json.dumps(r.overrides, sort_keys=True, default=str) for r in runs]})
    return EnsembleResult(scenarios, **joined, model=model, _runs=runs)


@dataclass
class StudyResult:
    """A sweep's folder: ``manifest`` (one row per run: id, design point, replicate, seed, status and
    one column per swept parameter) and ``metrics`` (every finished run's kept rows, with run_id,
    seed and the swept parameters, and ``crossing_step``, read from every month; read when first asked
    for); ``market``, ``funding`` and ``leases`` when the study keeps them.

    Tables are read from the study's packed files (one a table, written at the end of a sweep); a folder
    whose runs changed since is packed again when first read, which ``progress`` shows (default: in a
    Jupyter notebook, as a widget, and not elsewhere)."""

    folder: Path
    _metrics: pd.DataFrame | None = field(default=None, repr=False)
    progress: bool | None = field(default=None, repr=False)

    def _shows_progress(self) -> bool:
        return in_notebook() if self.progress is None else self.progress

    @property
    def manifest(self) -> pd.DataFrame:
        from wattyear.experiments.studies.store import ResultStore

        table = ResultStore(self.folder).manifest()
        if "params" not in table:
            return table
        # one column per swept parameter, named by its dotted path, after the run's identity and status
        params = pd.DataFrame(table["params"].tolist(), index=table.index)
        front = [c for c in ("run_id", "point", "replicate", "seed", "status") if c in table]
        rest = [c for c in table.columns if c not in front and c != "params"]
        return pd.concat([table[front], params, table[rest]], axis=1)

    @property
    def metrics(self) -> pd.DataFrame:
        if self._metrics is None:
            from wattyear.experiments.studies.store import ResultStore
            from wattyear.sim.outputs import upgrade

            # (a folder from before 0.2.0 reads with today's names)
            self._metrics = upgrade(ResultStore(self.folder).load(progress=self._shows_progress()))
        return self._metrics

    @property
    def market(self) -> pd.DataFrame:
        """Every run's market rows (a study that keeps them: ``tables = ["market"]`` in [outputs])."""
        return self._table("market")

    @property
    def funding(self) -> pd.DataFrame:
        """Every run's raises (a study that keeps them: ``tables = ["funding"]``)."""
        return self._table("funding")

    @property
    def leases(self) -> pd.DataFrame:
        """Every run's leases (a study that keeps them: ``tables = ["leases"]``)."""
        return self._table("leases")

    def _table(self, name: str) -> pd.DataFrame:
        from wattyear.experiments.studies.store import ResultStore

        if not (self.folder / name).is_dir():
            raise ConfigError([Problem(str(self.folder), name, f'a study that keeps it (tables = ["{name}"] in its '
                                       "[outputs])", "not kept")])
        store = ResultStore(self.folder)
        rows = store.load(name, progress=self._shows_progress())
        if rows.empty:
            return rows
        return rows[rows["run_id"].isin(store.finished())].reset_index(drop=True)  # runs with metrics only

    @property
    def failed(self) -> pd.DataFrame:
        m = self.manifest
        return m[m["status"] != "ok"] if len(m) else m

    @property
    def study(self) -> str:
        """The study that made the folder, as TOML."""
        return (self.folder / "study.toml").read_text()

    def crossings(self) -> pd.DataFrame:
        """One row per run × lab, as ``crossings.parquet`` of ``wattyear analyze``: ``run_id``, ``agent``,
        ``seed``, ``crossing_step`` (the sustained self-funding crossing, 0 = the first month; NaN: not
        within the horizon), ``crossing_date`` (NaT), ``censored`` (True: not crossed by the horizon, a
        right-censored time for ``wattyear.experiments.analysis.survival``), ``first_touch_step`` /
        ``first_touch_date`` (the first kept month the ratio reached 1), ``failed`` / ``failed_step``,
        the swept parameters and the outcomes the analysis reads."""
        from wattyear.experiments.analysis.study_data import crossings_table, load

        return crossings_table(load(self.folder))

    def analyze(self) -> list[Path]:
        """Fan charts, crossing dates, Llama figures and effect sizes (``wattyear analyze``)."""
        from wattyear.experiments.analysis.outcomes import analyze

        return analyze(self.folder)

    def report(self) -> list[Path]:
        """The study's report, Markdown and HTML (``wattyear report``)."""
        return report(self.folder)

    def _repr_html_(self) -> str:
        """What a notebook shows for a study: its folder, its runs (finished and failed), what it sweeps and
        what has been written from it."""
        import html
        import tomllib

        manifest = self.manifest
        try:
            name = tomllib.loads(self.study).get("study", {}).get("name", self.folder.name)
        except (OSError, tomllib.TOMLDecodeError):
            name = self.folder.name
        keys = {"run_id", "point", "replicate", "seed", "status", "error", "rows", "seconds", "note"}
        swept = [c for c in manifest.columns if "." in c and c not in keys]
        ok = int((manifest["status"] == "ok").sum()) if len(manifest) else 0
        written = [f for f in ("analysis.md", "sensitivity.md", "report.html") if (self.folder / f).is_file()]
        return (f"<div><strong>wattyear study</strong> {html.escape(str(name))} in "
                f"<code>{html.escape(str(self.folder))}</code> · {len(manifest)} runs, {ok} finished, "
                f"{len(manifest) - ok} failed"
                f"<br>swept: {html.escape(', '.join(swept) or 'nothing (replicates only)')}"
                f"<br>written: {html.escape(', '.join(written) or 'no analysis yet (.analyze(), .report())')}"
                "</div>")


def _refuse_in_worker_import(name: str) -> None:
    """A worker process of the pool imports the user's script as ``__mp_main__``: without the
    ``if __name__ == "__main__":`` guard, the script's own call lands here again, in the worker."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__":
            raise RuntimeError(f"wattyear.{name}() was called while a worker process imported your script: call "
                               "it under `if __name__ == \"__main__\":` (worker processes import the script)")
        frame = frame.f_back


def in_notebook() -> bool:
    """Whether this is a Jupyter kernel (where a progress bar is a widget, and on by default)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def sweep(study: str | Path | dict, out: str | Path | None = None, *, workers: int | None = None,
          memory: int | str = "1GiB", scheduler: str | None = None, progress: bool | None = None,
          adopt: bool = False) -> StudyResult:
    """Run a study (a file, a packaged study's name such as ``"llama_pressure"``, or the file's tables
    as a dict) into ``out`` (default ``out/<study name>``), resuming what a folder already holds.

    ``workers``: local processes (default all cores); ``scheduler``: a Dask
    scheduler's address; ``memory``: each worker's ensemble budget;
    ``progress``: a progress bar (default: in a Jupyter notebook, as a widget,
    and not elsewhere). In a script, call it under ``if __name__ ==
    "__main__":``: the worker processes import the script, as with any Python
    process pool. ``adopt``: resume a folder whose runs have no identity.json, taking them as this study's
    as it is now (``wattyear sweep --adopt``).
    """
    import argparse

    from wattyear.experiments.studies import memory_size
    from wattyear.experiments.studies.study import load_study
    from wattyear.experiments.studies.result_folder import study_folder
    from wattyear.experiments.studies.sweep import run_sweep

    _refuse_in_worker_import("sweep")

    try:
        budget = memory if isinstance(memory, int) and not isinstance(memory, bool) else memory_size(str(memory))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError([Problem("sweep", "memory", "a memory size such as 1GiB or 512MiB", memory)]) from exc
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError([Problem("sweep", "workers", "an integer ≥ 1 (or None: all cores)", workers)])
    study_ = load_study(study)
    folder = study_folder(study_, out, adopt)
    progress = in_notebook() if progress is None else progress
    run_sweep(study_, folder, workers=workers, scheduler=scheduler, resume=True, progress=progress,
              memory_bytes=budget, adopt=adopt)
    return StudyResult(folder, progress=progress)


def report(folder: str | Path) -> list[Path]:
    """Write ``report.md`` and a self-contained ``report.html`` for a run, comparison or study folder."""
    from wattyear.experiments.analysis.report import report as write_report

    return write_report(folder)


def sensitivity(study: str | Path | dict, out: str | Path | None = None, *, workers: int | None = None,
                memory: int | str = "1GiB", scheduler: str | None = None, progress: bool | None = None,
                adopt: bool = False) -> StudyResult:
    """Run a saltelli or morris study (``wattyear sensitivity``) and its SALib analysis: the result's
    folder holds ``sensitivity.csv`` and ``sensitivity.md``. In a script, call it under ``if __name__ ==
    "__main__":``."""
    from wattyear.experiments.analysis.sensitivity import analyze_study, check_analysable
    from wattyear.experiments.studies.study import load_study

    _refuse_in_worker_import("sensitivity")
    study_ = load_study(study)
    check_analysable(study_)
    result = sweep(study, out, workers=workers, memory=memory, scheduler=scheduler, progress=progress, adopt=adopt)
    analyze_study(result.folder, study_, progress=result._shows_progress())
    return result


def validate(outcomes: str | Path, config: str | Path | dict | None = None, *, posterior: str | Path | None = None,
             scenarios: int = 50, seed: int = 0, discrepancy: float = 0.0, discrepancy_dof: float = math.inf):
    """The model against a table of observed outcomes (``wattyear validate``): per row the model's median and
    50%/90% intervals over ``scenarios`` seeds of ``config`` (or draws from a ``posterior`` folder), the ratio
    and whether the observed value falls inside; ``.median_abs_log_ratio`` and ``.coverage`` overall.
    ``discrepancy``: a log-normal model-discrepancy sd that widens the bands (``docs/validation.md`` sizes it
    from the rolling-origin backtests), with Student's t tails of ``discrepancy_dof`` degrees of freedom
    when it rests on that many residuals; ``.carries`` says what the bands carry."""
    from wattyear.experiments.calibration.validate import validate as run_validation

    return run_validation(outcomes, config=config, posterior=posterior, scenarios=scenarios, seed=seed,
                          discrepancy=discrepancy, discrepancy_dof=discrepancy_dof)


def posterior_draws(folder: str | Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` parameter sets drawn by weight from a posterior sample (``wattyear calibrate --posterior``), as
    overrides of the config it was fitted on (``posterior.json``):
    ``run_ensemble(config, overrides=posterior_draws(folder, 100), seeds=range(100))`` runs them with their
    parameter uncertainty and a seed each."""
    from wattyear.experiments.calibration.posterior import draws

    return draws(folder, n, seed)[1]


def load_results(folder: str | Path, *, progress: bool | None = None) -> RunResult | StudyResult:
    """Read back a run folder (``wattyear run``, ``RunResult.save``) as a ``RunResult``, or a sweep's
    folder (``wattyear sweep``, ``sweep``) as a ``StudyResult``; ``progress``: show what reading a study
    does when it is long (default: in a Jupyter notebook)."""
    folder = Path(folder)
    if (folder / "run.json").is_file():
        return load_run(folder)
    if (folder / "runs").is_dir():
        return StudyResult(folder, progress=progress)
    raise ConfigError([Problem(str(folder), "(folder)", "a run folder (with run.json) or a sweep folder (with "
                               "runs/)", "neither" if folder.is_dir() else "no such folder")])


def compare(*runs: RunResult | str | Path, at: str | None = None, out: str | Path | None = None,
            plots: bool = True):
    """Compare runs (``RunResult``s, run folders or configs; the first is the reference): a
    ``Comparison`` whose ``table`` holds each lab's value and difference per metric, and ``wide(metric)``
    a lab × run view. With ``out``, also write what ``wattyear compare`` writes there."""
    from wattyear.experiments.analysis.compare import check_month, resolve_input, write_comparison
    from wattyear.experiments.analysis.compare import compare as compare_runs

    check_month(at)
    comparison = compare_runs([resolve_input(r) for r in runs], at=at)
    if out is not None:
        write_comparison(comparison, Path(out), plots=plots)
    return comparison


from wattyear.experiments.analysis.compare import Comparison  # noqa: E402  (a name of the API)

__all__ = ["load_config", "run", "run_ensemble", "sweep", "sensitivity", "report", "validate", "posterior_draws",
           "load_results", "compare",
           "RunResult", "EnsembleResult",
           "StudyResult", "Comparison", "ConfigError", "run_name"]
