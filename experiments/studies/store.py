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

The run files are the record; a packed file is a copy for reading, made because reading thousands of
small files costs a few milliseconds each (5,376 run files: 8.5 s, their packed file: 0.6 s). Its footer
holds a fingerprint of the run files it was packed from (names, inodes, sizes, modification times), and
it is read only while that fingerprint matches the folder: a run redone, removed or added since makes it
stale, and the next load packs the folder again. A sweep removes the packed files before it writes a
run. Load all results as one table with ``StudyResult.metrics`` (``wattyear.load_results(folder)``),
``pandas.read_parquet(folder / "runs.parquet")`` after a finished sweep, or, from the run files,
``pyarrow.dataset.dataset(folder / "runs")`` or DuckDB's ``SELECT * FROM 'folder/runs/*.parquet'``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from wattyear.experiments.studies import manifest  # (its limits read as manifest.MAX_…: one value to patch)
from wattyear.experiments.studies.manifest import (MANIFEST_ORDER, arrow_table, arrow_type, manifest_cell, record_lines,
                                                   record_of)
from wattyear.sim.outputs import with_units
from wattyear.sim.problems import ConfigError, Problem

#: the footer key of a run file naming its run (``ResultStore.verify`` checks it on resume)
RUN_ID_KEY = b"wattyear.run_id"
#: the footer key of a packed file: the fingerprint of the run files it was packed from (``ResultStore.files``)
PACKED_FROM_KEY = b"wattyear.packed_from"
#: the footer key of manifest.parquet: the stamp of the manifest.jsonl it was written from (``file_stamp``),
#: after the version of its format (a new format rewrites an old table whose manifest did not change)
MANIFEST_FROM_KEY = b"wattyear.manifest_from"
MANIFEST_TABLE_VERSION = 1
#: rows per row group of a packed file (the run files' rows are gathered into groups this large)
PACKED_ROW_GROUP = 1 << 16


class MisplacedRunFiles(ConfigError):
    """Run files whose footers name other runs (``ResultStore.check_owners``)."""


class WriteError(OSError):
    """A result that could not be written (a full disk, a read-only or vanished folder), naming the
    file. A sweep stops on it rather than recording the run as failed: every run after it would fail
    the same way, and none of them is the model's fault."""


def read_table(path: str | Path, what: str, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A Parquet table (a file, or a folder of them) a user points wattyear at, with the columns it must
    have. A damaged, truncated or foreign file is a ConfigError naming it, never a reader's traceback."""

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None  # the reader says why
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a pipe would be waited on for ever
        raise ConfigError([Problem(str(path), "(file)", what, "not a regular file (a device, pipe or socket)")])
    try:
        table = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError([Problem(str(path), "(file)", what, f"unreadable: {first}")]) from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ConfigError([Problem(str(path), "(columns)", f"{what}, with the columns {', '.join(columns)}",
                                   "no column " + ", ".join(missing))])
    return table


def read_json(path: str | Path, what: str, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object a user points wattyear at, with the keys it must have; anything else is a ConfigError
    naming the file."""
    from wattyear.sim.config_files import read_text_file

    path = Path(path)
    try:
        value = json.loads(read_text_file(path, what))
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem(str(path), "(syntax)", f"{what} (JSON)", str(exc))]) from None
    if not isinstance(value, dict):
        raise ConfigError([Problem(str(path), "(file)", f"{what}: a JSON object", type(value).__name__)])
    missing = [k for k in keys if k not in value]
    if missing:
        raise ConfigError([Problem(str(path), ", ".join(missing), what, "missing")])
    return value


def write_error(exc: OSError, path: Path) -> WriteError:
    """``exc`` as a WriteError naming ``path`` (Arrow's and ``write()``'s errors name no file)."""
    return WriteError(exc.errno or errno.EIO, exc.strerror or str(exc), str(path))


#: the lock a sweep holds on its folder
LOCK = "sweep.lock"


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


#: record batches gathered while packing before they are joined into one (thousands of a run's few rows each,
#: 88 columns apiece, held 700 MiB for 10⁴ runs)
PACK_BATCHES_AT_ONCE = 512


def _batches(files: list[Path], schema: pa.Schema):
    """(file, record batch) of ``files`` in order, each file read on its own (a dataset over every file keeps
    what it learnt of each: 2,000 run files took 660 MiB scanned at once) and given ``schema`` (the first
    file's, as pandas' reader takes it); a file whose columns differ is read as a dataset of it would be."""
    for path in files:
        table = pq.ParquetFile(path).read()
        if not table.schema.equals(schema, check_metadata=False):
            table = ds.dataset([path], format="parquet", schema=schema).to_table()
        for batch in table.to_batches():
            yield path, batch


def file_stamp(paths: list[Path]) -> str:
    """What a run's files are on disk: size, modification time (ns) and inode of each (``-`` for a file that
    is not there), as one text. Written to the run's manifest record when its files are; on resume a run
    whose files still have the stamp its record holds is the run written then (a file rewritten, copied over
    or cut since has another inode, time or size), so its footers need not be read again (``verify``).

    >>> file_stamp([Path("/no/such/file")])
    '-'
    """
    parts = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}")
    return ";".join(parts)


def parquet_intact(path: Path) -> bool:
    """Whether a Parquet file is whole as far as its bytes show: the magic number at both ends and a
    footer no longer than the file. Reads 12 bytes: cheap enough for every kept table of every run."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            size = fh.seek(0, os.SEEK_END)
            if size < 12:
                return False
            fh.seek(size - 8)
            tail = fh.read(8)
    except OSError:
        return False
    return head == b"PAR1" and tail[4:] == b"PAR1" and int.from_bytes(tail[:4], "little") + 12 <= size


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

    # ------------------------------------------------------------------------------ reading a study back

    def table_dir(self, table: str = "metrics") -> Path:
        """The folder of a table's run files: ``runs/`` for metrics, ``<table>/`` for the others."""
        return self.runs_dir if table == "metrics" else self.folder / table

    def packed_path(self, table: str = "metrics") -> Path:
        """The packed file of a table, beside its folder of run files: ``runs.parquet``, ``market.parquet``…"""
        folder = self.table_dir(table)
        return folder.with_name(f"{folder.name}.parquet")

    def files(self, table: str = "metrics") -> tuple[list[Path], bytes]:
        """A table's run files in name order (the order every reader gives their rows), and their
        fingerprint: a hash of each file's name, inode, size and modification time. A file rewritten
        (always to a new inode: written to a temporary name, then renamed), removed or added changes it.
        Names starting with ``.`` or ``_`` are left out, as Arrow's and pandas' readers leave them out."""
        folder = self.table_dir(table)
        try:
            entries = sorted((e for e in os.scandir(folder) if e.name.endswith(".parquet")
                              and not e.name.startswith((".", "_")) and e.is_file()), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        digest = hashlib.sha256()
        for entry in entries:
            st = entry.stat()
            digest.update(f"{entry.name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return [Path(e.path) for e in entries], digest.hexdigest().encode()

    def packed(self, table: str = "metrics", fingerprint: bytes | None = None) -> Path | None:
        """The table's packed file if it holds exactly the run files there are now, else None."""
        path = self.packed_path(table)
        if fingerprint is None:
            fingerprint = self.files(table)[1]
        try:
            held = (pq.read_schema(path).metadata or {}).get(PACKED_FROM_KEY)
        except (OSError, pa.ArrowException):  # none yet, or a damaged one: pack again
            return None
        return path if held == fingerprint else None

    def drop_packed(self, tables: tuple[str, ...] = ("metrics",)) -> None:
        """Remove the packed files (a sweep does, before it writes a run: they would go stale)."""
        for table in tables:
            self.packed_path(table).unlink(missing_ok=True)

    def pack(self, table: str = "metrics", progress: bool | None = None) -> Path | None:
        """Gather a table's run files into its packed file, unless it is current; return it (None: no run
        file). Streams the rows a row group at a time, so memory stays flat however many runs there are.
        ``progress``: None, a line saying what it does and a bar on a terminal; True, both anywhere; False,
        silent. Raises WriteError if the file cannot be written (the run files are untouched)."""
        files, fingerprint = self.files(table)
        path = self.packed_path(table)
        if not files:
            path.unlink(missing_ok=True)
            return None
        if self.packed(table, fingerprint) is not None:
            return path
        self.check_owners(files)
        dataset = ds.dataset(files, format="parquet")  # the first file's schema, as pandas' reader takes it
        metadata = {k: v for k, v in (dataset.schema.metadata or {}).items() if k != RUN_ID_KEY}
        schema = dataset.schema.with_metadata({**metadata, PACKED_FROM_KEY: fingerprint,
                                               b"wattyear.run_files": str(len(files)).encode()})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        bar = _bar(len(files), f"packing {len(files):,} {table} run files into {path.name} (read from it from now on)",
                   progress)
        try:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer, bar:
                pending, rows, last = [], 0, None
                for file, batch in _batches(files, dataset.schema):
                    if file != last:
                        if last is not None:
                            bar.update(1)
                        last = file
                    if batch.num_rows:
                        pending.append(batch)
                        rows += batch.num_rows
                    if len(pending) >= PACK_BATCHES_AT_ONCE:  # one batch of them: the same rows, less held
                        pending = pa.Table.from_batches(pending).combine_chunks().to_batches()
                    if rows >= PACKED_ROW_GROUP:
                        writer.write_table(pa.Table.from_batches(pending), row_group_size=PACKED_ROW_GROUP)
                        pending, rows = [], 0
                if pending:
                    writer.write_table(pa.Table.from_batches(pending), row_group_size=PACKED_ROW_GROUP)
                bar.update(1)
            os.replace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise write_error(exc, path) from exc
            raise
        return path

    @staticmethod
    def check_owners(files: list[Path]) -> None:
        """Refuse run files whose footer names another run (one run's file copied over another's would be
        read as that run: one run twice, another lost). Reads footers only (well under a millisecond a
        file); a file that does not read is left to its reader to name, one without a run id (written
        before run ids were) passes."""
        wrong = []
        for path in files:
            try:
                metadata = pq.read_metadata(path).metadata or {}
            except Exception:  # Arrow's errors for a cut or empty file vary: its reader names it
                continue
            owner = metadata.get(RUN_ID_KEY)
            if owner is not None and owner.decode(errors="replace") != path.stem:
                wrong.append(Problem(str(path), "(file)", f"the rows of run {path.stem} (its name): run the sweep "
                                     "again to redo it", f"run {owner.decode(errors='replace')}'s rows (a file copied "
                                     "over another run's?)"))
        if wrong:
            raise MisplacedRunFiles(wrong)

    def _readable(self, table: str, progress: bool | None) -> Path | list[Path] | None:
        """What to read a table from: its packed file, packed now if it is stale and no sweep is writing
        into the folder (a read-only folder, or a sweep under way, reads the run files); None if there are
        no run files."""

        files, fingerprint = self.files(table)
        if not files:
            return None
        current = self.packed(table, fingerprint)
        if current is not None:
            return current
        try:
            with sweep_lock(self.folder):
                return self.pack(table, progress) or files
        except MisplacedRunFiles:
            raise
        except (ConfigError, OSError, pa.ArrowException):
            # another sweep writes there, the folder is read-only, or a run file is damaged (its readers name it)
            self.check_owners(files)
            return files

    def dataset(self, table: str = "metrics", progress: bool | None = None) -> ds.Dataset:
        """A table's rows as a ``pyarrow.dataset`` (read lazily, only the columns and rows asked for): its
        packed file, packed first if stale (``_readable``); with no run file yet, the (empty) folder's."""
        source = self._readable(table, progress)
        return ds.dataset(self.table_dir(table) if source is None else source, format="parquet")

    def load(self, table: str = "metrics", progress: bool | None = None) -> pd.DataFrame:
        """All runs' rows of one table (``metrics``, or a table the study keeps: ``market``, ``funding``,
        ``leases``), in run order, read from the table's packed file (packed first if stale; ``pack`` says
        what ``progress`` shows)."""
        source = self._readable(table, progress)
        if source is None:  # e.g. no run raised: no funding file was written
            return pd.DataFrame()
        return read_table(source if isinstance(source, Path) else self.table_dir(table),
                          f"the {table} files of a sweep (a damaged run file is redone when the sweep is run again)")


def _bar(total: int, what: str, progress: bool | None):
    """A progress bar over ``total`` files, after a line saying ``what`` is done (see ``ResultStore.pack``)."""
    from tqdm.auto import tqdm

    if progress is not False:
        print(what + "…", file=sys.stderr, flush=True)
    return tqdm(total=total, unit="run", disable=None if progress is None else not progress, leave=False,
                dynamic_ncols=True)
