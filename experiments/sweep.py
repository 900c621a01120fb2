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

import errno
import gc
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import select
import shutil
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from wattyear.experiments.store import ResultStore, WriteError, write_error
from wattyear.experiments.study import RunSpec, Study
from wattyear.sim.config import ConfigError, Problem, field_at, with_overrides


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
#: seconds to reach a Dask scheduler before the address is reported as unreachable
SCHEDULER_TIMEOUT = 10.0
#: seconds a Dask sweep waits with no worker in the cluster (none yet, or all gone) before it stops
WORKER_TIMEOUT = 60.0
#: what a result folder's runs came from, and the lock a sweep holds on the folder
IDENTITY = "identity.json"
LOCK = "sweep.lock"


def scenario_bytes(base: dict, kept_months: int | None = None) -> int:
    """Memory one scenario of an ensemble takes over ``base``'s horizon, bytes (an estimate).

    The model keeps every month's metrics (agents × metric columns) and market
    arrays (segments × providers) for each scenario, and the ``kept_months``
    (default: all) are stacked once more while a run's table is cut out; a
    scenario's watts tables and the month's working arrays come on top. The
    factor 1.5 covers what the count leaves out; the estimate runs above the
    measured peaks (``docs/performance.md``), so a worker stays inside its budget.
    """
    from wattyear.sim.outputs import MARKET, METRICS

    months = base["run"]["months"]
    kept = months if kept_months is None else kept_months
    agents = len(base["labs"]) + len(base["hyperscalers"]) + 2  # labs, hyperscalers, fringe, publisher
    providers = len(base["labs"]) + 1  # labs and the fringe
    cells = sum(seg["size_classes"] for seg in base["segments"].values())
    history = 8 * months * (len(METRICS) * agents + len(MARKET) * len(base["segments"]) * providers)
    stacked = 8 * kept * len(METRICS) * agents
    working = 8 * 60 * cells * providers + 64 * 1024  # about 60 (class, provider) arrays live in a month's market
    return int(1.5 * (history + stacked + working))


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


def tasks_for(study: Study, runs: list[RunSpec], store: ResultStore, *, memory_bytes: int = DEFAULT_MEMORY_BYTES,
              workers: int = 1) -> Iterator[dict]:
    """Pack runs into ensemble tasks: runs of the same structure, in run order, as many as the memory
    budget allows, and few enough that every worker gets at least two tasks. Tasks are made as they
    are taken, so the coordinator never holds a whole large study's worth of them."""
    groups: dict[tuple, list[RunSpec]] = {}
    for run in runs:
        groups.setdefault(structure_of(run.params), []).append(run)
    share = max(1, math.ceil(len(runs) / (2 * max(workers, 1))))
    for key, group in groups.items():
        # a group's runs share what sets memory (horizon, customer classes): size it from its own config
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
    others go on; if the ensemble itself fails, each run is retried alone (its
    results are the same either way), so one bad point never fails its
    neighbours. The one error raised is the store's (``WriteError``: a full
    disk, say), which would fail every run after it the same way.
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
    try:
        if ready:
            _run_ensemble(task, ready)
    except WriteError:
        raise
    except Exception as exc:  # the ensemble failed: each run alone, so one bad run fails no other
        if len(ready) == 1:
            ready[0][2].update(status="failed", rows=0,
                               error="".join(traceback.format_exception_only(exc)).strip()[-2000:])
            for path in run_files(ready[0][1]["path"], task.get("tables", ("metrics",))):
                path.unlink(missing_ok=True)
        else:
            for member in ready:
                try:
                    _run_ensemble(task, [member])
                except WriteError:
                    raise
                except Exception as alone:
                    member[2].update(status="failed", rows=0,
                                     error="".join(traceback.format_exception_only(alone)).strip()[-2000:])
                    # a file the failed ensemble wrote for it would count as finished on resume
                    for path in run_files(member[1]["path"], task.get("tables", ("metrics",))):
                        path.unlink(missing_ok=True)
    seconds = round((time.perf_counter() - t0) / len(runs), 4)
    for entry in entries:
        entry["wall_seconds"] = seconds  # the ensemble's time, shared out
        entry["ensemble"] = len(runs)
    # a model and its agents refer to each other: free them now, not at the next
    # cyclic collection, or a worker's memory grows with the number of tasks it ran
    gc.collect()
    return entries


def run_files(metrics_path: str, tables: tuple[str, ...]) -> list[Path]:
    """A run's files: its metrics (``runs/<id>.parquet``) and each other table it keeps
    (``<table>/<id>.parquet``)."""
    path = Path(metrics_path)
    return [path] + [path.parent.parent / t / path.name for t in tables if t != "metrics"]


def first_crossings(model) -> np.ndarray:
    """(S, agents) the first month each agent's self-funding ratio reached 1, NaN if it never did: read
    from every month, whichever months a study keeps."""
    sfr = np.stack([m["self_funding_ratio"] for m, _ in model.history])  # (months, S, agents)
    hit = sfr >= 1.0
    return np.where(hit.any(axis=0), hit.argmax(axis=0), np.nan)


def _run_ensemble(task: dict, members: list[tuple[dict, dict, dict]]) -> None:
    """Step (config, run, manifest entry) members as one model; write each run's kept rows (and the other
    tables it keeps, before its metrics: a run with a metrics file has all its files)."""
    from wattyear.experiments.results import (funding_frame, leases_frame, market_frame, metrics_columns,
                                              stacked_metrics)
    from wattyear.sim.model import WattyearModel

    model = WattyearModel([config for config, _, _ in members], seeds=[run["seed"] for _, run, _ in members])
    model.run()
    steps = kept_steps(len(model.history), task)
    stacked = stacked_metrics(model, steps, task["columns"])  # the kept months only
    agents = np.flatnonzero(np.isin(np.array(model.agent_kinds, dtype=object), list(task["kinds"])))
    crossings = first_crossings(model)
    frames = {"market": market_frame, "funding": funding_frame, "leases": leases_frame}
    for scenario, (_, run, entry) in enumerate(members):
        keys = {"run_id": run["run_id"], "seed": run["seed"], **run["params"]}
        metrics_path, *others = run_files(run["path"], task.get("tables", ("metrics",)))
        for path in others:
            frame = frames[path.parent.name](model, scenario)
            if "step" in frame and path.parent.name == "market":
                frame = frame[np.isin(frame["step"].to_numpy(), steps)]
            if frame.empty:  # no raise, no lease: no file (an empty one has no column types to merge with)
                continue
            frame = pd.concat([pd.DataFrame({k: [v] * len(frame) for k, v in keys.items()}, index=frame.index),
                               frame], axis=1)
            ResultStore.write_run(path, frame.reset_index(drop=True))
        table = {**keys, **metrics_columns(model, scenario, stacked, steps=steps, agents=agents,
                                           columns=task["columns"]),
                 "crossing_step": np.tile(crossings[scenario, agents], len(steps))}
        ResultStore.write_run(metrics_path, table)
        entry.update(status="ok", error="", rows=len(table["step"]))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="run", dynamic_ncols=True)


def study_folder(study: Study, out: str | Path | None) -> Path:
    """The folder a study's results go to (default ``out/<study name>``); one that holds results of
    another study, base config, design or wattyear version is refused (``check_identity``)."""
    folder = Path(out) if out is not None else Path("out") / study.name
    check_identity(study, folder)
    return folder


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def study_identity(study: Study) -> dict:
    """What a folder's runs came from, as hashes: the study's text, its base config as resolved (the
    study names its base by path, and the file can change under it between a sweep and its resume),
    the design file, and the wattyear version (runs are bit-identical within a version, not across)."""
    import wattyear

    config = json.dumps(study.base, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return {"study_sha256": _sha256(study.text), "config_sha256": _sha256(config),
            "design_sha256": study.design_sha256, "wattyear": wattyear.__version__, "base": str(study.base_path)}


#: what to do about a folder that holds other results
_ELSEWHERE = "; to run this, sweep into a new folder (--out) or delete this one"


def check_identity(study: Study, folder: Path) -> None:
    """Refuse a sweep into ``folder`` if its runs came from anything else than ``study`` now gives
    (``identity.json``): one folder never mixes two studies', two configs' or two versions' results.
    A folder from before identity.json is compared by its study.toml alone."""
    path = folder / IDENTITY
    if not path.exists():
        previous = folder / "study.toml"
        if previous.exists() and previous.read_text() != study.text:
            raise ConfigError([Problem(str(folder), "study.toml", f"the same study as {study.path.name}{_ELSEWHERE}",
                                       "a different study's results")])
        return
    try:
        old = json.loads(path.read_text())
        if not isinstance(old, dict):
            raise ValueError(f"a {type(old).__name__}")
    except (OSError, ValueError) as exc:
        raise ConfigError([Problem(str(folder), IDENTITY, "the record of what the folder's runs came from "
                                   f"(written by wattyear sweep){_ELSEWHERE}", f"unreadable ({exc})")]) from None
    new = study_identity(study)
    problems = []
    if old.get("design_sha256") != new["design_sha256"]:
        problems.append(Problem(str(folder), "design", f"the design its runs were made with{_ELSEWHERE}",
                                f"a different study's results: {study.design_file} changed"))
    elif old.get("study_sha256") != new["study_sha256"]:
        problems.append(Problem(str(folder), "study.toml", f"the same study as {study.path.name}{_ELSEWHERE}",
                                "a different study's results"))
    if old.get("config_sha256") != new["config_sha256"]:
        problems.append(Problem(str(folder), "base config", f"the base config its runs were made with "
                                f"({old.get('base')}, sha256 {str(old.get('config_sha256'))[:12]}){_ELSEWHERE}",
                                f"{new['base']} resolves to another config now (sha256 {new['config_sha256'][:12]})"))
    if old.get("wattyear") != new["wattyear"]:
        problems.append(Problem(str(folder), "wattyear version", f"wattyear {old.get('wattyear')}, which made its "
                                f"runs (another version's results may differ){_ELSEWHERE}",
                                f"wattyear {new['wattyear']}"))
    if problems:
        raise ConfigError(problems)


def _write_text(path: Path, text: str) -> None:
    """Write a small file whole or not at all (a temporary name, then renamed); an error names it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, path) from exc


@contextmanager
def sweep_lock(folder: Path):
    """Hold ``sweep.lock`` in ``folder`` for a whole sweep, and refuse a second sweep into it meanwhile
    (the two would compute every run twice and record each twice). An OS lock (flock): the kernel
    releases it when the process ends, however it ends, so a killed sweep never leaves it held. The
    file stays (removing it could let two sweeps lock two different files); it names the holder."""
    try:
        import fcntl
    except ImportError:  # no flock on this system: no lock
        yield
        return
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_error(exc, path) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise write_error(exc, path) from exc
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            who = f" (pid {holder[0]} on {holder[1]})" if len(holder) == 2 else ""
            raise ConfigError([Problem(str(folder), LOCK, "a folder no other sweep is writing to: wait for it to "
                                       "end, or sweep into another folder (--out)",
                                       f"another sweep is writing there{who}")]) from None
        import socket

        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def run_sweep(study: Study, out: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = True, progress: bool = True, memory_bytes: int = DEFAULT_MEMORY_BYTES,
              connect_timeout: float = SCHEDULER_TIMEOUT, worker_timeout: float = WORKER_TIMEOUT) -> SweepReport:
    """Run every unfinished run of ``study`` into ``out`` in ensembles of at most ``memory_bytes`` each;
    return the counts. On Dask, the scheduler must answer within ``connect_timeout`` seconds, and the
    sweep stops if the cluster has no worker for ``worker_timeout`` seconds."""
    client = connect(scheduler, connect_timeout) if scheduler else None  # before anything is written
    try:
        t0 = time.perf_counter()
        store = ResultStore(out)
        check_identity(study, store.folder)  # a refused folder is left as it is, lock file and all
        store.folder.mkdir(parents=True, exist_ok=True)
        with sweep_lock(store.folder):
            check_identity(study, store.folder)  # again, now that no other sweep can write meanwhile
            _write_study(study, store.folder)
            store.prepare(study.tables)
            todo, redone = _unfinished(study, store, resume)

            def make_tasks(slots: int) -> Iterator[dict]:
                return tasks_for(study, todo, store, memory_bytes=memory_bytes, workers=slots)

            done = failed = 0
            with _progress(len(todo), progress) as bar:
                if redone:
                    bar.write(f"{len(redone)} finished run(s) had damaged files: run again (see the manifest notes)")
                for entries in _execute(make_tasks, workers, client, worker_timeout):
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
    finally:
        if client is not None:
            client.close()
    return SweepReport(len(study.runs), done, failed, len(study.runs) - len(todo), time.perf_counter() - t0)


def _write_study(study: Study, folder: Path) -> None:
    """What the folder's runs come from: identity.json, the study as given, an explicit design's file
    as run (study.text holds its hash), and sweep.json."""
    _write_text(folder / IDENTITY, json.dumps(study_identity(study), indent=2) + "\n")
    _write_text(folder / "study.toml", study.text)
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


def _unfinished(study: Study, store: ResultStore, resume: bool) -> tuple[list[RunSpec], dict[str, str]]:
    """(the runs to do, in run order; the finished-looking runs among them that are redone, with why).

    A run is finished when its files verify: its metrics file holds the rows the manifest recorded
    (or, for a run stored just before a crash and never recorded, the rows its kept months and agents
    make). A damaged run's files are deleted; a verified unrecorded one gets its record."""
    if not resume:
        return list(study.runs), {}
    present = store.finished()
    rows = store.recorded_rows()
    found = {r.run_id: r for r in study.runs if r.run_id in present}
    expected = {run_id: rows.get(run_id) if rows.get(run_id) is not None else expected_rows(study, run.params)
                for run_id, run in found.items()}
    damaged = store.verify(expected, study.tables)
    for run_id in damaged:
        store.remove_run(run_id, study.tables)
    for run_id, r in found.items():  # in run order
        if run_id not in rows and run_id not in damaged:
            store.record({"run_id": r.run_id, "point": r.point, "replicate": r.replicate, "params": r.params,
                          "seed": r.seed, "status": "ok", "error": "", "rows": expected[run_id],
                          "wall_seconds": None, "pid": None, "note": "found finished on resume"})
    finished = found.keys() - damaged.keys()
    return [r for r in study.runs if r.run_id not in finished], damaged


def _write_record(folder: Path) -> None:
    """``sweep.json``: the versions and commit that ran the sweep (the first time; kept on resume)."""
    import platform
    from datetime import datetime, timezone

    from wattyear import __version__
    from wattyear.experiments.run import source_revision

    path = folder / "sweep.json"
    if not path.exists():
        _write_text(path, json.dumps({"wattyear": __version__, "git_commit": source_revision(),
                                      "python": platform.python_version(), "numpy": np.__version__,
                                      "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
                                     indent=2) + "\n")


# ----------------------------------------------------------------------------------------------- Dask


def check_scheduler(address) -> str:
    """A Dask scheduler's address, checked before any connection is tried: a scheme Dask knows
    (``tcp://host:8786``, ``tls://``…; a bare ``host:port`` is TCP) with a host and a port."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError([Problem("--scheduler", str(address), "Dask installed: pip install 'wattyear[dask]'",
                                   "no distributed package")])
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    schemes = sorted(registry.backends)
    expected = "a Dask scheduler address such as tcp://host:8786 (" + ", ".join(f"{s}://" for s in schemes) + ")"

    def refuse(found) -> ConfigError:
        return ConfigError([Problem("--scheduler", str(address), expected, found)])

    if not isinstance(address, str) or not address.strip():
        raise refuse(address)
    try:
        scheme, location = parse_address(address, strict=False)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if scheme not in registry.backends:
        raise refuse(f"the unknown scheme {scheme}://")
    if scheme == "inproc":  # a scheduler in this very process (LocalCluster(processes=False))
        return address
    try:
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if not host or not 1 <= port <= 65535:
        raise refuse("no host" if not host else f"the port {port} (1-65535)")
    return address


def connect(address: str, timeout: float = SCHEDULER_TIMEOUT):
    """A client of the Dask scheduler at ``address``; one that does not answer within ``timeout``
    seconds is a ConfigError naming the address (not a wait of Dask's own 30 s and an OSError)."""
    check_scheduler(address)
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError([Problem("--scheduler", address, "a running Dask scheduler at this address (dask scheduler "
                                   "--host …; see docs/studies.md)",
                                   f"no answer within {timeout:g} s ({str(exc)[:200]})")]) from None


def _no_workers(client, timeout: float) -> ConfigError:
    return ConfigError([Problem("--scheduler", client.scheduler.address, "a cluster with at least one worker "
                                f"(dask worker {client.scheduler.address} --nthreads 1)",
                                f"no worker for {timeout:g} s")])


def _dask_results(client, make_tasks, worker_timeout: float):
    """Yield each ensemble's manifest entries as it finishes on the cluster, two tasks a worker thread
    in flight; stop with a ConfigError when the cluster has had no worker for ``worker_timeout``
    seconds (none came, or all left), rather than wait for ever."""
    from distributed import wait

    try:
        client.wait_for_workers(1, timeout=worker_timeout)
    except TimeoutError:
        raise _no_workers(client, worker_timeout) from None
    threads = max(sum(client.nthreads().values()), 1)
    tasks = iter(make_tasks(threads))
    in_flight = {client.submit(execute_group, t, pure=False) for t in itertools.islice(tasks, 2 * threads)}
    idle_since = None
    while in_flight:
        try:
            done, in_flight = wait(in_flight, timeout=min(1.0, worker_timeout / 4), return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished this second: is anyone still working?
            if client.nthreads():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= worker_timeout:
                raise _no_workers(client, worker_timeout) from None
            continue
        for future in done:
            entries = future.result()
            future.release()
            nxt = next(tasks, None)
            if nxt is not None:
                in_flight.add(client.submit(execute_group, nxt, pure=False))
            yield entries


# ----------------------------------------------------------------------------------------- local pool


def watch_coordinator(pid: int) -> None:
    """Pool initializer: end this worker as soon as the sweep's coordinating process ``pid`` ends, however
    it ends. A worker's parent is the forkserver, not the coordinator, and a coordinator killed with
    SIGKILL closes nothing a busy worker waits on: without this, workers (~550 MB) run on, writing
    results nobody records. Once they are gone, the forkserver, which lives while any of them does,
    ends too."""
    threading.Thread(target=_exit_with, args=(pid,), name="wattyear-coordinator-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    """Block until process ``pid`` ends, then end this process at once (a half-written result keeps its
    temporary name, which the next sweep removes). A pidfd (Linux 5.3+) becomes readable when the
    process ends, even as a zombie; elsewhere, poll once a second."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    else:
        while _alive(pid):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _execute(make_tasks, workers: int | None, client, worker_timeout: float = WORKER_TIMEOUT):
    """Yield each ensemble's manifest entries as it finishes, on a Dask cluster (``client``) or a local
    process pool.

    ``make_tasks(slots)`` packs the study for that many workers (on Dask, the cluster's threads). A
    bounded number of tasks is in flight (two a worker): memory stays flat however many a study has.
    """
    if client is not None:
        yield from _dask_results(client, make_tasks, worker_timeout)
        return
    workers = workers or os.cpu_count() or 1
    tasks = iter(make_tasks(workers))
    if workers == 1:
        for task in tasks:
            yield execute_group(task)
        return
    # forkserver: workers fork from a clean single-threaded server with the model preloaded
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["wattyear.experiments.sweep", "wattyear.sim.model",
                                    "wattyear.experiments.results"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=watch_coordinator,
                             initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(execute_group, task) for task in itertools.islice(tasks, 2 * workers)}
        try:
            while pending:  # keep a bounded number of tasks in flight: flat memory
                finished = next(as_completed(pending))
                pending.remove(finished)
                nxt = next(tasks, None)
                if nxt is not None:
                    pending.add(pool.submit(execute_group, nxt))
                yield finished.result()
        finally:  # stopped by an error (a full disk): what has not started never starts
            for future in pending:
                future.cancel()
