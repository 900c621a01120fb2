"""Helpers the sweep tests share: a sweep folder's run tables, and their equality."""

from pathlib import Path

import pandas as pd


def results(folder: Path) -> dict[str, pd.DataFrame]:
    """Each run's metrics table in a sweep folder, by run id."""
    return {p.stem: pd.read_parquet(p) for p in sorted((folder / "runs").glob("*.parquet"))}


def assert_same_results(a: Path, b: Path):
    """Two sweep folders hold the same runs, bit for bit (and at least one)."""
    ra, rb = results(a), results(b)
    assert ra.keys() == rb.keys() and ra
    for run_id in ra:
        pd.testing.assert_frame_equal(ra[run_id], rb[run_id], check_exact=True)
