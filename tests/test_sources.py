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
        assert "src:" in comment or "fit:" in comment or reasoned, f"{path.name}:{lineno}: {line.strip()}"
        for tag in ("src:", "fit:"):
            if tag not in comment:
                continue
            cited = KEY.findall(comment.split(tag, 1)[1].split("assumption:")[0].split("(")[0])
            cited = [k for k in cited if not k.startswith(("x_", "per_"))]
            assert cited, f"{path.name}:{lineno}: {tag} names no key"
            unknown = [k for k in cited if k not in keys]
            assert not unknown, f"{path.name}:{lineno}: keys not in configs/sources.csv: {unknown}"


def test_sources_rows_carry_their_provenance():
    with SOURCES.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        assert row["value"] and row["source_url"].startswith("http"), row["key"]


def test_calibration_targets_cite_known_figures():
    from wattyear.experiments.calibration.least_squares import TARGETS, figures

    table = figures()
    for target in TARGETS:
        assert all(key in table for key in target.keys), target.name


def test_sweep_bounds_name_real_parameters_around_the_baseline():
    import tomllib

    from wattyear.sim.config import field_at, load_config

    bounds = tomllib.loads((CONFIGS / "bounds.toml").read_text())["bounds"]
    base = load_config()
    for path, b in bounds.items():
        assert field_at(path) is not None, path
        assert b["low"] < b["high"], path
        node = base
        for part in path.split("."):
            node = node[part]
        assert b["low"] <= node <= b["high"], f"{path}: baseline {node} outside [{b['low']}, {b['high']}]"
