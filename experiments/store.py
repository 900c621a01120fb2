"""The result store of a sweep: one Parquet file per run, and a manifest.

Layout of a sweep folder::

    study.toml            a copy of the study file
    runs/<run_id>.parquet one per finished run (written to a temporary name, then renamed)
    manifest.jsonl        one line per run attempt: run id, parameters, seed, status, error, wall time
    manifest.parquet      the last record of every run, rewritten at the end of a sweep

A run is finished when its Parquet file exists; a sweep run again into the same
folder (or with ``--resume``) skips finished runs, so no run is ever stored
twice. Load all results as one table with ``pandas.read_parquet(folder / "runs")``,
``pyarrow.dataset.dataset(folder / "runs")`` or DuckDB's
``SELECT * FROM 'folder/runs/*.parquet'``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def arrow_table(columns: dict) -> pa.Table:
    """Columns (arrays, or scalars repeated down the table) as an Arrow table with the types pandas
    would give them: text as large strings, dates as millisecond timestamps. Several times faster
    than going through a DataFrame for the small tables of a sweep's runs."""
    rows = max((len(v) for v in columns.values() if isinstance(v, np.ndarray)), default=1)
    arrays = []
    for value in columns.values():
        value = np.asarray(value) if isinstance(value, np.ndarray) else np.full(rows, value)
        if value.dtype.kind in "OUS":
            arrays.append(pa.array(value.tolist(), type=pa.large_string()))
        elif value.dtype.kind == "M":
            arrays.append(pa.array(value.astype("datetime64[ms]")))
        else:
            arrays.append(pa.array(value))
    return pa.Table.from_arrays(arrays, names=list(columns))


class ResultStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"
        self.manifest_path = self.folder / "manifest.jsonl"

    def prepare(self) -> None:
        """Create the folder; drop temporary files a killed worker left behind."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.runs_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.parquet"

    def finished(self) -> set[str]:
        """Run ids with a complete Parquet file (partial files have a .tmp name)."""
        if not self.runs_dir.exists():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.parquet")}

    @staticmethod
    def write_run(path: Path, table: pd.DataFrame | dict) -> None:
        """Write one run's table (a DataFrame, or columns as arrays and scalars). Atomic: a crash
        leaves either no file or the whole file."""
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        if isinstance(table, pd.DataFrame):
            table.to_parquet(tmp, index=False)
        else:
            pq.write_table(arrow_table(table), tmp, write_statistics=False, use_dictionary=False)
        os.replace(tmp, path)

    def record(self, entry: dict) -> None:
        """Append one manifest line and flush it to disk."""
        with self.manifest_path.open("a") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def manifest(self) -> pd.DataFrame:
        """The last record of each run (a torn last line from a crash is ignored)."""
        rows = []
        if self.manifest_path.exists():
            for line in self.manifest_path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        return frame.drop_duplicates("run_id", keep="last").sort_values("run_id").reset_index(drop=True)

    def write_manifest_table(self) -> Path:
        frame = self.manifest()
        path = self.folder / "manifest.parquet"
        tmp = path.with_name(".manifest.parquet.tmp")
        if not frame.empty:
            frame = frame.assign(params=frame["params"].map(lambda p: json.dumps(p, sort_keys=True)))
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def load(self) -> pd.DataFrame:
        """All run results as one table."""
        return pd.read_parquet(self.runs_dir)
