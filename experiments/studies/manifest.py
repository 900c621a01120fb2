"""The manifest's records: one JSON line per run attempt in ``manifest.jsonl``, each field checked when it is
read back (a torn or wrongly typed line is skipped, never trusted), and the Arrow types ``manifest.parquet``
is written with. ``experiments.studies.store.ResultStore`` appends, reads and rewrites them.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

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
                  "pid", "ensemble", "note", "files")


def arrow_type(key: str, seen: set[str]) -> pa.DataType:
    """The column type of a manifest key from the Python types its values had: numbers as numbers, flags
    as flags, anything else or a mixture as text."""
    seen = seen - {"NoneType"}
    if key == "params" or not seen:
        return pa.large_string()
    if seen <= {"int", "float"}:
        return pa.float64() if "float" in seen else pa.int64()
    if seen == {"bool"}:
        return pa.bool_()
    return pa.large_string()


def manifest_cell(key: str, value, kind: pa.DataType):
    """A manifest value as its column stores it: parameters as sorted JSON text, and any other value that
    is not text in a text column (a key of a newer version whose values vary in type) as JSON text too."""
    if key == "params" or isinstance(value, (dict, list)):
        return json.dumps(value if value is not None else {}, sort_keys=True)
    if pa.types.is_large_string(kind) and value is not None and not isinstance(value, str):
        return json.dumps(value)
    return value


def _whole(value) -> bool:
    return type(value) is int


def _number(value) -> bool:
    return type(value) in (int, float)


#: what each field of a manifest record holds (the sweep writes them; ``record_of`` checks them)
MANIFEST_FIELDS = {
    "run_id": lambda v: type(v) is str,
    "point": _whole, "replicate": _whole, "seed": _whole,
    "params": lambda v: type(v) is dict,
    "status": lambda v: v in ("ok", "failed"),
    "error": lambda v: type(v) is str, "note": lambda v: type(v) is str,
    "rows": lambda v: v is None or (_whole(v) and v >= 0),
    "wall_seconds": lambda v: v is None or _number(v),
    "pid": lambda v: v is None or _whole(v), "ensemble": lambda v: v is None or _whole(v),
    "files": lambda v: v is None or type(v) is str,  # the stamp of the run's files (``store.file_stamp``)
}


def record_of(line: bytes) -> dict | None:
    """A manifest line as a record, or None if it is not one: torn by a crash, valid JSON of another shape
    (a number, a list, an object without a text ``run_id``), or a record with a field of the wrong type
    (``"rows": "12"``, a text seed: ``MANIFEST_FIELDS``). Resume skips such a line, as it skips a torn one,
    rather than trip on it: the run is then judged by its file alone (kept and recorded again if its file
    verifies, redone if not), which loses nothing the line could be trusted for."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or "run_id" not in record:
        return None
    if not all(check(record[key]) for key, check in MANIFEST_FIELDS.items() if key in record):
        return None
    return record


#: the longest manifest line read as a record (a record is a few hundred bytes; a failed run's error is
#: cut to 2,000 characters): a longer line, or a file without line breaks, is not read into memory whole
MAX_RECORD_BYTES = 1 << 20


#: the largest manifest read: 10⁶ runs (a study's limit) of failed records, with their errors, fit
MAX_MANIFEST_BYTES = 4 << 30


def record_lines(fh):
    """(byte offset, line) of each line of a binary file; a line longer than ``MAX_RECORD_BYTES`` is
    yielded as an empty line (not a record), without holding it."""
    offset = 0
    while True:
        line = fh.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        start = offset
        offset += len(line)
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the long line
                line = fh.readline(MAX_RECORD_BYTES)
                offset += len(line)
            line = b""
        yield start, line
