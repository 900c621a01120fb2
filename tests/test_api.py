"""The public API, run naming, ``--version``, ``--set`` without ``--out`` and scenario comparison."""

import json
import tomllib
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.cli import main
from wattyear.experiments.analysis.compare import COMPARED, compare, parse_spec
from wattyear.experiments.run import run_name
from wattyear.sim.config import CONFIG_DIR, ConfigError, find_config


def test_three_lines_from_import_to_a_dataframe(tmp_path):
    result = wattyear.run(months=6)
    frame = result.metrics
    assert isinstance(frame, pd.DataFrame) and len(frame) == 6 * frame["agent"].nunique()
    back = wattyear.load_results(result.save(tmp_path / "r", plots=False))
    for name in ("metrics", "market", "leases", "funding"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(back, name), check_exact=True)
    assert back.name == result.name == "baseline+run.months=6" and back.overrides == {"run.months": 6}
    assert back.record == result.record and result.record["wattyear"] == wattyear.__version__


def test_a_run_read_back_and_saved_again_keeps_what_made_it(tmp_path):
    folder = wattyear.run(months=3).save(tmp_path / "a", plots=False)
    record = json.loads((folder / "run.json").read_text())
    record.update(git_commit="0" * 40, wattyear="0.0.1")
    (folder / "run.json").write_text(json.dumps(record))
    again = json.loads((wattyear.load_results(folder).save(tmp_path / "b", plots=False) / "run.json").read_text())
    assert again == record


def test_dicts_name_their_runs_and_may_extend_a_config():
    cfg = {"extends": "baseline", "open_weights": {"quality_fraction": 0.9}}
    result = wattyear.run(cfg, months=2, name="mine")
    assert result.name == "mine+run.months=2" and result.config["open_weights"]["quality_fraction"] == 0.9
    assert wattyear.run(wattyear.load_config(), months=2).name == "config+run.months=2"


def test_ensemble_members_are_their_runs_alone():
    overrides = [{"open_weights.quality_fraction": q} for q in (0.6, 0.9)]
    ens = wattyear.run_ensemble(overrides=overrides, seeds=[3, 4], months=8)
    assert ens.scenarios["seed"].tolist() == [3, 4]
    for i, extra in enumerate(overrides):
        alone = wattyear.run(overrides=extra, seed=3 + i, months=8)
        pd.testing.assert_frame_equal(ens.run(i).metrics, alone.metrics, check_exact=True)
        rows = ens.metrics[ens.metrics["scenario"] == i].drop(columns=["scenario", "name", "seed"])
        pd.testing.assert_frame_equal(rows.reset_index(drop=True), alone.metrics, check_exact=True)
    with pytest.raises(ConfigError, match="found .1 configs, 2 overrides, 3 seeds"):
        wattyear.run_ensemble(overrides=overrides, seeds=[1, 2, 3])


def test_configs_by_packaged_name_and_clear_errors():
    assert find_config("colossus_lease") == CONFIG_DIR / "colossus_lease.toml"
    assert find_config(None) == find_config("baseline.toml") == CONFIG_DIR / "baseline.toml"
    with pytest.raises(ConfigError) as info:
        wattyear.load_config("no_such_scenario")
    assert "no_such_scenario: (file): expected an existing TOML file or a packaged config (backtest_2025, baseline, " \
           "colossus_lease)" in str(info.value)
    with pytest.raises(ConfigError, match="labs.anthropic.wats"):
        wattyear.load_config(overrides={"labs.anthropic.wats": 1e9})


def test_a_users_scenario_extends_the_packaged_baseline(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "baseline.toml"\n[open_weights]\nquality_fraction = 0.9\n')
    cfg = wattyear.load_config(mine)
    assert cfg["open_weights"]["quality_fraction"] == 0.9
    assert cfg["labs"] == wattyear.load_config()["labs"]


def test_run_names_say_config_and_overrides():
    # a folder name anywhere: characters a file system may refuse become _
    assert run_name("baseline", {"labs.anthropic.watts": 2e9, "tag": "a b/c"}) == \
        "baseline+labs.anthropic.watts=2e9+tag=a_b_c"
    long = run_name("baseline", {f"labs.lab{i}.watts": 1e9 for i in range(20)})
    assert len(long) == 120 and long != run_name("baseline", {f"labs.lab{i}.watts": 1e9 for i in range(21)})
    with pytest.raises(ConfigError, match="a shortened name"):
        parse_spec(long)
    for overrides in ({"open_weights.quality_fraction": 0.9, "run.seed": 7, "labs.my-lab.watts": 1e-05},
                      {"labs.xai.watts": -3e9, "world.flag": True, "hardware.default": "blackwell"}):
        assert parse_spec(run_name("baseline", overrides)) == ("baseline", overrides)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"wattyear {wattyear.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", wattyear.__version__)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_set_without_out_leaves_the_baselines_folder_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-plots"]) == 0
    baseline = snapshot(tmp_path / "out" / "baseline")
    assert main(["run", "--no-plots", "--set", "open_weights.quality_fraction=0.9", "--seed", "3"]) == 0
    assert snapshot(tmp_path / "out" / "baseline") == baseline
    folder = tmp_path / "out" / "baseline+open_weights.quality_fraction=0.9+run.seed=3"
    record = json.loads((folder / "run.json").read_text())
    assert record["config"] == "baseline" and record["name"] == folder.name
    assert record["overrides"] == {"open_weights.quality_fraction": 0.9, "run.seed": 3} and record["seed"] == 3
    assert record["wattyear"] == wattyear.__version__
    repo = Path(wattyear.experiments.run.__file__).resolve().parent.parent
    if (repo / ".git").exists():  # a source checkout records its commit
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", record["git_commit"])
    assert (folder / "summary.txt").read_text().startswith(
        "Run: baseline (open_weights.quality_fraction=0.9, run.seed=3), seed 3")
    assert json.loads((tmp_path / "out" / "baseline" / "run.json").read_text())["overrides"] == {}


def shifted(result, **changes):
    """A copy of a run whose metrics differ from it by known amounts (lab → {column: function})."""
    metrics = result.metrics.copy()
    for lab, edits in changes.items():
        rows = metrics["agent"] == lab
        for column, edit in edits.items():
            metrics.loc[rows, column] = edit(metrics.loc[rows, column].to_numpy(), metrics.loc[rows, "step"].to_numpy())
    return wattyear.RunResult(metrics, result.market, result.leases, result.funding, config=result.config,
                              config_name="shifted")


def test_compare_finds_differences_known_by_construction(tmp_path):
    a = wattyear.run(months=30)
    crossing = lambda at: (lambda v, step: np.where(step >= at, 2.0, -1.0))  # noqa: E731 - SFR reaches 1 at ``at``
    a = shifted(a, gemini={"self_funding_ratio": crossing(10)}, xai={"self_funding_ratio": crossing(99)})
    a.config_name = "a"
    b = shifted(a, anthropic={"revenue_usd_per_mtok": lambda v, _: v + 1.0},      # +$1 per M tokens
                openai={"outside_capital_usd": lambda v, _: v + 10e9},          # +$10B raised
                gemini={"self_funding_ratio": crossing(16)})                    # crosses 6 months later
    table = compare([a, b]).table.set_index(["lab", "metric", "run"])
    delta = lambda lab, metric: table.loc[(lab, metric, "shifted"), "difference"]  # noqa: E731
    assert delta("anthropic", "revenue_usd_per_mtok") == pytest.approx(1.0, abs=1e-9)
    assert delta("openai", "outside_capital_usd") == pytest.approx(10e9, abs=1e-3)  # in $, as the column is
    assert delta("gemini", "self_funding_crossing") == 6
    assert table.loc[("gemini", "self_funding_crossing", "a"), "value"] == 10
    assert np.isnan(table.loc[("xai", "self_funding_crossing", "a"), "value"])  # never crosses in either run
    assert np.isnan(delta("xai", "self_funding_crossing"))
    untouched = [(lab, m) for lab in ("openai", "anthropic", "xai", "gemini") for m, *_ in COMPARED
                 if (lab, m) not in {("anthropic", "revenue_usd_per_mtok"), ("openai", "outside_capital_usd")}]
    assert all(delta(lab, m) == 0 for lab, m in untouched)
    # the same through the command line, from the runs' folders
    a.save(tmp_path / "a", plots=False)
    b.save(tmp_path / "b", plots=False)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) == 0
    csv = pd.read_csv(tmp_path / "cmp" / "comparison.csv").set_index(["lab", "metric", "run"])
    assert csv.loc[("anthropic", "revenue_usd_per_mtok", "shifted"), "difference"] == pytest.approx(1.0, abs=1e-9)
    assert {p.name for p in (tmp_path / "cmp").glob("compare_*.png")} == \
        {f"compare_{m}.png" for m, *_ in COMPARED} | {"compare_self_funding_ratio.png"}
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "- **a** (reference)\n- **shifted**" in md and "| lab | a | shifted | Δ shifted |" in md
    assert "| gemini | 2026-11 | 2027-05 | +6 months |" in md and "| xai | not within the horizon | " in md


def test_compare_configs_run_them_and_a_shorter_horizon_changes_nothing_it_shares(tmp_path, monkeypatch):
    """The model never looks past its horizon: a 24-month run is the first 24 months of a 36-month one,
    so compared in their last shared month every difference is exactly zero."""
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "baseline+run.months=36", "baseline+run.months=24", "--no-plots"]) == 0
    folder = tmp_path / "out" / "compare" / "baseline+run.months=36--vs--baseline+run.months=24"
    table = pd.read_csv(folder / "comparison.csv")
    shared = table[table["metric"] != "self_funding_crossing"]
    assert len(shared) == 2 * 4 * len(COMPARED) and (shared["difference"] == 0).all()
    assert {p.name for p in (folder / "runs").iterdir()} == {"baseline+run.months=36", "baseline+run.months=24"}
    assert main(["compare", "baseline+run.months=2", "baseline+run.months=3", "--at", "2040-01"]) == 2  # not shared


@pytest.mark.parametrize("at", ["2030-13", "2030", "dec", "2030/12"])
def test_compare_refuses_a_month_that_is_not_yyyy_mm_before_running_anything(at, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "baseline", "colossus_lease", "--at", at]) == 2
    assert f"--at: month: expected a month \"YYYY-MM\" such as 2030-12, found '{at}'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_compared_runs_bad_override_is_blamed_on_it(capsys):
    assert main(["compare", "baseline", "baseline+open_weights.quality_fraction=7"]) == 2
    assert "baseline+open_weights.quality_fraction=7: open_weights.quality_fraction: expected" in \
        capsys.readouterr().err


def test_a_rerun_of_a_run_folders_config_says_what_it_reruns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "colossus_lease", "--months", "3", "--no-plots"]) == 0
    first = tmp_path / "out" / "colossus_lease+run.months=3"
    before = snapshot(first)
    assert main(["run", str(first / "config.resolved.toml"), "--no-plots"]) == 0
    assert snapshot(first) == before
    rerun = first.with_name(first.name + "-rerun")
    assert json.loads((rerun / "run.json").read_text())["label"] == "colossus_lease (run.months=3)"
    pd.testing.assert_frame_equal(pd.read_parquet(first / "metrics.parquet"), pd.read_parquet(rerun / "metrics.parquet"),
                                  check_exact=True)


def test_compare_by_direction_better_open_weights_lower_the_cheapest_labs_revenue_per_token():
    """Better open weights take developer tokens from the labs that sell them cheapest (OpenAI, Gemini):
    their revenue per token falls (−1.9% and −0.7% at month 24). Anthropic's moves by under 2% either way:
    rate-limited, it loses mostly customers it could not serve. (xAI sells few tokens and its revenue per
    token follows its leases: −5% here, not asserted.)"""
    base, pressed = wattyear.run(months=24), wattyear.run(months=24, overrides={"open_weights.quality_fraction": 0.95})
    rpt = wattyear.compare(base, pressed).wide("revenue_usd_per_mtok")
    change = rpt.iloc[:, -1] / rpt.iloc[:, 0]
    assert (change[["openai", "gemini"]] < -0.005).all(), rpt
    assert abs(change["anthropic"]) < 0.02, rpt


def test_sweep_and_load_results(tmp_path):
    study = {"study": {"name": "tiny", "base": "baseline", "months": 6, "seed": 1},
             "grid": {"open_weights.quality_fraction": [0.7, 0.9]}, "outputs": {"kinds": ["lab"]}}
    done = wattyear.sweep(study, tmp_path / "tiny", workers=1)
    again = wattyear.load_results(tmp_path / "tiny")
    manifest = again.manifest
    assert manifest["open_weights.quality_fraction"].tolist() == [0.7, 0.9] and (manifest["status"] == "ok").all()
    assert len(done.metrics) == 2 * 6 * 4 and set(done.metrics["run_id"]) == set(manifest["run_id"])
    assert tomllib.loads(again.study) == study  # the study as given, kept beside its results
    with pytest.raises(ConfigError, match="a different study"):
        wattyear.sweep(dict(study, grid={"open_weights.quality_fraction": [0.5]}), tmp_path / "tiny", workers=1)
    with pytest.raises(ConfigError, match="a run folder"):
        wattyear.load_results(tmp_path)


def test_calibrate_apply_never_writes_into_an_installed_package(tmp_path, monkeypatch):
    """As an installed package: the packaged config stays as it is (here a copy stands in for it, so a
    failure cannot touch the repository's file); the fitted copy goes beside the report, and a user's
    file of that name is never overwritten."""
    from wattyear.experiments.calibration import commands
    from wattyear.experiments.calibration import least_squares as calibration

    package = tmp_path / "site-packages" / "wattyear" / "configs"
    package.mkdir(parents=True)
    packaged = package / "baseline.toml"
    packaged.write_bytes((CONFIG_DIR / "baseline.toml").read_bytes())
    original = packaged.read_bytes()
    fit = SimpleNamespace(start={}, fitted={"fringe.affinity.api": 1.234}, residuals={}, cost=0.0,
                          evaluations=1, message="stub")
    monkeypatch.setattr(calibration, "fit", lambda config, max_evaluations: fit)
    monkeypatch.setattr(calibration, "report", lambda *a, **k: "report\n")
    monkeypatch.setattr(commands, "find_config", lambda name: packaged)
    monkeypatch.setattr(commands, "is_packaged", lambda path: path == packaged)
    monkeypatch.setattr(commands, "SOURCE_CHECKOUT", False)
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--apply", "--report", "cal/report.md"]) == 0
    assert packaged.read_bytes() == original
    copy = tmp_path / "cal" / "baseline.fitted.toml"
    assert wattyear.load_config(copy)["fringe"]["affinity"]["api"] == 1.234
    assert main(["calibrate", "--apply", "--report", "cal/report.md"]) == 0  # its own copy: rewritten
    copy.write_text("# mine\n")
    assert main(["calibrate", "--apply", "--report", "cal/report.md"]) == 2
    assert copy.read_text() == "# mine\n"


def test_calibrate_apply_to_a_scenario_that_extends_names_the_missing_key(tmp_path, monkeypatch, capsys):
    from wattyear.experiments.calibration import least_squares as calibration

    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "baseline.toml"\n')
    fit = SimpleNamespace(start={}, fitted={"fringe.affinity.api": 1.234}, residuals={}, cost=0.0,
                          evaluations=1, message="stub")
    monkeypatch.setattr(calibration, "fit", lambda config, max_evaluations: fit)
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", str(mine), "--apply", "--report", "cal/report.md"]) == 2
    assert f"{mine}: fringe.affinity.api: expected the fitted parameter written in this file" in \
        capsys.readouterr().err
    assert mine.read_text() == 'extends = "baseline.toml"\n'


GUARDLESS = """
import wattyear
wattyear.sweep({"study": {"name": "g", "months": 2}, "grid": {"open_weights.quality_fraction": [0.7, 0.9]}},
               "out/g", workers=2)
"""


@pytest.mark.slow
def test_a_script_without_the_main_guard_is_told_why(tmp_path):
    import subprocess
    import sys

    (tmp_path / "s.py").write_text(GUARDLESS)
    done = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "wattyear.sweep() was called while a worker process imported your script" in done.stderr
    (tmp_path / "t.py").write_text("if __name__ == '__main__':\n" + "".join(f"    {line}\n" for line in
                                                                          GUARDLESS.strip().splitlines()))
    done = subprocess.run([sys.executable, "t.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_progress_is_a_tqdm_auto_bar_on_by_default_in_a_notebook_only(tmp_path, monkeypatch):
    """In a Jupyter kernel (IPython's ZMQInteractiveShell) sweep() and a loaded study show progress, as a
    widget (tqdm.auto); elsewhere they are quiet unless asked."""
    import IPython
    from tqdm.auto import tqdm as auto_tqdm

    from wattyear.experiments import api
    from wattyear.experiments.studies import sweep as sweep_module

    assert not api.in_notebook()  # pytest is no kernel
    ZMQInteractiveShell = type("ZMQInteractiveShell", (), {})
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    assert api.in_notebook()
    seen = []
    monkeypatch.setattr(sweep_module, "run_sweep", lambda *a, **k: seen.append(k["progress"]))
    study = {"study": {"name": "p", "months": 2}}
    assert wattyear.sweep(study, tmp_path / "p", workers=1)._shows_progress() is True
    assert wattyear.sweep(study, tmp_path / "p", workers=1, progress=False)._shows_progress() is False
    assert seen == [True, False]
    assert api.StudyResult(tmp_path / "p")._shows_progress() is True
    with sweep_module._progress(3, True) as bar:
        assert isinstance(bar, auto_tqdm)
