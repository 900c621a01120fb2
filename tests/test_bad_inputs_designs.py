"""Damaged inputs of calibration and studies, each refused in one line naming the file, the key or column and
what was found: posterior folders (``validate --posterior``, posterior studies), outcomes tables, study
designs and the folders calibration and validation write into."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from wattyear.experiments.calibration.posterior import draws, read_posterior
from wattyear.experiments.studies.study import load_study
from wattyear.sim.config import ConfigError, find_config

PARAMS = {"world.pue": (1.1, 1.58), "open_weights.quality_fraction": (0.6, 0.9)}


def posterior(folder, **json_changes):
    """A posterior folder as ``wattyear calibrate --posterior`` writes one, fitted on the baseline: four particles
    of two parameters, weights 0.1, 0.2, 0.3, 0.4."""
    folder.mkdir(parents=True, exist_ok=True)
    config = find_config("baseline").resolve()
    pd.DataFrame({"world.pue": [1.2, 1.3, 1.4, 1.5], "open_weights.quality_fraction": [0.7, 0.75, 0.8, 0.85],
                  "weight": [0.1, 0.2, 0.3, 0.4], "distance": 0.5}).to_parquet(folder / "posterior.parquet")
    record = {"config": str(config), "targets": "t.csv", "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
              "priors": {k: list(v) for k, v in PARAMS.items()}, "particles": 4, "generations": 1, "seed": 0,
              "months": 3}
    record.update(json_changes)
    (folder / "posterior.json").write_text(json.dumps({k: v for k, v in record.items() if v is not DROP}))
    return folder


DROP = object()


def sample_with(folder, **columns):
    table = pd.read_parquet(folder / "posterior.parquet")
    for name, values in columns.items():
        if values is DROP:
            table = table.drop(columns=[name])
        else:
            table[name] = values
    table.to_parquet(folder / "posterior.parquet")


# (name, what to change, the file named, the key named, what the message says was found)
DAMAGES = [
    ("config an integer", {"json": {"config": 5}}, "posterior.json", "config", "found 5"),
    ("config missing", {"json": {"config": DROP}}, "posterior.json", "config", "missing"),
    ("a changed config", {"json": {"config_sha256": "00"}}, "posterior.json", "config_sha256", "00… recorded"),
    ("no priors", {"json": {"priors": DROP}}, "posterior.json", "priors", "missing"),
    ("other priors", {"json": {"priors": {"fringe.margin": [0, 1]}}}, "posterior.parquet", "(columns)",
     "no column fringe.margin"),
    ("a prior upside down", {"json": {"priors": {"world.pue": [2, 1], "open_weights.quality_fraction": [0.6, 0.9]}}},
     "posterior.json", "priors.world.pue", "[2, 1]"),
    ("months a text", {"json": {"months": "x"}}, "posterior.json", "months", "'x'"),
    ("a text parameter", {"columns": {"world.pue": "abc"}}, "posterior.parquet", "column world.pue",
     "str values such as 'abc'"),
    ("a NaN parameter", {"columns": {"world.pue": [1.2, np.nan, 1.4, np.nan]}}, "posterior.parquet",
     "column world.pue", "nan in row 2 and 1 more"),
    ("a parameter outside its prior", {"columns": {"world.pue": [1.2, 1.3, -5.0, 1.5]}}, "posterior.parquet",
     "column world.pue", "-5 in row 3"),
    ("an unknown parameter", {"columns": {"world.nope": 1.0}}, "posterior.parquet", "column world.nope",
     "a parameter of the config"),
    ("no weight column", {"columns": {"weight": DROP}}, "posterior.parquet", "(columns)", "no column weight"),
    ("NaN weights", {"columns": {"weight": np.nan}}, "posterior.parquet", "column weight", "nan in row 1 and 3 more"),
    ("zero weights", {"columns": {"weight": 0.0}}, "posterior.parquet", "column weight", "4 zeros"),
    ("negative weights", {"columns": {"weight": [0.5, -0.1, 0.3, 0.3]}}, "posterior.parquet", "column weight",
     "-0.1 in row 2"),
    ("no rows", {"rows": 0}, "posterior.parquet", "(rows)", "none"),
]


def damaged(tmp_path, change):
    folder = posterior(tmp_path / "post", **change.get("json", {}))
    if "columns" in change:
        sample_with(folder, **change["columns"])
    if "rows" in change:
        pd.read_parquet(folder / "posterior.parquet").iloc[:0].to_parquet(folder / "posterior.parquet")
    return folder


def test_an_intact_posterior_is_read_and_drawn_by_weight(tmp_path):
    folder = posterior(tmp_path / "post")
    post = read_posterior(folder)
    assert post.names == list(PARAMS) and post.weights.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    config, sets = draws(folder, 3, seed=1)
    assert config == find_config("baseline").resolve() and len(sets) == 3
    assert all(s["world.pue"] in (1.2, 1.3, 1.4, 1.5) for s in sets)


@pytest.mark.parametrize("name, change, file, key, found", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_posterior_is_one_problem_naming_file_key_and_value(name, change, file, key, found, tmp_path):
    """The same check answers ``validate --posterior`` (through ``draws``) and a posterior study: before,
    six of these were tracebacks, a NaN parameter became 0.0, and the rest were accepted."""
    folder = damaged(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        draws(folder, 2)
    assert f"{folder / file}: {key}: expected" in str(err.value) and found in str(err.value), str(err.value)
    study = {"study": {"name": "ps", "months": 2}, "sample": {"method": "posterior", "path": str(folder), "n": 2}}
    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert f"{folder / file}: {key}: expected" in str(err.value) and found in str(err.value), str(err.value)


@pytest.mark.parametrize("damage, found", [("garbage", "(syntax)"), ("zero device", "not a regular file"),
                                           ("missing", "no such file")])
def test_an_unreadable_posterior_record_is_not_a_study_base_mismatch(damage, found, tmp_path):
    """Before, a posterior.json that could not be read was reported as ``study.base`` not being the fitted config."""
    folder = posterior(tmp_path / "post")
    record = folder / "posterior.json"
    record.unlink()
    if damage == "garbage":
        record.write_text("{not json")
    elif damage == "zero device":
        record.symlink_to("/dev/zero")
    study = {"study": {"name": "ps", "months": 2}, "sample": {"method": "posterior", "path": str(folder), "n": 2}}
    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert str(record) in str(err.value) and found in str(err.value) and "study.base" not in str(err.value)


STUDY = '[study]\nname = "st"\nmonths = 2\n[grid]\n"open_weights.lag_months" = [6]\n'
POSTERIOR_FIT = ["calibrate", "backtest_2025", "--posterior", "--targets", "backtest_targets", "--particles", "4",
                 "--generations", "1", "--parameters", "world.pue"]
#: (name, argv, files made first, texts the message holds): exit 2, nothing written, no file changed
CLI_CASES = [
    ("a posterior into a sweep's folder", [*POSTERIOR_FIT, "--out", "s"], {"s/manifest.jsonl": "", "s/study.toml": STUDY},
     ["--out", "s", "a study folder"]),
    ("a posterior into a run's folder", [*POSTERIOR_FIT, "--out", "r"], {"r/run.json": "{}"}, ["--out", "a run folder"]),
    ("a validation into a sweep's folder", ["validate", "backtest_holdout", "backtest_2025", "--scenarios", "1",
                                            "--out", "s"], {"s/identity.json": "{}"}, ["--out", "a study folder"]),
    ("a validation into a run's folder", ["validate", "backtest_holdout", "backtest_2025", "--scenarios", "1",
                                          "--out", "r"], {"r/run.json": "{}"}, ["--out", "a run folder"]),
    ("a validation into a comparison's folder", ["validate", "backtest_holdout", "backtest_2025", "--scenarios", "1",
                                                 "--out", "c"], {"c/comparison.csv": ""}, ["--out", "a comparison folder"]),
    ("--report ''", ["calibrate", "--fit", "--max-evaluations", "1", "--report", ""], {}, ["--report", "nothing"]),
    ("--report a folder", ["calibrate", "--fit", "--max-evaluations", "1", "--report", "d"], {"d/keep": ""},
     ["--report", "a folder"]),
    ("--report through a file", ["calibrate", "--fit", "--max-evaluations", "1", "--report", "f/calibration.md"],
     {"f": ""}, ["--report", "through f, which is not a folder"]),
]


@pytest.mark.parametrize("name, argv, files, says", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_a_mistake_is_found_before_anything_is_written(name, argv, files, says, tmp_path, monkeypatch, capsys):
    """Before, a posterior or a validation was written into a sweep's or a run's folder at exit 0 (the sweep
    could no longer resume), and ``calibrate --fit --report ''`` wrote ./fit.json before failing."""
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    before = {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(text in err for text in says), err
    assert {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")} == before


ROW = "k{i},revenue_usd,openai,2025-01,2025-03,1e9,s\n"


@pytest.mark.parametrize("name, write, found", [
    ("a duplicated value column", lambda p: p.write_text("key,metric,agent,start,end,value,source,value\n"
                                                          "a,revenue_usd,openai,2025-01,2025-03,1e9,s,2e9\n"),
     "(header): expected each column once (which of two would count?), found 'value twice'"),
    ("10,001 rows", lambda p: p.write_text("key,metric,agent,start,end,value,source\n"
                                            + "".join(ROW.format(i=i) for i in range(10_001))),
     "(rows): expected at most 10,000 rows (each a dated figure), found 'more than 10,000'"),
    ("a link to the zero device", lambda p: p.symlink_to("/dev/zero"),
     "(file): expected an outcomes table (a UTF-8 CSV file), found 'not a regular file (a device, pipe or socket)'"),
    ("17 MiB", lambda p: p.write_bytes(b"key,metric,agent,start,end,value,source\n" + b"#" * (17 * 2**20)),
     "(file): expected an outcomes table (a UTF-8 CSV file), found '17,825,832 bytes (at most 16,777,216 are read)'"),
])
def test_an_outcomes_table_is_read_whole_only_when_it_is_one(name, write, found, tmp_path):
    """Before: a duplicated column silently used the last (2e9 here), 300,000 rows were read (27 s, 569 MB) and a
    link to the zero device was 'no such file' (find_table) or read until memory ran out (read_outcomes)."""
    from wattyear.experiments.calibration.outcomes import find_table, read_outcomes

    path = tmp_path / "o.csv"
    write(path)
    with pytest.raises(ConfigError) as err:
        read_outcomes(find_table(str(path)))
    assert str(err.value) == f"{path}: {found}"


def study_with(tmp_path, tables: str, files: dict | None = None):
    for name, content in (files or {}).items():
        (tmp_path / name).write_bytes(content)
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "s"\nmonths = 2\n' + tables)
    return path


@pytest.mark.parametrize("name, tables, files, says", [
    ("a grid over the horizon", '[grid]\n"run.months" = [2, 4]\n', {},
     "grid.run.months: expected a parameter a study can vary (every run of a study is analysed to one horizon"),
    ("a design over the horizon", '[sample]\nmethod = "file"\npath = "d.csv"\n', {"d.csv": b"run.months\n2\n4\n"},
     "sample.path: column run.months: expected a parameter a study can vary"),
    ("an LHS range between two integers", '[sample]\nn = 4\n[sample.ranges]\n"open_weights.lag_months" = [6.2, 6.8]\n',
     {}, ("sample.ranges.open_weights.lag_months: expected a range holding at least 2 integers (an integer "
          "parameter's sampled values are rounded: a narrower range gives values outside it, or one value and no "
          "effect to measure), found '[6.2, 6.8]: no integer'")),
    ("a Morris range holding one integer", ('[sample]\nmethod = "morris"\nn = 2\n[sample.ranges]\n'
                                            '"open_weights.lag_months" = [6.0, 6.4]\n"world.pue" = [1.1, 1.3]\n'),
     {}, "found '[6, 6.4]: only 6'"),
    ("a design column twice", '[sample]\nmethod = "file"\npath = "d.csv"\n',
     {"d.csv": b"fringe.margin,fringe.margin\n0.1,0.2\n"},
     "d.csv: (columns): expected each parameter's column once, found 'fringe.margin twice'"),
])
def test_a_study_design_that_cannot_mean_what_it_says_is_refused(name, tables, files, says, tmp_path):
    """Before: a horizon grid ran (exit 0) and its analysis reported the horizon's 'effect'; [6.2, 6.8] on an
    integer gave 6 and 7, both outside the range, and Morris [6.0, 6.4] gave only 6 (an index of 0); a repeated
    design column was named fringe.margin.1."""
    with pytest.raises(ConfigError) as err:
        load_study(study_with(tmp_path, tables, files))
    assert says in str(err.value), str(err.value)


def test_an_integer_range_of_two_integers_is_sampled(tmp_path):
    study = load_study(study_with(tmp_path, '[sample]\nn = 8\n[sample.ranges]\n"open_weights.lag_months" = [6, 7]\n'))
    assert {run.params["open_weights.lag_months"] for run in study.runs} == {6, 7}


def test_a_design_with_carriage_returns_counts_its_rows(tmp_path, monkeypatch):
    """Line breaks of a lone CR (old Mac files) counted as 0 rows, so such a design passed the run limit whatever
    its size; the rows are counted as the parser reads them. With the limit at 5 runs, 6 rows are refused."""
    from wattyear.experiments.studies import study as study_module

    monkeypatch.setattr(study_module, "MAX_RUNS", 5)
    design = b"world.pue\r" + b"".join(b"1.%d\r" % i for i in range(1, 7))
    with pytest.raises(ConfigError, match=r"sample.path: expected at most 5 runs .* found '6 runs"):
        load_study(study_with(tmp_path, '[sample]\nmethod = "file"\npath = "d.csv"\n', {"d.csv": design}))


def test_a_design_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    from wattyear.experiments.studies import design as design_module

    monkeypatch.setattr(design_module, "MAX_DESIGN_BYTES", 100)
    with pytest.raises(ConfigError, match=r"sample.path: expected a design file of at most 100 bytes .* found "
                                          r"'d.csv: 101 bytes'"):
        load_study(study_with(tmp_path, '[sample]\nmethod = "file"\npath = "d.csv"\n',
                              {"d.csv": b"world.pue\n" + b"1.2\n" * 22 + b"1.2"}))  # 101 bytes


def test_calibrating_a_parameter_twice_is_refused(tmp_path, monkeypatch, capsys):
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "backtest_2025", "--posterior", "--targets", "backtest_targets", "--parameters",
                 "world.pue,world.pue", "--out", "out/x"]) == 2
    assert "--parameters: --parameters: expected each parameter once, found 'world.pue twice'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
