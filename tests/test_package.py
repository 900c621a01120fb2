"""The installed package, as a new user meets it: build the wheel, install it into a fresh venv, and from a
folder outside the repository run the model, calibrate, sweep and the README's API example. Nothing may be
written inside site-packages, and the wheel installs one top-level name."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "out", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis"}

API_EXAMPLE = """
import wattyear
result = wattyear.run()
print(result.metrics.shape, result.name)
"""

STUDY = """
[study]
name = "tiny"
base = "baseline"
months = 6
replicates = 2
seed = 3

[grid]
"open_weights.quality_fraction" = [0.7, 0.9]

[outputs]
kinds = ["lab"]
"""


def sh(cmd, cwd, env=None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, site-packages, wheel): the wheel built from a copy of the source (the build
    writes nothing into the checkout) and installed with its dependencies into a fresh venv."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    shutil.copytree(REPO, source, ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), "."], source)
    wheel = next((base / "dist").glob("wattyear-*.whl"))
    venv = base / "venv"
    sh([sys.executable, "-m", "venv", str(venv)], base)
    bin_ = venv / "bin"
    sh([str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], base)
    site = Path(sh([str(bin_ / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   base).strip())
    return bin_, site, wheel


def test_the_wheel_installs_one_top_level_name_with_its_configs(installed):
    _, site, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"wattyear", f"{wheel.name.split('-py3')[0]}.dist-info"}
    for packaged in ("configs/baseline.toml", "configs/colossus_lease.toml", "configs/bounds.toml",
                     "configs/sources.csv", "experiments/studies/llama_pressure.toml", "experiments/studies/sensitivity.toml"):
        assert f"wattyear/{packaged}" in names
    assert not any(n.startswith(("wattyear/tests", "wattyear/benchmarks")) for n in names)
    assert not (site / "sim").exists() and not (site / "agents").exists() and not (site / "experiments").exists()


@pytest.mark.slow
def test_a_new_user_runs_calibrates_sweeps_and_uses_the_api_outside_the_repository(installed, tmp_path):
    bin_, site, _ = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    before = tree(site)
    wattyear = str(bin_ / "wattyear")

    assert sh([wattyear, "--version"], work, env).startswith("wattyear ")
    out = sh([wattyear, "run"], work, env)
    assert "Per-watt economics of the labs, 2026-01 → 2035-12" in out
    assert {p.name for p in (work / "out" / "baseline").iterdir()} >= {
        "metrics.parquet", "market.parquet", "leases.parquet", "funding.parquet", "run.json", "summary.txt",
        "per_watt_metrics.png", "market.png", "self_funding.png", "config.resolved.toml"}
    sh([wattyear, "run", "colossus_lease", "--months", "12", "--no-plots"], work, env)
    assert (work / "out" / "colossus_lease+run.months=12" / "metrics.parquet").is_file()

    out = sh([wattyear, "calibrate"], work, env)
    assert "targets within the promised error" in out and (work / "out" / "calibration" / "calibration.md").is_file()
    out = sh([wattyear, "calibrate", "--apply", "--max-evaluations", "2"], work, env)  # a fitted copy, not the package
    assert "wrote the fitted values into out/calibration/baseline.fitted.toml" in out

    (work / "tiny.toml").write_text(STUDY)
    out = sh([wattyear, "sweep", "tiny.toml", "--workers", "2", "--no-progress"], work, env)
    assert "4 runs: 4 done, 0 failed" in out
    assert len(list((work / "out" / "tiny" / "runs").glob("*.parquet"))) == 4

    sh([wattyear, "compare", "out/baseline", "baseline+open_weights.quality_fraction=0.9", "--no-plots",
        "--out", "cmp"], work, env)
    assert (work / "cmp" / "comparison.csv").is_file()
    assert sh([str(bin_ / "python"), "-m", "wattyear", "--version"], work, env).startswith("wattyear ")

    (work / "example.py").write_text(API_EXAMPLE)
    out = sh([str(bin_ / "python"), "example.py"], work, env)
    assert out.strip() == "(1200, 67) baseline"

    for generic in ("sim", "agents", "experiments", "configs"):  # only wattyear is importable
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({generic!r}) is not None)"
        sh([str(bin_ / "python"), "-c", code], work, env)
    after = tree(site)
    assert after == before, f"written inside site-packages: {sorted(set(after.items()) ^ set(before.items()))[:5]}"
