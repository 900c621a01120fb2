"""The parameter reference is generated from the schema and kept in step."""

import csv
import re
from pathlib import Path

from wattyear.sim.docs import parameter_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_parameters_md_matches_the_schema():
    assert (DOCS / "parameters.md").read_text() == parameter_table(), \
        "docs/parameters.md is stale: run `make docs` (wattyear params > docs/parameters.md)"


def slug(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped (not - or _), spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_pattern_table_names_real_tests_sources_and_sections():
    """docs/odd.md: every row of its pattern table is checked by a test that exists (file::function) or says
    it is not yet reproduced; every source key it cites is in configs/sources.csv; every link into
    model.md lands on a heading."""
    text = (DOCS / "odd.md").read_text()
    table = text.split("## Pattern table", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| pattern")
            and not line.startswith("| ---")]
    assert len(rows) >= 20
    tests = DOCS.parent / "tests"
    for row in rows:
        checked = row.rstrip(" |").rsplit(" | ", 1)[1]
        named = re.findall(r"`tests/(\w+\.py)::(\w+)`", checked)
        assert named or "not yet reproduced" in checked, row
        for file, function in named:
            assert f"def {function}(" in (tests / file).read_text(), (file, function)
    with (DOCS.parent / "configs" / "sources.csv").open(newline="") as fh:
        keys = {r["key"] for r in csv.DictReader(fh)}
    cited = {k for row in rows for k in re.findall(r"`([a-z0-9_]+)`", row.split(" | ")[1])}
    assert cited and cited <= keys, cited - keys
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", (DOCS / "model.md").read_text(), re.M)}
    links = re.findall(r"\(model\.md#([^)]+)\)", text)
    assert links and not [a for a in links if a not in anchors], [a for a in links if a not in anchors]
