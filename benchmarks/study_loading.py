"""Loading a study's results: its run files one by one against its packed file (run on demand; never part of
the tests).

    python benchmarks/study_loading.py [FOLDER]      # default out/sensitivity (wattyear sensitivity sensitivity)

Times, on a warm page cache: reading every run file as pandas did before packed files
(``pandas.read_parquet(FOLDER / "runs")``), packing them (``ResultStore.pack``, what the end of a sweep
does), ``StudyResult.metrics`` from the packed file, and the analysis' read of the labs' rows
(``analysis.study_data.load``). Packing writes ``FOLDER/runs.parquet`` (as any load of the folder would).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from machine import timed


def main(folder: Path) -> None:
    import wattyear
    from wattyear.experiments.analysis.study_data import load
    from wattyear.experiments.studies.store import ResultStore

    store = ResultStore(folder)
    files, _ = store.files()
    if not files:
        print(f"{folder}: no run files, skipped (make them with: wattyear sensitivity sensitivity)")
        return
    size = sum(f.stat().st_size for f in files)
    print(f"{folder}: {len(files):,} run files, {size / 1e6:.0f} MB")
    pd.read_parquet(store.runs_dir)  # warm the page cache: both ways then read from memory
    before = timed("every run file (pandas.read_parquet(runs/), before)", lambda: pd.read_parquet(store.runs_dir))

    def pack():
        store.packed_path().unlink(missing_ok=True)
        return store.pack(progress=False)

    packed = timed("packing them into runs.parquet (end of a sweep, once)", pack, repeats=1)
    print(f"  {'':<58} {packed.stat().st_size / 1e6:7.0f} MB packed")
    after = timed("StudyResult.metrics from runs.parquet (after)",
                  lambda: wattyear.load_results(folder, progress=False).metrics)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    print(f"  {'':<58} {len(after):,} rows x {after.shape[1]} columns, the same frame both ways")
    timed("the analysis' read of the labs' rows (study_data.load)", lambda: load(folder))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/sensitivity"))
