"""A large study on a local Dask cluster, and a very large design's coordinator alone (run on demand; never
part of the tests; needs the ``dask`` extra).

    python benchmarks/dask_sweep.py --runs 100000 [--months 3] [--workers 2]   # a sweep on loopback
    python benchmarks/dask_sweep.py --coordinator 1000000                      # design and tasks only

``--runs``: starts ``dask scheduler`` on 127.0.0.1 and ``dask worker --nworkers W --nthreads 1`` against it
(as ``docs/studies.md`` shows), runs ``wattyear sweep STUDY --scheduler tcp://127.0.0.1:PORT`` on a study of
that many runs (a grid of open-weights quality × seeds, the last month kept), and reports the wall time, runs
a second, the coordinator's peak RSS and the largest worker's (psutil, sampled every 50 ms). The cluster is
stopped at the end.

``--coordinator``: in this process, loads a study of that many runs (its design: points and seeds) and makes
every task the sweep would hand its workers (``sweep.tasks_for``), without running any; reports the seconds
and the peak RSS (``getrusage``) of each step.
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from machine import machine_header

BIN = Path(sys.executable).parent
STUDY = """[study]
name = "dask_bench"
base = "{base}"
seed = 11
months = {months}
replicates = {replicates}

[grid]
"open_weights.quality_fraction" = {values}

[outputs]
keep = "summary"
kinds = ["lab"]
"""
#: design points of the grid; the rest of the runs are replicates
POINTS = 10


def write_study(folder: Path, runs: int, months: int) -> Path:
    from wattyear.sim.config import CONFIG_DIR

    values = [round(0.5 + 0.4 * i / max(POINTS - 1, 1), 4) for i in range(POINTS)]
    path = folder / f"dask_{runs}.toml"
    path.write_text(STUDY.format(base=CONFIG_DIR / "baseline.toml", months=months,
                                 replicates=max(1, runs // POINTS), values=values))
    return path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def coordinator_alone(runs: int, months: int) -> None:
    from wattyear.experiments.studies.store import ResultStore
    from wattyear.experiments.studies.study import load_study
    from wattyear.experiments.studies.sweep import tasks_for

    print(f"coordinator alone, {runs:,} runs (peak RSS of this process after each step)")
    with tempfile.TemporaryDirectory() as d:
        path = write_study(Path(d), runs, months)
        start = peak_rss_mib()
        t0 = time.perf_counter()
        study = load_study(path)
        t1 = time.perf_counter()
        print(f"  design: {len(study.runs):,} runs (points and seeds; each run spec is made when a task takes it) "
              f"in {t1 - t0:.1f} s; peak RSS {peak_rss_mib():,.0f} MiB "
              f"(from {start:,.0f})")
        tasks = n_runs = 0
        for task in tasks_for(study, study.runs, ResultStore(Path(d) / "out"), workers=2):
            tasks += 1
            n_runs += len(task["runs"])
        print(f"  tasks: {tasks:,} ensembles of {n_runs / max(tasks, 1):,.0f} runs in {time.perf_counter() - t1:.1f} s;"
              f" peak RSS {peak_rss_mib():,.0f} MiB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(pids: list[int], done: threading.Event, peak: dict) -> None:
    """The largest RSS of the coordinator (pids[0]) and of any process under the workers' nanny (pids[1])."""
    import psutil

    while not done.wait(0.05):
        try:
            peak["coordinator"] = max(peak["coordinator"], psutil.Process(pids[0]).memory_info().rss)
            for child in psutil.Process(pids[1]).children(recursive=True):
                peak["worker"] = max(peak["worker"], child.memory_info().rss)
        except psutil.Error:
            pass


def dask_sweep(runs: int, months: int, workers: int) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        study = write_study(d, runs, months)
        scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--dashboard-address", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", str(workers), "--nthreads",
                                   "1", "--memory-limit", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)  # the scheduler and workers start
            peak, done = {"coordinator": 0, "worker": 0}, threading.Event()
            t0 = time.perf_counter()
            sweep = subprocess.Popen([str(BIN / "wattyear"), "sweep", str(study), "--out", str(d / "out"),
                                      "--scheduler", address, "--no-progress"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            sampler = threading.Thread(target=sample, args=([sweep.pid, worker.pid], done, peak), daemon=True)
            sampler.start()
            try:
                out, err = sweep.communicate()
            finally:
                seconds = time.perf_counter() - t0
                done.set()
                sampler.join()
            if sweep.returncode != 0:
                raise RuntimeError(f"wattyear sweep failed ({sweep.returncode}):\n{out}\n{err}")
        finally:
            for p in (worker, scheduler):
                p.terminate()
                p.wait(timeout=30)
    runs = POINTS * max(1, runs // POINTS)  # the study's runs: whole replicates of every point
    print(f"Dask on loopback, {workers} worker processes of 1 thread, {runs:,} runs of {months} months "
          f"(the last month kept)")
    print(f"  {seconds:.1f} s, {runs / seconds:,.0f} runs/s; peak RSS: coordinator "
          f"{peak['coordinator'] / 2**20:,.0f} MiB, largest worker {peak['worker'] / 2**20:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="sweep a study of this many runs on a local Dask cluster")
    parser.add_argument("--coordinator", type=int, metavar="RUNS", help="the coordinator alone for this many runs")
    parser.add_argument("--months", type=int, default=3, help="months a run (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default %(default)s)")
    args = parser.parse_args()
    print(machine_header())
    if args.coordinator:
        coordinator_alone(args.coordinator, args.months)
    if args.runs:
        dask_sweep(args.runs, args.months, args.workers)


if __name__ == "__main__":
    main()
