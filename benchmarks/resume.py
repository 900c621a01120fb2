"""The bookkeeping of resuming a large study (run on demand; never part of the tests).

    python benchmarks/resume.py [--runs 10000] [--folder out/bench_resume]

Sweeps a study of ``--runs`` three-month runs keeping the last month (once; an existing folder of the
same study is reused), then times, on a warm page cache:

* a resume with nothing left to do (``run_sweep`` on the finished folder: identity checks, the lock, the
  manifest, the check of every run's files, the packed file's fingerprint);
* the check of every run's files alone (``ResultStore.verify``), with the file stamps the manifest holds
  (one ``stat`` a file) and without them (every footer read, as before the stamps).
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import machine

#: the rows of this benchmark's table (``machine.timed``: the median of a few calls)
timed = partial(machine.timed, width=62, digits=3)


def study_text(runs: int) -> str:
    from wattyear.sim.config import CONFIG_DIR

    return (f'[study]\nname = "resume"\nbase = "{CONFIG_DIR / "baseline.toml"}"\nseed = 7\nmonths = 3\n'
            f'replicates = {runs}\n\n[grid]\n"open_weights.quality_fraction" = [0.8]\n\n'
            '[outputs]\nkeep = "summary"\nkinds = ["lab"]\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the study (default %(default)s)")
    parser.add_argument("--folder", type=Path, default=Path("out/bench_resume"), help="where to sweep it")
    args = parser.parse_args()

    from wattyear.experiments.studies.store import ResultStore
    from wattyear.experiments.studies.study import load_study
    from wattyear.experiments.studies.sweep import run_sweep

    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / "study.toml"
    path.write_text(study_text(args.runs))
    study = load_study(path)
    out = args.folder / "out"
    t0 = time.perf_counter()
    report = run_sweep(study, out, progress=False)
    print(f"{len(study.runs):,} runs; sweep: {report.done:,} done, {report.skipped:,} skipped in "
          f"{time.perf_counter() - t0:.1f} s")
    store = ResultStore(out)
    rows, stamps = store.recorded_runs()
    finished = sorted(store.finished())
    expected = {r: rows[r] for r in finished}
    print(f"{len(finished):,} run files, {len(stamps):,} with a stamp in the manifest")
    timed("resume with nothing to do (run_sweep)", lambda: run_sweep(study, out, progress=False))
    damaged = timed("verify every run's files, with the stamps", lambda: store.verify(expected, study.tables, stamps))
    assert not damaged
    damaged = timed("verify every run's files, reading every footer", lambda: store.verify(expected, study.tables))
    assert not damaged


if __name__ == "__main__":
    main()
