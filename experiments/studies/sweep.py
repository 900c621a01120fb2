"""Run a study: every design point × replicate, locally on a process pool or on a Dask cluster.

Runs are packed into ensembles: one model whose arrays carry a scenario per
run, design points and replicates alike (``sim.batch``: every number may
differ between the scenarios of an ensemble; design points that differ in
what sets the model's structure, such as a count of customer classes, go to
separate ensembles). An ensemble holds as many runs as fit in the memory
budget of a worker (``--memory``, default 1 GiB). Each scenario draws from its
own generator and the kernel's reductions do not depend on how many
scenarios there are, so a run's results are bit-identical whether it ran
alone (``wattyear run --seed``) or in any ensemble. The same function runs each
ensemble wherever it runs, so a
sweep gives the same results on one machine or many, in one go or resumed
after a crash. Workers write results straight to the store; the coordinating
process keeps only the manifest, so memory stays flat however many runs a
sweep has.

A folder holds one study's results only: ``identity.json`` records what its
runs came from (the study, its base config as resolved, the design file, the
wattyear version) and a sweep that would add other results is refused; a
lock (``sweep.lock``, flock) refuses a second sweep into a folder while one
writes there; resume reads each finished run's Parquet footer and redoes a
run whose file is cut short. Workers end when the coordinating process does,
however it ends.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from wattyear.experiments.studies.executors import (SCHEDULER_TIMEOUT, WORKER_TIMEOUT, check_workers, connect,
                                                     execute)
from wattyear.experiments.studies.result_folder import IDENTITY, check_identity, study_identity, sweep_lock, write_text
from wattyear.experiments.studies.folder_files import WriteError, file_stamp, write_error
from wattyear.experiments.studies.store import ResultStore
from wattyear.experiments.studies.design import RunList
from wattyear.experiments.studies.study import RunSpec, Study
from wattyear.sim.config import ConfigError, field_at, with_overrides
from wattyear.sim.guard import ModelError, check_frame


@dataclass
class SweepReport:
    total: int
    done: int
    failed: int
    skipped: int
    seconds: float

    def line(self) -> str:
        return (f"{self.total} runs: {self.done} done, {self.failed} failed, {self.skipped} skipped "
                f"in {self.seconds:.1f} s")


#: memory budget of one worker's ensemble, bytes (``wattyear sweep --memory``)
DEFAULT_MEMORY_BYTES = 1 << 30
#: most scenarios stepped together in one ensemble, whatever the budget (beyond a few thousand the
#: time per run no longer falls, and a failed ensemble is retried run by run)
ENSEMBLE_MAX = 4096


def scenario_bytes(base: dict, kept_months: int | None = None) -> int:
    """Memory one scenario of an ensemble takes over ``base``'s horizon, bytes (an estimate).

    The model keeps the ``kept_months``' (default: all) metrics (agents × metric
    columns) and market arrays (segments × providers) for each scenario
    (``WattyearModel(keep_months=...)``), and they are stacked once more while a
    run's table is cut out; a scenario's watts tables and the month's working
    arrays come on top, and the vintage and lease tables, whose rows (the union
    of the scenarios' rows) grow about as the square of the horizon. The factor
    1.5 covers what the count leaves out; the estimate runs above the measured
    peaks (``docs/performance.md``: about 0.25 MB a ten-year scenario keeping
    the last month, 1.1 MB keeping all 120), so a worker stays inside its budget.
    """
    from wattyear.sim.outputs import MARKET, METRICS

    months = base["run"]["months"]
    kept = months if kept_months is None else kept_months
    agents = len(base["labs"]) + len(base["hyperscalers"]) + 2  # labs, hyperscalers, fringe, publisher
    providers = len(base["labs"]) + 1  # labs and the fringe
    cells = sum(seg["size_classes"] for seg in base["segments"].values())
    history = 8 * kept * (len(METRICS) * agents + len(MARKET) * len(base["segments"]) * providers)
    stacked = 8 * kept * len(METRICS) * agents
    working = 8 * 60 * cells * providers + 64 * 1024  # about 60 (class, provider) arrays live in a month's market
    # the vintage and lease tables: two (S, rows) tables each, rows the union of the scenarios' rows, which grows
    # about as the square of the horizon (measured at S = 200: about 0.13·months² rows in all; 0.15 here)
    tables = 8 * 2 * 0.15 * months ** 2
    return int(1.5 * (history + stacked + working + tables))


def ensemble_size(base: dict, memory_bytes: int = DEFAULT_MEMORY_BYTES, kept_months: int | None = None) -> int:
    """Scenarios per ensemble that fit ``memory_bytes`` (at least one, at most ``ENSEMBLE_MAX``)."""
    return int(max(1, min(ENSEMBLE_MAX, memory_bytes // scenario_bytes(base, kept_months))))


def structure_of(params: dict) -> tuple:
    """The swept parameters that set a model's structure (``Field.varies`` false), with their values:
    runs that differ in them cannot share an ensemble."""
    fixed = []
    for key, value in params.items():
        f = field_at(key)
        if f is None or not f.varies:
            fixed.append((key, repr(value)))
    return tuple(sorted(fixed))


def tasks_for(study: Study, runs: "RunList | list[RunSpec]", store: ResultStore, *, memory_bytes: int = DEFAULT_MEMORY_BYTES,
              workers: int = 1) -> Iterator[dict]:
    """Pack runs into ensemble tasks: runs of the same structure, in run order, as many as the memory
    budget allows, and few enough that every worker gets at least two tasks. Tasks are made as they
    are taken, so the coordinator never holds a whole large study's worth of them."""
    groups: dict[tuple, np.ndarray | None] = {}  # structure → positions in ``runs`` (None: all of them)
    if isinstance(runs, RunList):  # read the points, not runs: a run is made only when a task takes it
        points = runs.positions() // runs.replicates
        keys = [structure_of(params) for params in runs.points]  # a point's replicates share its structure
        by_key: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            by_key.setdefault(key, []).append(i)
        if len(by_key) == 1:
            groups = {keys[0]: None} if len(runs) else {}
        else:
            point_group = np.empty(len(keys), dtype=np.int64)
            for g, members in enumerate(by_key.values()):
                point_group[members] = g
            order = point_group[points]
            for g, key in enumerate(by_key):
                members = np.flatnonzero(order == g)
                if members.size:
                    groups[key] = members
            groups = dict(sorted(groups.items(), key=lambda item: item[1][0]))  # groups in order of their first run
    else:
        listed: dict[tuple, list[int]] = {}
        for k, run in enumerate(runs):
            listed.setdefault(structure_of(run.params), []).append(k)
        groups = {key: np.array(members, dtype=np.int64) for key, members in listed.items()}
    share = max(1, math.ceil(len(runs) / (2 * max(workers, 1))))
    for key, group in groups.items():
        # a group's runs share what sets memory (horizon, customer classes): size it from its own config
        if group is None:
            group = runs
        else:
            group = runs.at(group) if isinstance(runs, RunList) else [runs[k] for k in group.tolist()]
        config = study.base
        if key:
            try:
                config = with_overrides(study.base, dict(group[0].params))
            except ConfigError:
                pass  # its runs fail when they are set up, one by one
        kept = len(kept_steps(config["run"]["months"], {"keep": study.keep, "every_months": study.every_months}))
        size = min(ensemble_size(config, memory_bytes, kept), share)
        for i in range(0, len(group), size):
            yield {
                "base": study.base, "keep": study.keep, "every_months": study.every_months,
                "kinds": study.kinds, "columns": study.columns, "tables": study.tables,
                "runs": [{"run_id": r.run_id, "point": r.point, "replicate": r.replicate, "params": r.params,
                          "seed": r.seed, "path": str(store.run_path(r.run_id))} for r in group[i: i + size]],
            }


def kept_steps(n_steps: int, task: dict) -> np.ndarray:
    """The months a study keeps: all, every ``every_months`` (and the last), or the last."""
    steps = np.arange(n_steps)
    if task["keep"] == "summary":
        return steps[-1:]
    if task["keep"] == "every":
        every = task["every_months"]
        return steps[(steps % every == every - 1) | (steps == n_steps - 1)]
    return steps


def execute_group(task: dict) -> list[dict]:
    """Run one ensemble and store each run's results; return the runs' manifest entries.

    A run whose parameters the config refuses is recorded as failed and the
    others go on; if the ensemble itself fails, the run that broke it is failed
    and the others run again (``_run_with_retries``: their results are the same
    either way), so one bad point never fails its neighbours. The one error
    raised is the store's (``WriteError``: a full disk, say), which would fail
    every run after it the same way.
    """
    t0 = time.perf_counter()
    runs = task["runs"]
    entries = [{"run_id": r["run_id"], "point": r["point"], "replicate": r["replicate"], "params": r["params"],
                "seed": r["seed"], "pid": os.getpid(), "ensemble": len(runs)} for r in runs]
    configs: dict[int, dict] = {}
    ready = []
    for run, entry in zip(runs, entries):
        try:
            if run["point"] not in configs:
                configs[run["point"]] = with_overrides(task["base"], run["params"])
            ready.append((configs[run["point"]], run, entry))
        except ConfigError as exc:
            entry.update(status="failed", error=str(exc)[-2000:], rows=0)
    if ready:
        _run_with_retries(task, ready)
    seconds = round((time.perf_counter() - t0) / len(runs), 4)
    for entry in entries:
        entry["wall_seconds"] = seconds  # the ensemble's time, shared out
        entry["ensemble"] = len(runs)
    # a model and its agents refer to each other: free them now, not at the next
    # cyclic collection, or a worker's memory grows with the number of tasks it ran
    gc.collect()
    return entries


def _fail(task: dict, member: tuple[dict, dict, dict], exc: BaseException) -> None:
    """Record a run as failed, and remove any file written for it (it would count as finished on resume)."""
    member[2].update(status="failed", rows=0, error="".join(traceback.format_exception_only(exc)).strip()[-2000:])
    for path in run_files(member[1]["path"], task.get("tables", ("metrics",))):
        path.unlink(missing_ok=True)


def _run_with_retries(task: dict, members: list[tuple[dict, dict, dict]]) -> None:
    """Run the members as one ensemble; if one breaks it, fail that one and run the rest again.

    A run the guard stops names its scenario (``ModelError.scenario``): it alone is failed and the rest
    are stepped again as one ensemble (bit-identical to running them alone, and an ensemble's speed).
    Any other failure, which names no run, has each run retried alone. A ``WriteError`` (a full disk)
    is raised: every run after it would fail the same way.
    """
    pending = list(members)
    while pending:
        try:
            _run_ensemble(task, pending)
            return
        except WriteError:
            raise
        except ModelError as exc:
            if len(pending) == 1:
                _fail(task, pending[0], exc)
                return
            if not 0 <= exc.scenario < len(pending):
                break
            _fail(task, pending.pop(exc.scenario), exc)
        except Exception as exc:  # noqa: BLE001  (an error that names no run: find it run by run)
            if len(pending) == 1:
                _fail(task, pending[0], exc)
                return
            break
    for member in pending:
        _run_with_retries(task, [member])


def run_files(metrics_path: str, tables: tuple[str, ...]) -> list[Path]:
    """A run's files: its metrics (``runs/<id>.parquet``) and each other table it keeps
    (``<table>/<id>.parquet``)."""
    path = Path(metrics_path)
    return [path] + [path.parent.parent / t / path.name for t in tables if t != "metrics"]


def _run_ensemble(task: dict, members: list[tuple[dict, dict, dict]]) -> None:
    """Step (config, run, manifest entry) members as one model; write each run's kept rows (and the other
    tables it keeps, before its metrics: a run with a metrics file has all its files)."""
    from wattyear.experiments.results import (funding_frame, leases_frame, market_frame, metrics_columns,
                                              stacked_metrics)
    from wattyear.sim.model import WattyearModel

    horizon = members[0][0]["run"]["months"]  # (the same for every run of a study: run.months is not swept)
    steps = kept_steps(horizon, task)
    # the model keeps only these months' records: memory per scenario does not grow with the horizon when a
    # study keeps summaries; the crossing months are followed over every month (``crossing_step``)
    model = WattyearModel([config for config, _, _ in members], seeds=[run["seed"] for _, run, _ in members],
                          keep_months=steps)
    model.run()
    stacked = stacked_metrics(model, steps, task["columns"])  # the kept months only
    agents = np.flatnonzero(np.isin(np.array(model.world.agent_kinds, dtype=object), list(task["kinds"])))
    crossings = model.crossing_step
    frames = {"market": market_frame, "funding": funding_frame, "leases": leases_frame}
    for scenario, (_, run, entry) in enumerate(members):
        keys = {"run_id": run["run_id"], "seed": run["seed"], **run["params"]}
        metrics_path, *others = run_files(run["path"], task.get("tables", ("metrics",)))
        for path in others:
            frame = frames[path.parent.name](model, scenario)
            check_frame(path.parent.name, frame, scenario)  # derived columns, before anything is written
            if frame.empty:  # no raise, no lease: no file (an empty one has no column types to merge with)
                continue
            frame = pd.concat([pd.DataFrame({k: [v] * len(frame) for k, v in keys.items()}, index=frame.index),
                               frame], axis=1)
            ResultStore.write_run(path, frame.reset_index(drop=True))
        table = {**keys, **metrics_columns(model, scenario, stacked, steps=steps, agents=agents,
                                           columns=task["columns"]),
                 "crossing_step": np.tile(crossings[scenario, agents], len(steps))}
        ResultStore.write_run(metrics_path, table)
        entry.update(status="ok", error="", rows=len(table["step"]),
                     files=file_stamp([metrics_path, *run_files(run["path"], task.get("tables", ("metrics",)))[1:]]))


def _progress(total: int, enabled: bool):
    """A progress bar over ``total`` runs (a notebook's widget in Jupyter, text elsewhere); none when nothing
    is left to run (a resumed sweep that is complete says so instead of drawing an empty bar)."""
    from tqdm.auto import tqdm

    if enabled and total == 0:
        print("every run of the study is already in the folder: nothing to run", file=sys.stderr, flush=True)
    return tqdm(total=total, disable=not enabled or total == 0, unit="run", dynamic_ncols=True)


def run_sweep(study: Study, out: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = True, progress: bool = True, memory_bytes: int = DEFAULT_MEMORY_BYTES,
              connect_timeout: float = SCHEDULER_TIMEOUT, worker_timeout: float = WORKER_TIMEOUT,
              adopt: bool = False) -> SweepReport:
    """Run every unfinished run of ``study`` into ``out`` in ensembles of at most ``memory_bytes`` each;
    return the counts. On Dask, the scheduler must answer within ``connect_timeout`` seconds, and the
    sweep stops if the cluster has no worker for ``worker_timeout`` seconds. ``adopt``: take the runs of a
    folder with no identity.json as this study's (``check_identity``)."""
    check_workers(workers)  # before anything is written, as the scheduler
    client = connect(scheduler, connect_timeout) if scheduler is not None else None  # before anything is written
    try:
        t0 = time.perf_counter()
        store = ResultStore(out)
        check_identity(study, store.folder, adopt)  # a refused folder is left as it is, lock file and all
        store.folder.mkdir(parents=True, exist_ok=True)
        with sweep_lock(store.folder):
            check_identity(study, store.folder, adopt)  # again, now that no other sweep can write meanwhile
            _write_study(study, store.folder)
            store.prepare(study.tables)
            todo, redone = _unfinished(study, store, resume)
            if todo:  # the packed files would go stale as runs are written
                store.drop_packed(study.tables)

            def make_tasks(slots: int) -> Iterator[dict]:
                return tasks_for(study, todo, store, memory_bytes=memory_bytes, workers=slots)

            done = failed = 0
            with _progress(len(todo), progress) as bar:
                if redone:
                    bar.write(f"{len(redone)} finished run(s) had damaged files: run again (see the manifest notes)")
                for entries in execute(execute_group, make_tasks, workers, client, worker_timeout):
                    for entry in entries:
                        if entry["run_id"] in redone:
                            entry["note"] = f"redone on resume: {redone[entry['run_id']]}"
                        store.record(entry)
                        if entry["status"] == "ok":
                            done += 1
                        else:
                            failed += 1
                    bad = [e for e in entries if e["status"] != "ok"]
                    if bad:
                        bar.write(f"{len(bad)} run(s) failed, first {bad[0]['run_id']}: "
                                  f"{(bad[0]['error'].splitlines() or [''])[-1]}")
                    bar.update(len(entries))
                    bar.set_postfix(done=done, failed=failed)
            store.write_manifest_table()
            _pack(store, study.tables, progress)
    finally:
        if client is not None:
            client.close()
    return SweepReport(len(study.runs), done, failed, len(study.runs) - len(todo), time.perf_counter() - t0)


def _pack(store: ResultStore, tables: tuple[str, ...], progress: bool) -> None:
    """Pack each table's run files into one file (``ResultStore.pack``): loading the study then reads one
    file, not one a run. A folder that cannot take it (a full disk) keeps its runs and is read from them."""
    for table in tables:
        try:
            store.pack(table, progress=progress)
        except WriteError as exc:
            print(f"could not pack the {table} run files ({exc.strerror}: {exc.filename}); loading reads them one "
                  "by one", file=sys.stderr, flush=True)


def _write_study(study: Study, folder: Path) -> None:
    """What the folder's runs come from: identity.json, the study as given, an explicit design's file
    as run (study.text holds its hash), and sweep.json."""
    write_text(folder / IDENTITY, json.dumps(study_identity(study), indent=2) + "\n")
    write_text(folder / "study.toml", study.text)
    if study.design_file is not None and study.sample_method == "file":
        target = folder / f"design{study.design_file.suffix}"
        try:
            shutil.copyfile(study.design_file, target)
        except OSError as exc:
            raise write_error(exc, target) from exc
    _write_record(folder)


def expected_rows(study: Study, params: dict) -> int:
    """The rows a run's metrics file holds: its kept months × the agents of the kinds kept (each lab and
    hyperscaler, the fringe, the open-weights publisher)."""
    months = int(params.get("run.months", study.base["run"]["months"]))
    kept = len(kept_steps(months, {"keep": study.keep, "every_months": study.every_months}))
    agents = {"lab": len(study.base["labs"]), "hyperscaler": len(study.base["hyperscalers"]), "fringe": 1,
              "open_weights": 1}
    return kept * sum(agents[kind] for kind in study.kinds)


def _unfinished(study: Study, store: ResultStore, resume: bool) -> tuple[RunList, dict[str, str]]:
    """(the runs to do, in run order; the finished-looking runs among them that are redone, with why).

    A run is finished when its files verify: its metrics file holds the rows the manifest recorded
    (or, for a run stored just before a crash and never recorded, the rows its kept months and agents
    make). A damaged run's files are deleted; a verified unrecorded one gets its record."""
    if not resume:
        return study.runs, {}
    present = store.finished()
    rows, stamps = store.recorded_runs()
    found = {r.run_id: r for r in study.runs if r.run_id in present}
    expected = {run_id: rows.get(run_id) if rows.get(run_id) is not None else expected_rows(study, run.params)
                for run_id, run in found.items()}
    damaged = store.verify(expected, study.tables, stamps)
    for run_id in damaged:
        store.remove_run(run_id, study.tables)
    for run_id, r in found.items():  # in run order
        if run_id not in rows and run_id not in damaged:
            store.record({"run_id": r.run_id, "point": r.point, "replicate": r.replicate, "params": r.params,
                          "seed": r.seed, "status": "ok", "error": "", "rows": expected[run_id],
                          "wall_seconds": None, "pid": None, "note": "found finished on resume",
                          "files": file_stamp(store.files_of(run_id, study.tables))})
    finished = found.keys() - damaged.keys()
    if isinstance(study.runs, RunList):
        return study.runs.without(finished), damaged
    return [r for r in study.runs if r.run_id not in finished], damaged


def _write_record(folder: Path) -> None:
    """``sweep.json``: the versions and commit that ran the sweep (the first time; kept on resume)."""
    import platform
    from datetime import datetime, timezone

    from wattyear import __version__
    from wattyear.experiments.run import source_revision

    path = folder / "sweep.json"
    if not path.exists():
        write_text(path, json.dumps({"wattyear": __version__, "git_commit": source_revision(),
                                      "python": platform.python_version(), "numpy": np.__version__,
                                      "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
                                     indent=2) + "\n")


# ----------------------------------------------------------------------------------------------- Dask
