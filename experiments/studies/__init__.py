"""Studies and sweeps: study files (``study``), running them (``sweep``) on a process pool or Dask
(``executors``), the result store (``store``) and what a result folder holds (``result_folder``). The
packaged studies (``llama_pressure``, ``sensitivity``, ``screening``) are the ``*.toml`` files here."""

from __future__ import annotations

import argparse
import re

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
          "p": 1000**5, "pb": 1000**5, "pib": 1024**5}


def memory_size(text: str) -> int:
    """A memory budget such as ``1GiB``, ``512MiB``, ``2G``, ``1TiB`` or a number of bytes, from 1 MiB to
    1 PiB (units from k to P, decimal or binary: ``TB`` is 10¹², ``TiB`` 2⁴⁰).

    >>> memory_size("1GiB"), memory_size("512 MiB"), memory_size("2e9")
    (1073741824, 536870912, 2000000000)
    >>> memory_size("1TiB"), memory_size("2T"), memory_size("1PiB")
    (1099511627776, 2000000000000, 1125899906842624)
    """
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    try:
        value = float(match.group(1)) * _UNITS[unit] if match else -1.0
    except (KeyError, ValueError):
        value = -1.0
    if not 1024**2 <= value <= 2**50:
        raise argparse.ArgumentTypeError(f"expected a memory size from 1 MiB to 1 PiB such as 1GiB or 512MiB, "
                                         f"found {text!r}")
    return int(value)
