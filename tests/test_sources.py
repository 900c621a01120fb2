"""Numbers have sources: every number in the configs cites a figure or says it is an assumption."""

import csv
import re
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SOURCES = CONFIGS / "sources.csv"
NUMBER_LINE = re.compile(r"^\s*[\w.]+\s*=\s*([-+0-9.{]|\[)")
KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def source_keys():
    with SOURCES.open(newline="") as fh:
        return {row["key"] for row in csv.DictReader(fh)}


def config_files():
    return sorted(CONFIGS.glob("*.toml"))


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_every_number_cites_a_source_or_an_assumption(path):
    keys = source_keys()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not NUMBER_LINE.match(line):
            continue
        comment = line.split("#", 1)[1] if "#" in line else ""
        reasoned = re.search(r"assumption:\s*\S+\s+\S+", comment)  # an assumption says why
        assert "src:" in comment or reasoned, f"{path.name}:{lineno}: {line.strip()}"
        if "src:" in comment:
            cited = KEY.findall(comment.split("src:", 1)[1].split("assumption:")[0])
            cited = [k for k in cited if not k.startswith(("x_", "per_"))]
            assert cited, f"{path.name}:{lineno}: src: names no key"
            unknown = [k for k in cited if k not in keys]
            assert not unknown, f"{path.name}:{lineno}: keys not in configs/sources.csv: {unknown}"


def test_sources_rows_carry_their_provenance():
    with SOURCES.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        assert row["value"] and row["source_url"].startswith("http"), row["key"]
