"""The machine a benchmark ran on, as a few header lines above its table (and the table).

``machine_header()`` gives the CPU model (``/proc/cpuinfo``), the logical cores
(``os.cpu_count()``) and those this process may run on
(``os.sched_getaffinity``), the Python and numpy versions, the BLAS library
numpy calls and its thread count, and the date.

The BLAS comes from ``threadpoolctl.threadpool_info()`` when threadpoolctl is
importable. Otherwise the library is named by ``numpy.show_config(mode="dicts")``
and its thread count is asked of the loaded OpenBLAS itself (its
``*openblas*get_num_threads*`` symbol, found through ``/proc/self/maps``).

``format_table()`` lays out the one table each benchmark prints.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import platform
import re
from pathlib import Path

import numpy as np


def cpu_model() -> str:
    """The first ``model name`` of /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas() -> str:
    """The BLAS numpy uses, its version and thread count, and how that was found."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _blas_from_numpy()
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    if not libs:
        return "none loaded (threadpoolctl)"
    return "; ".join(f"{lib['internal_api']} {lib.get('version')}, threads={lib['num_threads']}" for lib in libs) \
        + " (threadpoolctl)"


def _blas_from_numpy() -> str:
    info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    threads = _openblas_threads()
    count = f"threads={threads}" if threads is not None else "thread count unknown"
    return f"{info['name']} {info.get('version', '')}, {count} (numpy.show_config; threads from the library)"


def _openblas_threads() -> int | None:
    """Ask the OpenBLAS loaded into this process how many threads it uses."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for path in sorted(set(re.findall(r"\S*openblas\S*\.so\S*", maps))):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(lib, name):
                return int(getattr(lib, name)())
    return None


def machine_header() -> str:
    """A few lines describing this machine, for the top of a benchmark's output."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    return "\n".join([
        f"CPU:     {cpu_model()}",
        f"cores:   {os.cpu_count()} logical, {affinity} usable by this process",
        f"Python:  {platform.python_version()}, numpy {np.__version__}",
        f"BLAS:    {blas()}",
        f"date:    {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
    ])


def format_table(headers: list[str], rows: list[list]) -> str:
    """A plain-text table: a header row, a rule, then one line a row (cells right-aligned but the first)."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    print(machine_header())


def timed(what: str, call, repeats: int = 3, width: int = 58, digits: int = 2):
    """Run ``call`` ``repeats`` times; print ``what`` (padded to ``width``) with the median wall time (to
    ``digits`` decimals) and return the last result."""
    import statistics
    import time

    seconds, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - t0)
    print(f"  {what:<{width}} {statistics.median(seconds):7.{digits}f} s  (median of {repeats})", flush=True)
    return result

