"""The parameter reference is generated from the schema and kept in step."""

from pathlib import Path

from wattyear.sim.docs import parameter_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_parameters_md_matches_the_schema():
    assert (DOCS / "parameters.md").read_text() == parameter_table(), \
        "docs/parameters.md is stale: run `make docs` (wattyear params > docs/parameters.md)"
