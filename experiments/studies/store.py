"""The result store of a sweep: one Parquet file per run, and a manifest (its records: ``manifest.py``).

Layout of a sweep folder::

    study.toml            a copy of the study file
    identity.json         what the runs came from: the study, its base config as resolved, the design, the version
    sweep.lock            held (flock) by the sweep writing into the folder
    runs/<run_id>.parquet one per finished run (written to a temporary name, then renamed)
    manifest.jsonl        one line per run attempt: run id, parameters, seed, status, error, wall time
    manifest.parquet      the last record of every run, rewritten at the end of a sweep
    runs.parquet          every finished run's rows in one file, packed at the end of a sweep (and
                          ``market.parquet`` … for each other table kept: ``<table>/`` packed)

A run is finished when its Parquet file exists and its footer holds the rows
the run has (``verify``: a file cut short by a crash or a full disk is
redone); a sweep run again into the same folder (or with ``--resume``) skips
finished runs, so no run is ever stored twice.

The run files are the record; the packed files (``packing.py``) are copies for reading. A sweep removes the
packed files before it writes a run. Load all results as one table with ``StudyResult.metrics`` (``wattyear.load_results(folder)``),
``pandas.read_parquet(folder / "runs.parquet")`` after a finished sweep, or, from the run files,
``pyarrow.dataset.dataset(folder / "runs")`` or DuckDB's ``SELECT * FROM 'folder/runs/*.parquet'``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wattyear.experiments.studies import manifest  # (its limits read as manifest.MAX_…: one value to patch)
from wattyear.experiments.studies.folder_files import RUN_ID_KEY, file_stamp, parquet_intact, write_error
from wattyear.experiments.studies.manifest import (MANIFEST_ORDER, arrow_table, arrow_type, manifest_cell, record_lines,
                                                   record_of)
from wattyear.experiments.studies.packing import PackedTables
from wattyear.sim.outputs import with_units
from wattyear.sim.problems import ConfigError, Problem

#: the footer key of manifest.parquet: the stamp of the manifest.jsonl it was written from (``file_stamp``),
#: after the version of its format (a new format rewrites an old table whose manifest did not change)
MANIFEST_FROM_KEY = b"wattyear.manifest_from"
MANIFEST_TABLE_VERSION = 1


class ResultStore(PackedTables):
    """A sweep folder's run files and manifest (writing, resuming); packing and reading back: ``PackedTables``."""

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
        try:
            arrow = with_units(pa.Table.from_pandas(table, preserve_index=False) if isinstance(table, pd.DataFrame)
                               else arrow_table(table))
            # the run the file belongs to, in its footer: resume checks it (a file copied over another run's
            # would otherwise pass for that run)
            arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), RUN_ID_KEY: path.stem.encode()})
            if isinstance(table, pd.DataFrame):
                pq.write_table(arrow, tmp)
            else:
                pq.write_table(arrow, tmp, write_statistics=False, use_dictionary=False)
            os.replace(tmp, path)
        except BaseException as exc:  # a full disk, or killed mid-write: no half-written file is left
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise write_error(exc, path) from exc
            raise

    def record(self, entry: dict) -> None:
        """Append one manifest line and flush it to disk, as a line of its own (``_end_torn_line``)."""
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        try:
            with self._open_manifest(write=True) as fh:
                self._end_torn_line(fh)
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise write_error(exc, self.manifest_path) from exc

    @staticmethod
    def _end_torn_line(fh) -> None:
        """Make the manifest end with a line break before a record is appended. A crash mid-write leaves
        a last line without one, and the next record would be glued to it and lost with it: a torn
        record is cut off (its run has no record, which resume handles); a whole one is ended."""
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        start = size
        while start > 0:  # back to the last line break, a block at a time
            block = min(1 << 16, start)
            fh.seek(start - block)
            cut = fh.read(block).rfind(b"\n")
            start -= block
            if cut >= 0:
                start += cut + 1
                break
        fh.seek(start)
        if size - start <= manifest.MAX_RECORD_BYTES and record_of(fh.read()) is not None:
            fh.write(b"\n")
        else:
            fh.truncate(start)

    def _last_records(self) -> dict[str, int]:
        """The byte offset of the last manifest line of each run, by run id (a torn line from a crash
        is skipped). Offsets, not lines: a sweep of 10⁵ runs keeps a few megabytes, not its manifest."""
        return {run_id: offset for run_id, (offset, _, _) in self._last_lines().items()}

    def _last_lines(self) -> dict[str, tuple[int, int | None, str | None]]:
        """(byte offset, rows, file stamp) of the last manifest record of each run, by run id (rows and stamp
        None unless it is an ``ok`` record with them). Lines that are not records (torn, or valid JSON of
        another shape such as ``42``) are skipped."""
        last: dict[str, tuple[int, int | None, str | None]] = {}
        fh = self._open_manifest()
        if fh is None:
            return last
        with fh:
            for offset, line in record_lines(fh):
                record = record_of(line)
                if record is not None:
                    rows = record.get("rows")
                    ok = record.get("status") == "ok" and type(rows) is int
                    last[record["run_id"]] = (offset, rows if ok else None, record.get("files") if ok else None)
        return last

    def _open_manifest(self, write: bool = False):
        """The manifest opened for reading (None if there is none yet) or for appending (created if need
        be), refused unless it is a regular file of at most ``manifest.MAX_MANIFEST_BYTES``: never through a symbolic
        link (a link to the zero device read into a MemoryError; one pointing nowhere would have a record
        create its target outside the folder), never a device or a pipe (opening a pipe waits for ever)."""
        path = self.manifest_path

        def refuse(found: str) -> ConfigError:
            return ConfigError([Problem(str(path), "(file)", "a sweep's manifest, a regular file", found)])

        flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT if write else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileNotFoundError:
            if not write:
                return None
            raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise refuse("a symbolic link" if exc.errno == errno.ELOOP else "a folder") from None
            raise
        info = os.fstat(fd)
        found = ("a folder" if stat.S_ISDIR(info.st_mode) else None if stat.S_ISREG(info.st_mode)
                 else "not a regular file (a device, pipe or socket)")
        if found is None and info.st_size > manifest.MAX_MANIFEST_BYTES:
            found = f"{info.st_size:,} bytes (at most {manifest.MAX_MANIFEST_BYTES:,} are read)"
        if found is not None:
            os.close(fd)
            raise refuse(found)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab+" if write else "rb")

    def recorded_rows(self) -> dict[str, int | None]:
        """The rows each run's last record says it stored (None: not an ``ok`` record with a count)."""
        return {run_id: rows for run_id, (_, rows, _) in self._last_lines().items()}

    def recorded_runs(self) -> tuple[dict[str, int | None], dict[str, str]]:
        """(the rows each run's last record says it stored, as ``recorded_rows``; the stamp of its files, where an
        ``ok`` record has one: ``file_stamp``), read in one pass over the manifest."""
        last = self._last_lines()
        return ({run_id: rows for run_id, (_, rows, _) in last.items()},
                {run_id: stamp for run_id, (_, _, stamp) in last.items() if stamp})

    def _read_records(self, offsets: list[int]) -> list[dict]:
        """The records at ``offsets`` (found by ``_last_lines``, so each is a record of at most
        ``manifest.MAX_RECORD_BYTES``)."""
        fh = self._open_manifest()
        if fh is None:
            return []
        with fh:
            records = []
            for offset in offsets:
                fh.seek(offset)
                records.append(record_of(fh.readline(manifest.MAX_RECORD_BYTES + 1)))
        return records

    def verify(self, expected: dict[str, int], tables: tuple[str, ...] = ("metrics",),
               stamps: dict[str, str] | None = None) -> dict[str, str]:
        """The finished runs among ``expected`` (run id: the rows its metrics file must hold) whose files
        cannot be trusted, with why: a metrics file whose footer does not read, names another run or holds
        another number of rows, or another kept table whose bytes are cut short. A run whose files still have
        the stamp its record holds (``stamps``, ``file_stamp``: one ``stat`` a file) and whose metrics file is
        whole at both ends (``parquet_intact``) was checked when it was written; only the others' footers are
        read (well under a millisecond a run)."""
        others = [self.folder / t for t in tables if t != "metrics"]
        stamps = stamps or {}
        damaged = {}
        for run_id, rows in expected.items():
            path = self.run_path(run_id)
            stamp = stamps.get(run_id)
            if stamp is not None and stamp == file_stamp(self.files_of(run_id, tables)) and parquet_intact(path):
                continue  # (the 12 bytes of its ends too: a file lost in a crash may keep its size and time)
            try:
                footer = pq.read_metadata(path)
                found = footer.num_rows
            except Exception as exc:  # Arrow's errors for a cut or empty file vary: any is a damaged file
                damaged[run_id] = f"its file did not read ({type(exc).__name__}: {str(exc)[:120]})"
                continue
            if found != rows:
                damaged[run_id] = f"its file held {found} rows, not {rows}"
                continue
            owner = (footer.metadata or {}).get(RUN_ID_KEY, b"").decode(errors="replace")
            if owner != run_id:
                damaged[run_id] = f"its file is run {owner!r}'s" if owner else "its file names no run"
                continue
            broken = [f"{d.name}/" for d in others if (d / path.name).exists() and not parquet_intact(d / path.name)]
            if broken:
                damaged[run_id] = f"its {', '.join(broken)} file was cut short"
        return damaged

    def files_of(self, run_id: str, tables: tuple[str, ...] = ("metrics",)) -> list[Path]:
        """A run's files, its metrics first, then each other table it keeps (which may not exist: a run with no
        raise has no funding file)."""
        path = self.run_path(run_id)
        return [path] + [self.folder / t / path.name for t in tables if t != "metrics"]

    def remove_run(self, run_id: str, tables: tuple[str, ...] = ("metrics",)) -> None:
        """Delete a run's files, its metrics first (so it counts as unfinished whatever happens next)."""
        for file in self.files_of(run_id, tables):
            file.unlink(missing_ok=True)

    def recorded(self) -> set[str]:
        """Run ids with a manifest line."""
        return set(self._last_records())

    def manifest(self) -> pd.DataFrame:
        """The last record of each run, sorted by run id."""
        last = self._last_records()
        return pd.DataFrame(self._read_records([last[run_id] for run_id in sorted(last)]))

    def write_manifest_table(self, batch: int = 2_000) -> Path:
        """``manifest.parquet``: the last record of each run, sorted by run id (parameters as JSON text),
        written a batch of runs at a time, so a sweep of 10⁵ runs never holds its whole manifest. Its footer
        holds the stamp of the ``manifest.jsonl`` it was written from (``file_stamp``); while that still
        matches, it is current and is not written again (a resume with nothing to do rewrote 10⁴ records)."""
        path = self.folder / "manifest.parquet"
        source = f"{MANIFEST_TABLE_VERSION}|{file_stamp([self.manifest_path])}".encode()
        try:
            if stat.S_ISREG(os.lstat(path).st_mode) and \
                    (pq.read_schema(path).metadata or {}).get(MANIFEST_FROM_KEY) == source:
                return path
        except Exception:  # noqa: BLE001  (none yet, or unreadable: written afresh)
            pass
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
        schema = pa.schema([(key, arrow_type(key, seen)) for key, seen in kinds.items()],
                           metadata={MANIFEST_FROM_KEY: source})
        tmp = path.with_name(".manifest.parquet.tmp")
        try:
            with pq.ParquetWriter(tmp, schema) as writer:
                for i in range(0, len(ids), batch):
                    records = self._read_records([last[r] for r in ids[i: i + batch]])
                    columns = {key: [manifest_cell(key, record.get(key), schema.field(key).type) for record in records]
                               for key in kinds}
                    writer.write_table(pa.table(columns, schema=schema))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise write_error(exc, path) from exc
        return path
