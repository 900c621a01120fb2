"""Sweeps: same results locally and on Dask, resumable after SIGKILL, failures recorded, bad studies refused."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from wattyear.experiments.cli import main
from wattyear.experiments.studies.store import ResultStore
from wattyear.experiments.studies.study import load_study
from wattyear.experiments.studies.sweep import ensemble_size, run_sweep, scenario_bytes, tasks_for
from wattyear.sim.config import CONFIG_DIR, ConfigError, load_config
from tests.sweeps import assert_same_results, results

BASE = CONFIG_DIR / "baseline.toml"


def study_file(tmp_path, body: str, name="study.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[study]\nname = "t"\nbase = "{BASE}"\nseed = 11\n' + body)
    return path


SMALL = """months = 12
replicates = 2

[grid]
"open_weights.quality_fraction" = [0.7, 0.9]

[sample]
method = "lhs"
n = 2
[sample.ranges]
"world.energy_usd_per_mwh" = "bounds"

[outputs]
keep = "every"
every_months = 6
kinds = ["lab"]
"""


def test_design_seeds_and_outputs(tmp_path):
    study = load_study(study_file(tmp_path, SMALL))
    assert len(study.runs) == 2 * 2 * 2
    assert len({r.seed for r in study.runs}) == len(study.runs)
    assert load_study(study_file(tmp_path, SMALL, "again.toml")).runs == study.runs  # reproducible design
    report = run_sweep(study, tmp_path / "out", workers=1, progress=False)
    assert (report.done, report.failed, report.skipped) == (8, 0, 0)
    table = ResultStore(tmp_path / "out").load()
    assert set(table["step"]) == {5, 11} and set(table["kind"]) == {"lab"}
    assert {"run_id", "seed", "open_weights.quality_fraction", "world.energy_usd_per_mwh"} <= set(table.columns)
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert list(manifest["status"]) == ["ok"] * 8 and manifest["run_id"].is_unique


def test_a_studys_runs_are_made_when_asked_with_the_designs_ids_seeds_and_points(tmp_path):
    """The run list holds points and seeds, not a RunSpec a run; each run it makes is the one the design
    defines: id p<point>-r<replicate>, its point's parameters, the seed SeedSequence(seed).spawn(n)[k] gives
    (63 bits). Slices, the runs left to do on resume (``without``) and tasks keep run order."""
    import numpy as np

    from wattyear.experiments.studies.design import RunList, RunSpec

    study = load_study(study_file(tmp_path, SMALL))
    runs = study.runs
    assert isinstance(runs, RunList) and len(runs.seeds) == len(runs) == 8
    children = np.random.SeedSequence(11).spawn(8)
    made = list(runs)
    for k, run in enumerate(made):
        point, replicate = divmod(k, 2)
        assert run == RunSpec(f"p{point:05d}-r{replicate:03d}", point, replicate, runs.points[point],
                              int(children[k].generate_state(1, np.uint64)[0] >> np.uint64(1)))
    assert list(runs[2:5]) == made[2:5] and runs[-1] == made[-1] and list(runs[2:5][1:]) == made[3:5]
    left = runs.without({made[0].run_id, made[5].run_id})
    assert list(left) == [r for k, r in enumerate(made) if k not in (0, 5)] and runs.without(set()) is runs
    assert [r["run_id"] for task in tasks_for(study, left, ResultStore(tmp_path / "x"), workers=1)
            for r in task["runs"]] == [r.run_id for r in left]


def test_packing_design_points_into_ensembles_changes_no_result(tmp_path):
    """Design points of different numbers (and a structural parameter, customer classes) run one run
    per ensemble or many per ensemble with the same bytes; the structural values never share one."""
    body = SMALL.replace('[grid]\n', '[grid]\n"segments.enterprise.size_classes" = [4, 6]\n')
    study = load_study(study_file(tmp_path, body))
    assert len(study.runs) == 16
    tasks = list(tasks_for(study, study.runs, ResultStore(tmp_path / "x"), workers=1))
    assert [len(t["runs"]) for t in tasks] == [8, 8]  # one ensemble per count of classes
    left = study.runs.without({"p00000-r000", "p00003-r001", "p00006-r000"})  # a resume's runs to do
    picked = list(tasks_for(study, left, ResultStore(tmp_path / "x"), workers=1))
    as_list = list(tasks_for(study, list(left), ResultStore(tmp_path / "x"), workers=1))
    assert [[r["run_id"] for r in t["runs"]] for t in picked] == [[r["run_id"] for r in t["runs"]] for t in as_list]
    assert sorted(r["run_id"] for t in picked for r in t["runs"]) == sorted(r.run_id for r in left) and len(left) == 13
    for task in tasks:
        assert len({r["params"]["segments.enterprise.size_classes"] for r in task["runs"]}) == 1
        assert len({r["point"] for r in task["runs"]}) == 4  # four design points in each
    packed = run_sweep(study, tmp_path / "packed", workers=1, progress=False)
    alone = run_sweep(study, tmp_path / "alone", workers=1, progress=False, memory_bytes=1)
    assert packed.done == alone.done == 16
    assert_same_results(tmp_path / "packed", tmp_path / "alone")
    manifest = ResultStore(tmp_path / "packed").manifest()
    assert set(manifest["ensemble"]) == {8}
    assert set(ResultStore(tmp_path / "alone").manifest()["ensemble"]) == {1}


def test_ensemble_size_follows_the_memory_budget():
    base = load_config()
    one = scenario_bytes(base)
    assert 1e5 < one < 1e8
    assert ensemble_size(base, 100 * one) == 100
    assert ensemble_size(base, 1) == 1
    assert ensemble_size(load_config(overrides={"run.months": 12}), 100 * one) > 500  # a shorter run is smaller


def test_dask_cluster_gives_the_local_pool_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    study = load_study(study_file(tmp_path, SMALL))
    run_sweep(study, tmp_path / "local", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        report = run_sweep(study, tmp_path / "dask", scheduler=c.scheduler_address, progress=False)
    assert report.done == 8
    assert_same_results(tmp_path / "local", tmp_path / "dask")


def test_sigkill_then_resume_gives_each_run_once_and_the_same_results(tmp_path):
    body = SMALL.replace("n = 2", "n = 4").replace("months = 12", "months = 48")
    path = study_file(tmp_path, body)
    run_sweep(load_study(path), tmp_path / "whole", workers=2, progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "wattyear.experiments.cli", "sweep", str(path), "--out", str(out), "--workers", "2",
           "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "runs").glob("*.parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its workers, mid-sweep
    proc.wait()
    part = len(list((out / "runs").glob("*.parquet")))
    assert 3 <= part < 16
    report = run_sweep(load_study(path), out, workers=2, progress=False)
    assert report.skipped == part and report.done == 16 - part
    manifest = ResultStore(out).manifest()
    assert sorted(manifest["run_id"]) == sorted(results(tmp_path / "whole"))
    assert (manifest["status"] == "ok").all()
    assert_same_results(tmp_path / "whole", out)


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    """Each value is valid alone, but 5e8 paying customers exceed the segment's 4e8 maximum."""
    body = 'months = 6\n[grid]\n"segments.consumer_paid.customers" = [1e8, 5e8]\n' \
           '"open_weights.quality_fraction" = [0.7, 0.8]\n'
    with pytest.raises(ConfigError) as info:  # checked value by value first: 5e8 alone is refused
        load_study(study_file(tmp_path, body))
    assert "at most max_customers" in str(info.value)
    # each value is valid with the base config; 3e8 customers with a 2e8 maximum is not
    body = 'months = 6\n[grid]\n"segments.consumer_paid.customers" = [1e8, 3e8]\n' \
           '"segments.consumer_paid.max_customers" = [4e8, 2e8]\n'
    study = load_study(study_file(tmp_path, body))
    report = run_sweep(study, tmp_path / "out", workers=2, progress=False)
    assert (report.done, report.failed) == (3, 1)
    manifest = ResultStore(tmp_path / "out").manifest()
    failed = manifest[manifest["status"] == "failed"]
    assert len(failed) == 1 and "max_customers" in failed["error"].iloc[0]
    assert failed["params"].iloc[0] == {"segments.consumer_paid.customers": 3e8,
                                        "segments.consumer_paid.max_customers": 2e8}
    assert len(results(tmp_path / "out")) == 3
    again = run_sweep(study, tmp_path / "out", workers=1, progress=False)  # failed runs are retried, not skipped
    assert (again.skipped, again.failed) == (3, 1)


def test_unknown_parameter_fails_before_any_run(tmp_path, capsys):
    path = study_file(tmp_path, '[grid]\n"labs.anthropic.wats" = [1e9, 2e9]\n')
    code = main(["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: grid.labs.anthropic.wats: expected a parameter of the base config" in err
    assert "(did you mean labs.anthropic.watts?)" in err
    assert not (tmp_path / "out").exists()
    bad = study_file(tmp_path, '[sample]\nn = 4\n[sample.ranges]\n"world.pue" = [2.0, 1.0]\n', "b.toml")
    with pytest.raises(ConfigError) as info:
        load_study(bad)
    assert info.value.problems[0].key == "sample.ranges.world.pue"


def test_analyze_a_sweep(tmp_path, capsys):
    body = 'months = 30\nreplicates = 2\n[grid]\n"open_weights.quality_fraction" = [0.6, 0.9]\n' \
           '[outputs]\nkinds = ["lab"]\n'
    study = load_study(study_file(tmp_path, body))
    run_sweep(study, tmp_path / "out", workers=1, progress=False)
    assert main(["analyze", str(tmp_path / "out")]) == 0
    crossings = pd.read_parquet(tmp_path / "out" / "crossings.parquet")
    assert len(crossings) == 4 * 4  # runs x labs
    assert set(crossings["open_weights.quality_fraction"]) == {0.6, 0.9}
    text = (tmp_path / "out" / "analysis.md").read_text()
    assert "## Findings: what moves each lab's outcomes" in text and "`open_weights.quality_fraction` +10 points" in text
    for png in ("fan_self_funding.png", "crossing_cdf.png", "llama_response.png"):
        assert (tmp_path / "out" / png).read_bytes()[:4] == b"\x89PNG"
    assert main(["analyze", str(tmp_path / "nothing")]) == 2
    assert "a sweep result folder" in capsys.readouterr().err


def test_example_studies_are_valid():
    root = Path(__file__).resolve().parent.parent / "experiments" / "studies"
    for name, runs in (("llama_pressure.toml", 64), ("sensitivity.toml", 6656), ("screening.toml", 432)):
        study = load_study(root / name)
        assert len(study.runs) == runs


def test_ensembles_are_sized_by_their_own_horizon(tmp_path):
    """Ensembles are sized from the study's config and horizon, so a ten-year study's runs go in smaller
    ensembles than a one-year study's within the same budget (a study has one horizon: run.months cannot
    be swept)."""
    budget = 64 << 20
    sizes = {}
    for months in (12, 120):
        folder = tmp_path / f"m{months}"
        folder.mkdir()
        study = load_study(study_file(folder, f'months = {months}\nreplicates = 40\n[grid]\n'
                                              '"open_weights.quality_fraction" = [0.7, 0.9]\n'))
        tasks = list(tasks_for(study, study.runs, ResultStore(folder / "x"), memory_bytes=budget, workers=1))
        sizes[months] = max(len(task["runs"]) for task in tasks)
    long = load_config(overrides={"run.months": 120})
    assert sizes[120] <= ensemble_size(long, budget, 120) < sizes[12]
