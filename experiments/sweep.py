"""Run a study: every design point × replicate, locally on a process pool or on a Dask cluster.

The replicates of a design point share every parameter, so they are stepped
together as one ensemble: one model whose arrays carry a scenario per seed
(up to ``ENSEMBLE_MAX``). Each scenario draws from its own generator and the
kernel's reductions do not depend on how many scenarios there are, so a run's
results are bit-identical whether it ran alone (``wattyear run --seed``) or
in any ensemble. The same function runs each group wherever it runs, so a
sweep gives the same results on one machine or many, in one go or resumed
after a crash. Workers write results straight to the store; the coordinating
process keeps only the manifest, so memory stays flat however many runs a
sweep has.
"""

from __future__ import annotations

import gc
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


#: most scenarios stepped together in one ensemble (memory grows with it)
ENSEMBLE_MAX = 32


def tasks_for(study: Study, runs: list[RunSpec], store: ResultStore) -> list[dict]:
    """Group runs of the same design point into ensemble tasks of at most ``ENSEMBLE_MAX``."""
    by_point: dict[int, list[RunSpec]] = {}
    for run in runs:
        by_point.setdefault(run.point, []).append(run)
    tasks = []
    for point, group in by_point.items():
        for i in range(0, len(group), ENSEMBLE_MAX):
            chunk = group[i: i + ENSEMBLE_MAX]
            tasks.append({
                "point": point, "params": chunk[0].params, "base": study.base, "keep": study.keep,
                "every_months": study.every_months, "kinds": study.kinds, "columns": study.columns,
                "runs": [{"run_id": r.run_id, "replicate": r.replicate, "seed": r.seed,
                          "path": str(store.run_path(r.run_id))} for r in chunk],
            })
    return tasks


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


def execute_group(task: dict) -> list[dict]:
    """Run one ensemble (the replicates of a design point) and store each run's results.

    Never raises: a failure is recorded against every run of the group and the
    sweep goes on.
    """
    from experiments.results import metrics_frame, stacked_metrics
    from sim.config import resolve
    from sim.model import WattyearModel

    t0 = time.perf_counter()
    runs = task["runs"]
    entries = [{"run_id": r["run_id"], "point": task["point"], "replicate": r["replicate"],
                "params": task["params"], "seed": r["seed"], "pid": os.getpid(), "ensemble": len(runs)}
               for r in runs]
    try:
        config = resolve(task["base"], overrides={**task["params"], "run.seed": runs[0]["seed"]})
        model = WattyearModel(config, seeds=[r["seed"] for r in runs]).run()
        stacked = stacked_metrics(model)
        for scenario, (run, entry) in enumerate(zip(runs, entries)):
            frame = select_rows(metrics_frame(model, scenario, stacked), task)
            frame.insert(0, "run_id", run["run_id"])
            frame.insert(1, "seed", run["seed"])
            for i, (key, value) in enumerate(task["params"].items()):
                frame.insert(2 + i, key, value)
            ResultStore.write_run(Path(run["path"]), frame)
            entry.update(status="ok", error="", rows=len(frame))
    except Exception as exc:  # a failing run is recorded and the sweep goes on
        error = "".join(traceback.format_exception_only(exc)).strip()[-2000:]
        for entry in entries:
            entry.update(status="failed", error=error, rows=0)
    seconds = round((time.perf_counter() - t0) / len(runs), 4)
    for entry in entries:
        entry["wall_seconds"] = seconds  # the ensemble's time, shared out
    # a model and its agents refer to each other: free them now, not at the next
    # cyclic collection, or a worker's memory grows with the number of tasks it ran
    model = None
    gc.collect()
    return entries


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
    tasks = tasks_for(study, todo, store)
    done = failed = 0
    with _progress(len(todo), progress) as bar:
        for entries in _execute(tasks, workers, scheduler):
            for entry in entries:
                store.record(entry)
                if entry["status"] == "ok":
                    done += 1
                else:
                    failed += 1
            if entries[0]["status"] != "ok":
                bar.write(f"{len(entries)} run(s) of point {entries[0]['point']} failed: "
                          f"{entries[0]['error'].splitlines()[-1]}")
            bar.update(len(entries))
            bar.set_postfix(done=done, failed=failed)
    store.write_manifest_table()
    return SweepReport(len(study.runs), done, failed, len(study.runs) - len(todo), time.perf_counter() - t0)


def _execute(tasks: list[dict], workers: int | None, scheduler: str | None):
    """Yield each group's manifest entries as it finishes, on a Dask cluster or a local process pool."""
    if not tasks:
        return
    if scheduler:
        from distributed import Client, as_completed as dask_completed

        with Client(scheduler) as client:
            futures = client.map(execute_group, tasks, pure=False)
            for future in dask_completed(futures):
                yield future.result()
                future.release()
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for task in tasks:
            yield execute_group(task)
        return
    # forkserver: workers fork from a clean single-threaded server with the model preloaded
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["experiments.sweep", "sim.model", "experiments.results"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(execute_group, task) for task in tasks[: 2 * workers]}
        queue = iter(tasks[2 * workers:])
        while pending:  # keep a bounded number of tasks in flight: flat memory
            finished = next(as_completed(pending))
            pending.remove(finished)
            nxt = next(queue, None)
            if nxt is not None:
                pending.add(pool.submit(execute_group, nxt))
            yield finished.result()
