"""The files of a sweep's folder at the level of single files: reading a table or JSON file a user points
wattyear at (a damaged one is a ConfigError naming it), a write error that names its file, the lock a sweep
holds on its folder, and what a run file is on disk (its stamp; whether its bytes are whole). Used by the
result store (``store.py``) and its packed copies (``packing.py``).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from wattyear.sim.problems import ConfigError, Problem

#: the footer key of a run file naming its run (``ResultStore.verify`` checks it on resume)
RUN_ID_KEY = b"wattyear.run_id"


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
