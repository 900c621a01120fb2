"""The golden fingerprint: every output column of a few short runs, hashed and stored.

A restructuring of the model that is meant to change nothing must leave every
number a user can see bit-identical. This module runs a fixed set of cases —
the baseline over three seeds, the Colossus lease, the 2025 backtest world, and an
ensemble of baseline scenarios that differ in numbers and seeds — and fingerprints every column of every
table they write (``metrics``, ``market``, ``leases``, ``funding``): its row
count, dtype, a SHA-256 of its bytes, and the sum and absolute sum of a
numeric column (printed at full precision, for the report when a hash differs).

``tests/test_golden.py`` compares a fresh fingerprint with the stored one,
``tests/golden/fingerprint.json``. The file is regenerated only on purpose:

    make golden           # = python tests/golden.py --write

and the commit that does so says why the numbers moved. Hashes are exact only
for the numpy they were made with (a numpy release may change the last bit of
``exp`` or ``log``); under another numpy the test compares each column's sums
to a relative 1e-9 instead, and says so.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: where the stored fingerprint lives
STORED = Path(__file__).with_name("golden") / "fingerprint.json"
#: months each case runs: long enough for builds ordered at the start to enter service, raises,
#: lease roll-overs and a release (the baseline's first open-weights release is in its first year)
MONTHS = 36
TABLES = ("metrics", "market", "leases", "funding")


def _runs() -> dict[str, object]:
    """Each case's result (``RunResult`` or ``EnsembleResult``: both carry the four tables)."""
    import wattyear

    cases: dict[str, object] = {}
    for seed in (42, 1, 7):
        cases[f"baseline-seed{seed}"] = wattyear.run("baseline", seed=seed, months=MONTHS)
    cases["colossus_lease-seed42"] = wattyear.run("colossus_lease", seed=42, months=MONTHS)
    cases["backtest_2025-seed42"] = wattyear.run("backtest_2025", seed=42, months=MONTHS)
    # scenarios of one structure that differ in numbers and seeds, stepped together (the batch path)
    cases["ensemble"] = wattyear.run_ensemble(
        "baseline",
        overrides=[{}, {"open_weights.quality_fraction": 0.9, "world.energy_usd_per_mwh": 120.0},
                   {"labs.anthropic.power_secured_w_per_year": 4e9, "open_weights.release_every_months": 6}],
        seeds=[3, 4, 5], months=MONTHS)
    return cases


def column_print(values: pd.Series) -> dict:
    """A column's fingerprint: dtype, SHA-256 of its bytes (strings joined by a unit separator) and,
    for numbers, the sum and the sum of absolute values.

    >>> column_print(pd.Series([1.0, -2.0]))["sum"], column_print(pd.Series([1.0, -2.0]))["abs"]
    ('-1.0', '3.0')
    """
    print_ = {"dtype": str(values.dtype)}
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        data = "\x1f".join("" if v is None else str(v) for v in values).encode()
    else:
        array = values.to_numpy()
        if np.issubdtype(array.dtype, np.datetime64):
            array = array.view(np.int64)
        array = np.ascontiguousarray(array)
        data = array.tobytes()
        if np.issubdtype(array.dtype, np.number) or array.dtype == bool:
            numbers = array.astype(float)
            print_["sum"] = repr(float(numbers.sum()))
            print_["abs"] = repr(float(np.abs(numbers).sum()))
    print_["sha256"] = hashlib.sha256(data).hexdigest()
    return print_


def fingerprint() -> dict:
    """The fingerprint of every case: ``{"numpy": version, "cases": {case: {table: {...}}}}``."""
    cases = {}
    for name, result in _runs().items():
        cases[name] = {}
        for table in TABLES:
            frame: pd.DataFrame = getattr(result, table)
            cases[name][table] = {"rows": len(frame), "columns": list(frame.columns),
                                  "prints": {c: column_print(frame[c]) for c in frame.columns}}
    return {"numpy": np.__version__, "months": MONTHS, "cases": cases}


def differences(stored: dict, fresh: dict) -> tuple[list[str], bool]:
    """What differs between two fingerprints, one line per column, and whether hashes were compared
    (the same numpy) or only the sums (another numpy, to a relative 1e-9)."""
    exact = stored.get("numpy") == fresh["numpy"]
    lines = []
    if set(stored["cases"]) != set(fresh["cases"]):
        lines.append(f"cases: stored {sorted(stored['cases'])}, now {sorted(fresh['cases'])}")
    for case in sorted(set(stored["cases"]) & set(fresh["cases"])):
        for table in TABLES:
            old, new = stored["cases"][case][table], fresh["cases"][case][table]
            where = f"{case}/{table}"
            if old["rows"] != new["rows"]:
                lines.append(f"{where}: {old['rows']} rows stored, {new['rows']} now")
            if old["columns"] != new["columns"]:
                lines.append(f"{where}: columns stored {old['columns']}, now {new['columns']}")
            for column in [c for c in old["columns"] if c in new["prints"]]:
                a, b = old["prints"][column], new["prints"][column]
                if a["dtype"] != b["dtype"]:
                    lines.append(f"{where}.{column}: dtype {a['dtype']} stored, {b['dtype']} now")
                elif exact and a["sha256"] != b["sha256"]:
                    detail = f" (sum {a['sum']} → {b['sum']})" if "sum" in a else ""
                    lines.append(f"{where}.{column}: bytes differ{detail}")
                elif not exact and "sum" in a:
                    for key in ("sum", "abs"):
                        x, y = float(a[key]), float(b[key])
                        if not np.isclose(x, y, rtol=1e-9, atol=0.0):
                            lines.append(f"{where}.{column}: {key} {a[key]} stored, {b[key]} now")
                elif not exact and a["sha256"] != b["sha256"]:
                    lines.append(f"{where}.{column}: values differ")
    return lines, exact


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print("usage: python tests/golden.py [--write]", file=sys.stderr)
        return 2
    fresh = fingerprint()
    if argv == ["--write"]:
        STORED.parent.mkdir(exist_ok=True)
        STORED.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
        print(f"wrote {STORED} (numpy {fresh['numpy']}): say in the commit message why the numbers moved")
        return 0
    lines, exact = differences(json.loads(STORED.read_text()), fresh)
    print("\n".join(lines) or f"identical ({'bytes' if exact else 'sums to 1e-9: another numpy'})")
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
