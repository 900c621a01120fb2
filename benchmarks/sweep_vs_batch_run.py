"""Throughput of `wattyear sweep` against `mesa.batch_run`, and the sweep's peak memory (run on demand).

    .venv/bin/python benchmarks/sweep_vs_batch_run.py [--grid] [--sobol [N]] [--memory-scaling [RUNS,RUNS]]
                                                      [--workers 2] [--memory 1GiB] [--months 120]

Every sweep is the ``wattyear sweep STUDY --out DIR --workers W --memory M
--no-progress`` command (``--memory``: each worker's ensemble budget, default
1GiB), timed wall-clock from start to exit. Its peak memory:

* coordinator (the ``wattyear`` process): "Maximum resident set size" of
  ``/usr/bin/time -v`` if present, else the largest RSS psutil saw sampling it,
  else ``resource.getrusage(RUSAGE_CHILDREN)`` after it exits (the largest of
  this script's children so far);
* largest worker: the largest RSS psutil saw sampling the coordinator's
  descendants every 50 ms (the pool's workers are children of a forkserver,
  not of the coordinator, so no rusage counts them); n/a without psutil.

``mesa.batch_run`` runs the same runs (same parameters and seeds) with the same
number of processes, in this process; its peak memory is this process's and
its largest pool worker's RSS, psutil sampling every 50 ms (n/a without psutil).

Modes (any combination; ``--grid`` alone when none is given):

--grid            the same 200 runs (10 open-weights quality fractions x 20
                  seeds), ``--months`` long, monthly lab metrics kept by both.
--sobol [N]       a study of N Sobol points (default 10,000), one replicate each,
                  keep = "summary", over a few parameters (``SOBOL_RANGES``).
                  ``mesa.batch_run`` runs only the first 200 points; its runs a
                  second are extrapolated to N (the table marks it).
--memory-scaling  the sweep's peak memory at 1,000 and 100,000 runs (or the
                  given counts): quality-fraction grids x 20 replicates, 12-month
                  runs, monthly lab metrics; prints the ratio of the largest to
                  the smallest.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from machine import format_table, machine_header
from wattyear.sim.config import BASELINE
from wattyear.sim.model import WattyearModel

WATTYEAR = Path(sys.executable).with_name("wattyear")
TIME_V = Path("/usr/bin/time")
HAS_PSUTIL = importlib.util.find_spec("psutil") is not None
#: the sampled parameters of --sobol: [low, high], or "bounds" for the cited range in configs/bounds.toml
SOBOL_RANGES = {
    "world.energy_usd_per_mwh": [55, 90],
    "open_weights.quality_fraction": [0.6, 0.95],
    "segments.api.beta_price": [2.0, 3.0],  # not in configs/bounds.toml: ±20% around the baseline's 2.5
    "segments.api.usage_growth_per_year": "bounds",
}
BATCH_RUN_SUBSET = 200
MEMORY_REPLICATES = 20
MEMORY_MONTHS = 12
SAMPLE_SECONDS = 0.05

GRID_STUDY = """[study]
name = "bench"
base = "{base}"
replicates = {replicates}
seed = 1
months = {months}

[grid]
"open_weights.quality_fraction" = {values}

[outputs]
keep = "monthly"
kinds = ["lab"]
"""

SOBOL_STUDY = """[study]
name = "bench-sobol"
base = "{base}"
replicates = 1
seed = 1
months = {months}

[sample]
method = "sobol"
n = {n}

[sample.ranges]
{ranges}

[outputs]
keep = "summary"
"""


class PointModel(WattyearModel):
    """One run of a study for ``mesa.batch_run``: ``case`` is (dotted parameters, seed); batch_run's rng is unused."""

    def __init__(self, case: tuple[dict, int], rng=None):
        params, seed = case
        super().__init__(None, rng=seed, **params)


def grid_values(points: int) -> list[float]:
    """``points`` open-weights quality fractions, evenly from 0.6 to 0.9."""
    return [round(float(v), 4) for v in np.linspace(0.6, 0.9, points)]


def write_grid_study(folder: Path, points: int, replicates: int, months: int) -> Path:
    """A study of ``points`` quality fractions x ``replicates`` seeds, monthly lab metrics kept."""
    path = folder / f"grid_{points}x{replicates}_{months}m.toml"
    path.write_text(GRID_STUDY.format(base=BASELINE, replicates=replicates, months=months,
                                      values=grid_values(points)))
    return path


def write_sobol_study(folder: Path, n: int, months: int) -> Path:
    """A study of n Sobol points over ``SOBOL_RANGES``, one run each, the last month kept."""
    ranges = "\n".join(f"{json.dumps(key)} = {json.dumps(rng)}" for key, rng in SOBOL_RANGES.items())
    path = folder / f"sobol_{n}_{months}m.toml"
    path.write_text(SOBOL_STUDY.format(base=BASELINE, months=months, n=n, ranges=ranges))
    return path


def sample_memory(pid: int, wrapped: bool, done: threading.Event, peak: dict) -> None:
    """Record the largest RSS of the coordinator and of any of its descendants until ``done`` is set."""
    import psutil

    root = psutil.Process(pid)
    while not done.wait(SAMPLE_SECONDS):
        try:
            children = root.children() if wrapped else [root]
            if not children:
                continue  # /usr/bin/time has not started the coordinator yet
            coordinator = children[0]
            peak["coordinator"] = max(peak["coordinator"], coordinator.memory_info().rss)
            for child in coordinator.children(recursive=True):
                peak["worker"] = max(peak["worker"], child.memory_info().rss)
        except psutil.Error:
            pass  # a process ended between listing and reading


def run_sweep_command(study: Path, out: Path, workers: int, extra: list[str]) -> dict:
    """Run ``wattyear sweep`` on a study; wall seconds and the peak memory (MiB) of coordinator and workers."""
    cmd = [str(WATTYEAR), "sweep", str(study), "--out", str(out), "--workers", str(workers), "--no-progress", *extra]
    wrapped = TIME_V.exists()
    peak, done = {"coordinator": 0, "worker": 0}, threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(TIME_V), "-v", *cmd] if wrapped else cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=sample_memory, args=(proc.pid, wrapped, done, peak))
    if HAS_PSUTIL:
        sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    if HAS_PSUTIL:
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"wattyear sweep failed ({proc.returncode}):\n{stdout}\n{stderr}")
    if wrapped:
        coordinator = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024
    elif HAS_PSUTIL:
        coordinator = peak["coordinator"] / 2**20
    else:
        coordinator = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "coordinator_mib": coordinator,
            "worker_mib": peak["worker"] / 2**20 if HAS_PSUTIL else None}


def memory_method() -> str:
    """How the peak memory columns were measured on this machine."""
    coordinator = ("/usr/bin/time -v" if TIME_V.exists() else
                   "psutil sampling" if HAS_PSUTIL else "getrusage(RUSAGE_CHILDREN)")
    worker = f"psutil sampling every {SAMPLE_SECONDS * 1e3:.0f} ms" if HAS_PSUTIL else "n/a (no psutil)"
    return f"peak RSS: coordinator by {coordinator}; largest worker by {worker}"


def time_batch_run(cases: list[tuple[dict, int]], months: int, workers: int, every_month: bool) -> dict:
    """Seconds ``mesa.batch_run`` takes over (parameters, seed) cases with ``workers`` processes, and the
    peak RSS (MiB) of this process and of its largest pool worker while it ran (psutil sampling)."""
    import mesa

    done, peak = threading.Event(), {"coordinator": 0, "worker": 0}
    sampler = None
    if HAS_PSUTIL:
        sampler = threading.Thread(target=sample_memory, args=(os.getpid(), False, done, peak))
        sampler.start()
    t0 = time.perf_counter()
    rows = mesa.batch_run(PointModel, parameters={"case": cases}, number_processes=workers,
                          data_collection_period=1 if every_month else -1, max_steps=months + 1,
                          display_progress=False, rng=[None])
    seconds = time.perf_counter() - t0
    done.set()
    if sampler is not None:
        sampler.join()
    assert rows
    mib = lambda b: b / 2**20 if HAS_PSUTIL else None  # noqa: E731
    return {"seconds": seconds, "parent_mib": mib(peak["coordinator"]), "worker_mib": mib(peak["worker"])}


def grid_cases(points: int, replicates: int, months: int) -> list[tuple[dict, int]]:
    """The --grid runs as batch_run cases: every quality fraction with seeds 0..replicates-1."""
    return [({"open_weights.quality_fraction": q, "run.months": months}, seed)
            for q in grid_values(points) for seed in range(replicates)]


def study_cases(study_path: Path, count: int) -> list[tuple[dict, int]]:
    """The first ``count`` runs of a study (its parameters, months and seeds) as batch_run cases."""
    from wattyear.experiments.studies.study import load_study

    study = load_study(study_path)
    months = study.base["run"]["months"]
    return [({**run.params, "run.months": months}, run.seed) for run in study.runs[:count]]


def sweep_row(case: str, runs: int, months: int, sweep: dict, batch_runs: int | None = None,
              batch: dict | None = None) -> list:
    """A table row: the sweep's numbers, and batch_run's (extrapolated to ``runs`` if it ran fewer)."""
    mib = lambda v: f"{v:.0f}" if v is not None else "n/a"  # noqa: E731
    cells = [case, f"{runs:,}", months, f"{sweep['seconds']:.1f}", f"{runs / sweep['seconds']:.2f}",
             mib(sweep["coordinator_mib"]), mib(sweep["worker_mib"])]
    if batch is None:
        return cells + ["", "", "", "", "", ""]
    rate = batch_runs / batch["seconds"]
    ran = f"{batch_runs:,}" + (" *" if batch_runs < runs else "")
    return cells + [ran, f"{batch['seconds']:.1f}", f"{rate:.2f}", mib(batch["parent_mib"]), mib(batch["worker_mib"]),
                    f"{runs / sweep['seconds'] / rate:.2f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes of both (default %(default)s)")
    parser.add_argument("--memory", default="1GiB", help="memory budget of each sweep worker (default %(default)s)")
    parser.add_argument("--months", type=int, default=120, help="months a run for --grid and --sobol "
                        "(default %(default)s)")
    parser.add_argument("--grid", action="store_true", help="the 200-run grid (the default mode)")
    parser.add_argument("--sobol", type=int, nargs="?", const=10000, metavar="N",
                        help="N Sobol points, one run each (N default 10000)")
    parser.add_argument("--memory-scaling", nargs="?", const="1000,100000", metavar="RUNS",
                        help="sweep peak memory at these run counts (default 1000,100000)")
    args = parser.parse_args()
    grid = args.grid or (args.sobol is None and args.memory_scaling is None)

    print(machine_header())
    extra = ["--memory", args.memory]
    rows, notes, memory = [], [], []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if grid:
            sweep = run_sweep_command(write_grid_study(d, 10, 20, args.months), d / "grid", args.workers, extra)
            batch = time_batch_run(grid_cases(10, 20, args.months), args.months, args.workers, every_month=True)
            rows.append(sweep_row("grid 10 x 20 seeds, monthly", 200, args.months, sweep, 200, batch))
        if args.sobol:
            study = write_sobol_study(d, args.sobol, args.months)
            sweep = run_sweep_command(study, d / "sobol", args.workers, extra)
            subset = study_cases(study, BATCH_RUN_SUBSET)
            batch = time_batch_run(subset, args.months, args.workers, every_month=False)
            rows.append(sweep_row(f"sobol {len(SOBOL_RANGES)} params, summary", args.sobol, args.months, sweep,
                                  len(subset), batch))
            if len(subset) < args.sobol:
                notes.append(f"* mesa.batch_run ran the first {len(subset)} of the {args.sobol:,} Sobol points;"
                             f" its runs/s is extrapolated to all of them")
        for runs in (int(r) for r in (args.memory_scaling.split(",") if args.memory_scaling else [])):
            points = max(1, runs // MEMORY_REPLICATES)
            study = write_grid_study(d, points, MEMORY_REPLICATES, MEMORY_MONTHS)
            sweep = run_sweep_command(study, d / f"memory_{runs}", args.workers, extra)
            memory.append((points * MEMORY_REPLICATES, sweep))
            rows.append(sweep_row(f"memory: {points} x {MEMORY_REPLICATES} seeds, monthly",
                                  points * MEMORY_REPLICATES, MEMORY_MONTHS, sweep))

    print(f"\nwattyear sweep{' ' + ' '.join(extra) if extra else ''} vs mesa.batch_run, {args.workers} worker"
          f" processes each; wall time of the whole command / call; ratio = sweep runs/s over batch_run runs/s")
    print(format_table(["case", "runs", "months", "sweep s", "runs/s", "coord. MiB", "worker MiB",
                        "batch_run runs", "batch_run s", "runs/s", "parent MiB", "worker MiB", "ratio"], rows))
    print(memory_method())
    if len(memory) > 1:
        (few, small), (many, large) = min(memory, key=lambda m: m[0]), max(memory, key=lambda m: m[0])
        worker = (f", largest worker {large['worker_mib'] / small['worker_mib']:.2f}x"
                  if small["worker_mib"] else "")
        notes.append(f"peak memory, {many:,} vs {few:,} runs: coordinator"
                     f" {large['coordinator_mib'] / small['coordinator_mib']:.2f}x{worker}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
