"""Run a study: every design point × replicate, locally on a process pool or on a Dask cluster.

The same function runs each run wherever it runs, and every run's randomness
comes from its own recorded seed, so a sweep gives the same results on one
machine or many, in one go or resumed after a crash. Workers write their
results straight to the store; the coordinating process keeps only the
manifest, so memory stays flat however many runs a sweep has.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.store import ResultStore
from experiments.study import RunSpec, Study


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


def task_for(study: Study, run: RunSpec, store: ResultStore) -> dict:
    return {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "params": run.params,
            "seed": run.seed, "base": study.base, "keep": study.keep, "every_months": study.every_months,
            "kinds": study.kinds, "columns": study.columns, "path": str(store.run_path(run.run_id))}


def select_rows(metrics: pd.DataFrame, task: dict) -> pd.DataFrame:
    """Keep the agent kinds, months and columns the study asked for."""
    frame = metrics[metrics["kind"].isin(task["kinds"])]
    last = frame["step"].max()
    if task["keep"] == "summary":
        frame = frame[frame["step"] == last]
    elif task["keep"] == "every":
        frame = frame[(frame["step"] % task["every_months"] == task["every_months"] - 1) | (frame["step"] == last)]
    if task["columns"]:
        frame = frame[["step", "date", "agent", "kind", *task["columns"]]]
    return frame.reset_index(drop=True)


def execute_run(task: dict) -> dict:
    """Run one model and store its results; never raises (failures are recorded)."""
    from experiments.results import metrics_frame
    from sim.config import resolve
    from sim.model import WattyearModel

    t0 = time.perf_counter()
    entry = {"run_id": task["run_id"], "point": task["point"], "replicate": task["replicate"],
             "params": task["params"], "seed": task["seed"], "pid": os.getpid()}
    try:
        config = resolve(task["base"], overrides={**task["params"], "run.seed": task["seed"]})
        model = WattyearModel(config).run()
        frame = select_rows(metrics_frame(model), task)
        frame.insert(0, "run_id", task["run_id"])
        frame.insert(1, "seed", task["seed"])
        for i, (key, value) in enumerate(task["params"].items()):
            frame.insert(2 + i, key, value)
        ResultStore.write_run(Path(task["path"]), frame)
        entry.update(status="ok", error="", rows=len(frame))
    except Exception as exc:  # a failing run is recorded and the sweep goes on
        entry.update(status="failed", error="".join(traceback.format_exception_only(exc)).strip()[-2000:],
                     rows=0)
    entry["wall_seconds"] = round(time.perf_counter() - t0, 4)
    return entry


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="run", dynamic_ncols=True)


def run_sweep(study: Study, out: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = True, progress: bool = True) -> SweepReport:
    """Run every unfinished run of ``study`` into ``out``; return the counts."""
    t0 = time.perf_counter()
    store = ResultStore(out)
    store.prepare()
    shutil.copyfile(study.path, store.folder / "study.toml")
    finished = store.finished() if resume else set()
    # a run whose file was written just before a crash has no manifest line yet
    recorded = set(store.manifest()["run_id"]) if store.manifest_path.exists() and not store.manifest().empty \
        else set()
    by_id = {r.run_id: r for r in study.runs}
    for run_id in sorted(finished - recorded):
        if run_id in by_id:
            r = by_id[run_id]
            store.record({"run_id": run_id, "point": r.point, "replicate": r.replicate, "params": r.params,
                          "seed": r.seed, "status": "ok", "error": "", "rows": None, "wall_seconds": None,
                          "pid": None, "note": "found finished on resume"})
    todo = [r for r in study.runs if r.run_id not in finished]
    tasks = [task_for(study, r, store) for r in todo]
    done = failed = 0
    with _progress(len(tasks), progress) as bar:
        for entry in _execute(tasks, workers, scheduler):
            store.record(entry)
            if entry["status"] == "ok":
                done += 1
            else:
                failed += 1
                bar.write(f"run {entry['run_id']} failed: {entry['error'].splitlines()[-1]}")
            bar.update()
            bar.set_postfix(done=done, failed=failed)
    store.write_manifest_table()
    return SweepReport(len(study.runs), done, failed, len(study.runs) - len(todo), time.perf_counter() - t0)


def _execute(tasks: list[dict], workers: int | None, scheduler: str | None):
    """Yield manifest entries as runs finish, on a Dask cluster or a local process pool."""
    if not tasks:
        return
    if scheduler:
        from distributed import Client, as_completed as dask_completed

        with Client(scheduler) as client:
            futures = client.map(execute_run, tasks, pure=False)
            for future in dask_completed(futures):
                yield future.result()
                future.release()
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for task in tasks:
            yield execute_run(task)
        return
    # forkserver: workers fork from a clean single-threaded server with the model preloaded
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["experiments.sweep", "sim.model", "experiments.results"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(execute_run, task) for task in tasks[: 2 * workers]}
        queue = iter(tasks[2 * workers:])
        while pending:  # keep a bounded number of tasks in flight: flat memory
            finished = next(as_completed(pending))
            pending.remove(finished)
            nxt = next(queue, None)
            if nxt is not None:
                pending.add(pool.submit(execute_run, nxt))
            yield finished.result()
