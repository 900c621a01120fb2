"""A study's packed files: its run files gathered into one file a table (``runs.parquet`` beside ``runs/``,
``market.parquet`` beside ``market/`` …), and reading a study back from them.

The run files are the record; a packed file is a copy for reading, made because reading thousands of
small files costs a few milliseconds each (5,376 run files: 8.5 s, their packed file: 0.6 s). Its footer
holds a fingerprint of the run files it was packed from (names, inodes, sizes, modification times), and
it is read only while that fingerprint matches the folder: a run redone, removed or added since makes it
stale, and the next load packs the folder again. ``PackedTables`` is the part of ``store.ResultStore`` that
does this.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from wattyear.experiments.studies.folder_files import RUN_ID_KEY, read_table, sweep_lock, write_error
from wattyear.sim.problems import ConfigError, Problem

#: the footer key of a packed file: the fingerprint of the run files it was packed from (``PackedTables.files``)
PACKED_FROM_KEY = b"wattyear.packed_from"
#: rows per row group of a packed file (the run files' rows are gathered into groups this large)
PACKED_ROW_GROUP = 1 << 16


class MisplacedRunFiles(ConfigError):
    """Run files whose footers name other runs (``ResultStore.check_owners``)."""


#: record batches gathered while packing before they are joined into one (thousands of a run's few rows each,
#: 88 columns apiece, held 700 MiB for 10⁴ runs)
PACK_BATCHES_AT_ONCE = 512


def _batches(files: list[str], schema: pa.Schema):
    """(file, record batch) of ``files`` in order, each file read on its own (a dataset over every file keeps
    what it learnt of each: 2,000 run files took 660 MiB scanned at once) and given ``schema`` (the first
    file's, as pandas' reader takes it); a file whose columns differ is read as a dataset of it would be."""
    for path in files:
        table = pq.ParquetFile(path).read()
        if not table.schema.equals(schema, check_metadata=False):
            table = ds.dataset([path], format="parquet", schema=schema).to_table()
        for batch in table.to_batches():
            yield path, batch


class PackedTables:
    """Packing a study folder's run files and reading its tables back (mixed into ``store.ResultStore``,
    whose ``folder`` and ``runs_dir`` it reads)."""

    folder: Path
    runs_dir: Path

    def table_dir(self, table: str = "metrics") -> Path:
        """The folder of a table's run files: ``runs/`` for metrics, ``<table>/`` for the others."""
        return self.runs_dir if table == "metrics" else self.folder / table

    def packed_path(self, table: str = "metrics") -> Path:
        """The packed file of a table, beside its folder of run files: ``runs.parquet``, ``market.parquet``…"""
        folder = self.table_dir(table)
        return folder.with_name(f"{folder.name}.parquet")

    def files(self, table: str = "metrics") -> tuple[list[str], bytes]:
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
        # paths as text: a Path a run once parsed holds its parts too (about 250 bytes a run, 25 MiB at 10⁵)
        return [e.path for e in entries], digest.hexdigest().encode()

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
        # the first file's schema, as pandas' reader (a dataset over the files) takes it; read from that file
        # alone: a dataset over every file keeps about 2 KB of each (210 MiB at 10⁵ runs) just to give it
        try:
            first = pq.read_schema(files[0])
        except (OSError, pa.ArrowException) as exc:  # name the file (Arrow's message may not)
            raise OSError(f"cannot read the schema of {files[0]}: {exc}") from exc
        metadata = {k: v for k, v in (first.metadata or {}).items() if k != RUN_ID_KEY}
        schema = first.with_metadata({**metadata, PACKED_FROM_KEY: fingerprint,
                                      b"wattyear.run_files": str(len(files)).encode()})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        bar = _bar(len(files), f"packing {len(files):,} {table} run files into {path.name} (read from it from now on)",
                   progress)
        try:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer, bar:
                pending, rows, last = [], 0, None
                for file, batch in _batches(files, first):
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
    def check_owners(files: list[str] | list[Path]) -> None:
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
            stem = os.path.splitext(os.path.basename(path))[0]
            if owner is not None and owner.decode(errors="replace") != stem:
                wrong.append(Problem(str(path), "(file)", f"the rows of run {stem} (its name): run the sweep "
                                     "again to redo it", f"run {owner.decode(errors='replace')}'s rows (a file copied "
                                     "over another run's?)"))
        if wrong:
            raise MisplacedRunFiles(wrong)

    def _readable(self, table: str, progress: bool | None) -> Path | list[str] | None:
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
