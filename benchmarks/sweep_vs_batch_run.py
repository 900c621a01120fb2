"""Throughput of `wattyear sweep` against `mesa.batch_run`, and the sweep's peak memory.

Run on demand (it takes a few minutes):  .venv/bin/python benchmarks/sweep_vs_batch_run.py

1. The same 200-run grid (10 open-weights quality fractions x 20 seeds), the
   same number of worker processes, monthly lab metrics kept by both.
2. Peak resident memory of the coordinating process and of any worker, for a
   100-run and a 2,000-run sweep (20 replicates a point, 12-month runs, each
   sweep in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STUDY = """[study]
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


def write_study(folder: Path, points: int, replicates: int, months: int) -> Path:
    from sim.config import BASELINE

    values = [round(float(v), 4) for v in np.linspace(0.6, 0.9, points)]
    path = folder / f"bench_{points}x{replicates}.toml"
    path.write_text(STUDY.format(base=BASELINE, replicates=replicates, months=months, values=values))
    return path


def time_sweep(study: Path, out: Path, workers: int) -> float:
    from experiments.study import load_study
    from experiments.sweep import run_sweep

    t0 = time.perf_counter()
    report = run_sweep(load_study(study), out, workers=workers, progress=False)
    assert report.failed == 0
    return time.perf_counter() - t0


def time_batch_run(points: int, replicates: int, months: int, workers: int) -> float:
    import mesa

    from sim.model import WattyearModel

    values = [round(float(v), 4) for v in np.linspace(0.6, 0.9, points)]
    t0 = time.perf_counter()
    rows = mesa.batch_run(WattyearModel, parameters={"open_weights.quality_fraction": values, "run.months": months},
                          number_processes=workers, data_collection_period=1, max_steps=months + 1,
                          display_progress=False, rng=list(range(replicates)))
    assert rows
    return time.perf_counter() - t0


def peak_memory(points: int, replicates: int, months: int, workers: int) -> dict:
    """Run one sweep in a fresh interpreter and report its peak RSS (MiB)."""
    code = f"""
import json, resource, tempfile, threading, time
from pathlib import Path
import sys
import psutil
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from sweep_vs_batch_run import write_study, time_sweep
peak = {{"worker": 0}}
stop = threading.Event()
def sample():  # workers are the forkserver's children: sample the whole process tree
    me = psutil.Process()
    while not stop.is_set():
        for child in me.children(recursive=True):
            try:
                peak["worker"] = max(peak["worker"], child.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    seconds = time_sweep(write_study(d, {points}, {replicates}, {months}), d / "out", {workers})
stop.set()
self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"runs": {points * replicates}, "seconds": seconds,
                  "coordinator_mib": self_kib / 1024, "largest_worker_mib": peak["worker"] / 2**20}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--months", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        study = write_study(d, 10, 20, args.months)
        ours = time_sweep(study, d / "sweep", args.workers)
        theirs = time_batch_run(10, 20, args.months, args.workers)
    print(f"200 runs of {args.months} months on {args.workers} workers:")
    print(f"  wattyear sweep  {ours:7.1f} s  {200 / ours:6.2f} runs/s")
    print(f"  mesa.batch_run  {theirs:7.1f} s  {200 / theirs:6.2f} runs/s")
    print(f"  throughput ratio sweep / batch_run: {theirs / ours:.2f}x")
    small = peak_memory(5, 20, 12, args.workers)
    large = peak_memory(100, 20, 12, args.workers)
    for m in (small, large):
        print(f"  {m['runs']:5d} runs (12 months): {m['seconds']:6.1f} s, coordinator peak {m['coordinator_mib']:.0f} MiB,"
              f" largest worker {m['largest_worker_mib']:.0f} MiB")
    print(f"  peak memory 2,000 vs 100 runs: coordinator {large['coordinator_mib'] / small['coordinator_mib'] - 1:+.0%},"
          f" worker {large['largest_worker_mib'] / small['largest_worker_mib'] - 1:+.0%}")


if __name__ == "__main__":
    main()
