"""The example notebooks run from top to bottom in a fresh kernel, as a newcomer would run them.

Each is executed in its own empty working folder (they write under ``out/examples``), with no outputs kept in
the repository; a cell that raises fails the test and names the cell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_notebooks_and_none_carries_outputs():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert code and not any(c.get("outputs") or c.get("execution_count") for c in code), \
            f"{path.name}: store notebooks without outputs (the test runs them)"
        assert book.cells[0].cell_type == "markdown", f"{path.name}: opens with what it shows"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "out").exists() or path.stem.startswith("01"), "a study notebook writes its folder"
