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


#: the columns of manifest.parquet, in this order (others after them, sorted)
MANIFEST_ORDER = ("run_id", "point", "replicate", "params", "seed", "status", "error", "rows", "wall_seconds",
                  "pid", "ensemble", "note")


def _arrow_type(key: str, seen: set[str]) -> pa.DataType:
    """The column type of a manifest key from the Python types its values had."""
    seen = seen - {"NoneType"}
    if key == "params" or "str" in seen or "dict" in seen or "list" in seen:
        return pa.large_string()
    if "float" in seen:
        return pa.float64()
    if "int" in seen:
        return pa.int64()
    if seen == {"bool"}:
        return pa.bool_()
    return pa.large_string()


def _cell(key: str, value):
    """A manifest value as its column stores it: parameters as sorted JSON text."""
    if key == "params" or isinstance(value, (dict, list)):
        return json.dumps(value if value is not None else {}, sort_keys=True)
    return value


class ResultStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"
        self.manifest_path = self.folder / "manifest.jsonl"

    def prepare(self, tables: tuple[str, ...] = ("metrics",)) -> None:
        """Create the folders; drop temporary files a killed worker left behind."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        folders = [self.runs_dir] + [self.folder / t for t in tables if t != "metrics"]
        for folder in folders:
            folder.mkdir(exist_ok=True)
            for stale in folder.glob(".*.tmp"):
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

    def _last_records(self) -> dict[str, int]:
        """The byte offset of the last manifest line of each run, by run id (a torn line from a crash
        is skipped). Offsets, not lines: a sweep of 10⁵ runs keeps a few megabytes, not its manifest."""
        last: dict[str, int] = {}
        if self.manifest_path.exists():
            with self.manifest_path.open("rb") as fh:
                offset = 0
                for line in fh:
                    try:
                        last[json.loads(line)["run_id"]] = offset
                    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                        pass
                    offset += len(line)
        return last

    def _read_records(self, offsets: list[int]) -> list[dict]:
        with self.manifest_path.open("rb") as fh:
            records = []
            for offset in offsets:
                fh.seek(offset)
                records.append(json.loads(fh.readline()))
        return records

    def recorded(self) -> set[str]:
        """Run ids with a manifest line."""
        return set(self._last_records())

    def manifest(self) -> pd.DataFrame:
        """The last record of each run, sorted by run id."""
        last = self._last_records()
        return pd.DataFrame(self._read_records([last[run_id] for run_id in sorted(last)]))

    def write_manifest_table(self, batch: int = 2_000) -> Path:
        """``manifest.parquet``: the last record of each run, sorted by run id (parameters as JSON text),
        written a batch of runs at a time, so a sweep of 10⁵ runs never holds its whole manifest."""
        last = self._last_records()
        ids = sorted(last)
        # one type per column over the whole manifest (a batch alone may lack a note or hold only ints)
        kinds: dict[str, set] = {}
        for i in range(0, len(ids), batch):
            for record in self._read_records([last[r] for r in ids[i: i + batch]]):
                for key, value in record.items():
                    kinds.setdefault(key, set()).add(type(value).__name__)
        order = [k for k in MANIFEST_ORDER if k in kinds] + sorted(k for k in kinds if k not in MANIFEST_ORDER)
        kinds = {key: kinds[key] for key in order}
        schema = pa.schema([(key, _arrow_type(key, seen)) for key, seen in kinds.items()])
        path = self.folder / "manifest.parquet"
        tmp = path.with_name(".manifest.parquet.tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for i in range(0, len(ids), batch):
                records = self._read_records([last[r] for r in ids[i: i + batch]])
                columns = {key: [_cell(key, record.get(key)) for record in records] for key in kinds}
                writer.write_table(pa.table(columns, schema=schema))
        os.replace(tmp, path)
        return path

    def load(self, table: str = "metrics") -> pd.DataFrame:
        """All runs' rows of one table (``metrics``, or a table the study keeps: ``market``, ``funding``,
        ``leases``)."""
        folder = self.runs_dir if table == "metrics" else self.folder / table
        if not any(folder.glob("*.parquet")):  # e.g. no run raised: no funding file was written
            return pd.DataFrame()
        return pd.read_parquet(folder)
