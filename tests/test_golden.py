"""The golden fingerprint: every output column of the golden cases equals the stored one.

The cases and how the stored fingerprint is regenerated (on purpose only: ``make golden``, with the
reason in the commit message) are in ``tests/golden.py``.
"""

import json

import pytest

from tests import golden


def test_every_output_column_matches_the_stored_fingerprint():
    stored = json.loads(golden.STORED.read_text())
    lines, exact = golden.differences(stored, golden.fingerprint())
    assert not lines, ("outputs differ from tests/golden/fingerprint.json (regenerate with `make golden` only "
                       "if the change is meant, and say why in the commit):\n" + "\n".join(lines[:40]))
    if not exact:
        pytest.skip(f"sums matched to 1e-9, but bytes were not compared: the fingerprint was made with numpy "
                    f"{stored['numpy']}")


def test_a_changed_number_is_reported_by_table_and_column():
    """The comparison can fail: one number nudged in the last bit is named."""
    stored = json.loads(golden.STORED.read_text())
    import pandas as pd

    fresh = json.loads(json.dumps(stored))
    case = next(iter(fresh["cases"]))
    column = fresh["cases"][case]["metrics"]["prints"]["revenue_usd"]
    column["sha256"] = golden.column_print(pd.Series([1.0]))["sha256"]
    lines, _ = golden.differences(stored, fresh)
    assert lines == [f"{case}/metrics.revenue_usd: bytes differ (sum {column['sum']} → {column['sum']})"]
