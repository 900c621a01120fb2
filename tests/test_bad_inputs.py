"""A catalogue of user mistakes on the command line, each answered the same way: exit status 2, a message
naming the file (or flag) and the key, no traceback, and nothing written.

Each case is (name, argv, files to create in the working folder, text the message must contain). The
command runs in a fresh folder; ``--out`` points at ``out/x`` there, which must not exist afterwards. Study
files' mistakes are catalogued in ``tests/test_sweep_safety.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattyear.experiments.cli import main

BASE = 'extends = "baseline"\n'
LEASE = ('[[leases]]\nlessor = "{lessor}"\nlessee = "{lessee}"\nwatts = 1e8\nstart = "{start}"\nmonths = {months}\n'
         'price_usd_per_w_year = 20.0\n')


def lease(lessor="xai", lessee="anthropic", start="2026-03", months=12) -> str:
    return BASE + LEASE.format(lessor=lessor, lessee=lessee, start=start, months=months)


def run(*args, config="c.toml"):
    return ["run", config, "--out", "out/x", "--months", "3", "--no-plots", *args]


COMMITMENT = ('[[commitments]]\nlessor = "{lessor}"\nlessee = "{lessee}"\nwatts = 1e8\nstart = "2026-06"\n'
              'months = 12\nprice_usd_per_w_year = 20.0\n')


def commitment(lessor="amazon", lessee="anthropic") -> str:
    return BASE + COMMITMENT.format(lessor=lessor, lessee=lessee)


CASES = [
    # one kind of result folder is never written into another
    ("a run into a study's folder", ["run", "baseline", "--out", "s", "--months", "2", "--no-plots"],
     {"s/identity.json": "{}"}, ["--out", "a study folder"]),
    ("a comparison into a run's folder", ["compare", "baseline", "baseline+run.months=2", "--out", "r"],
     {"r/run.json": "{}"}, ["--out", "a run folder"]),
    ("a sweep into a run's folder", ["sweep", "st.toml", "--out", "r", "--workers", "1", "--no-progress"],
     {"r/run.json": "{}", "st.toml": '[study]\nname = "st"\nmonths = 2\n[grid]\n"open_weights.lag_months" = [6]\n'},
     ["--out", "a run folder"]),
    ("an integer of 5,000 digits", run(), {"c.toml": BASE + "[run]\nseed = " + "9" * 5000 + "\n"},
     ["c.toml", "(syntax)", "4,300 digits"]),
    ("an empty config name", run(config=""), {}, ["(file)", "an empty name"]),
    ("extends nothing", run(), {"c.toml": 'extends = ""\n'}, ["c.toml", "extends"]),
    ("a table given as a list", run(), {"c.toml": BASE + "run = [1, 2]\n"}, ["run", "a table", "[1, 2]"]),
    ("calibrating no parameters", ["calibrate", "backtest_2025", "--posterior", "--targets", "backtest_targets",
                                   "--parameters", "", "--out", "out/x"], {}, ["--parameters", "dotted paths"]),
    ("a month with a sign", run("--set", 'run.start="2026-+1"', config="baseline"), {}, ["run.start", "2026-+1"]),
    # flags that say two things, and words that must not reach a terminal raw
    ("--set with a line break", run("--set", 'labs.xai.name="a\nb"', config="baseline"), {},
     ["--set", "labs.xai.name", "one line"]),
    ("--months and --set disagree", run("--set", "run.months=6", config="baseline"), {}, ["--months", "disagree"]),
    ("an empty --out", ["run", "baseline", "--out", "", "--no-plots"], {}, ["--out", "a folder name"]),
    ("an escape sequence in a key", run("--set", "labs.xai.\x1b[31mname=1", config="baseline"), {},
     ["--set", "labs.xai.\\x1b[31mname"]),
    ("200 unknown keys", run(), {"c.toml": BASE + "[world]\n" + "".join(f"k{i} = 1\n" for i in range(200))},
     ["world.k0", "… and 150 more"]),
    # commitments follow the rules leases follow; no watts of a generation before it is on sale
    ("commitment from nobody", run(), {"c.toml": commitment(lessor="nobody")}, ["c.toml", ".lessor", "nobody"]),
    ("commitment to a cloud", run(), {"c.toml": commitment(lessee="microsoft")},
     ["c.toml", ".lessee", "a lab id", "microsoft"]),
    ("commitment to itself", run(), {"c.toml": commitment(lessor="xai", lessee="xai")},
     ["c.toml", ".lessee", "other than the lessor"]),
    ("commitment via --set", run("--set", 'commitments.0.lessee="nobody"', config="baseline"), {},
     ["commitments.0.lessee", "nobody"]),
    ("vintage before its hardware", run(), {"c.toml": BASE + '[[labs.xai.fleet]]\nhardware = "rubin"\nwatts = 1e8\n'
                                                          'in_service = "2026-06"\n'},
     ["labs.xai.fleet.2.in_service", "2027-01", "2026-06"]),
    ("starting on hardware not yet sold", run("--set", 'labs.xai.hardware="rubin"', config="baseline"), {},
     ["labs.xai.hardware", "on sale by the start", "rubin"]),
    # files that are not configs
    ("not utf-8", run(), {"c.toml": b'x = "\xff\xfe"\n'}, ["c.toml", "(encoding)", "UTF-8"]),
    ("nested 3000 deep", run(), {"c.toml": "a = " + "[" * 3000 + "]" * 3000 + "\n"}, ["c.toml", "nested"]),
    ("inline tables 3000 deep", run(), {"c.toml": "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n"},
     ["c.toml", "nested"]),
    ("a device", run(config="/dev/zero"), {}, ["/dev/zero", "not a regular file"]),
    ("a folder", run(config="adir"), {"adir/x": ""}, ["adir", "a folder"]),
    ("a missing file", run(config="nope.toml"), {}, ["nope.toml", "no such file"]),
    ("bad syntax", run(), {"c.toml": "run = {\n"}, ["c.toml", "(syntax)"]),
    ("too large", run(), {"c.toml": "#" * (17 * 2**20)}, ["c.toml", "at most"]),
    # structure and values
    ("unknown section", run(), {"c.toml": BASE + "[wrld]\nx = 1\n"}, ["c.toml", "wrld"]),
    ("misspelt key", run(), {"c.toml": BASE + "[labs.xai]\nwats = 1e9\n"}, ["c.toml", "labs.xai.wats"]),
    ("negative watts", run(), {"c.toml": BASE + "[labs.xai]\nwatts = -1e9\n"}, ["c.toml", "labs.xai.watts"]),
    ("text for a number", run(), {"c.toml": BASE + '[world]\nenergy_usd_per_mwh = "cheap"\n'},
     ["c.toml", "world.energy_usd_per_mwh"]),
    ("true for a number", run(), {"c.toml": BASE + "[world]\nenergy_usd_per_mwh = true\n"},
     ["world.energy_usd_per_mwh"]),
    ("nan", run(), {"c.toml": BASE + "[world]\nenergy_usd_per_mwh = nan\n"}, ["world.energy_usd_per_mwh"]),
    ("inf", run(), {"c.toml": BASE + "[world]\nenergy_usd_per_mwh = inf\n"}, ["world.energy_usd_per_mwh"]),
    ("huge integer", run(), {"c.toml": BASE + "[world]\nenergy_usd_per_mwh = " + "9" * 400 + "\n"},
     ["world.energy_usd_per_mwh"]),
    ("float for an integer", run(), {"c.toml": BASE + "[world]\nlease_lead_months = 1.5\n"},
     ["world.lease_lead_months"]),
    ("start in 9990", run(), {"c.toml": BASE + '[run]\nstart = "9990-01"\n'}, ["c.toml", "run.start", "2200"]),
    ("month 13", run(), {"c.toml": BASE + '[run]\nstart = "2026-13"\n'}, ["run.start"]),
    ("lease of 100,000 months", run(), {"c.toml": lease(months=100000)}, ["leases.", "months", "1200"]),
    ("lease in 9999", run(), {"c.toml": lease(start="9999-01")}, ["leases.", "start"]),
    ("unknown lessor", run(), {"c.toml": lease(lessor="oracle")}, ["leases.", "lessor", "meta"]),
    ("the publisher's table name as lessor", run(), {"c.toml": lease(lessor="open_weights")},
     ["leases.", "lessor"]),
    ("a hyperscaler as lessee", run(), {"c.toml": lease(lessee="amazon")}, ["leases.", "lessee"]),
    ("a lease above what the lessor owns", run(), {"c.toml": lease().replace("1e8", "5e9")},
     ["leases.", "watts", "xai owns"]),
    ("lab id unserved", run(), {"c.toml": BASE + "[labs.unserved]\nwatts = 1\n"}, ["labs.unserved"]),
    ("lab id meta", run(), {"c.toml": BASE + "[labs.meta]\nwatts = 1\n"}, ["labs.meta"]),
    ("id with a dot", run(), {"c.toml": BASE + '[labs."open.ai"]\nwatts = 1\n'}, ["labs.open.ai"]),
    ("extends itself", run(), {"c.toml": 'extends = "c.toml"\n'}, ["c.toml", "extends"]),
    ("extends nothing", run(), {"c.toml": 'extends = "nowhere.toml"\n'}, ["c.toml", "extends"]),
    ("extends a number", run(), {"c.toml": "extends = 5\n"}, ["c.toml", "extends"]),
    ("unknown hardware", run(), {"c.toml": BASE + '[labs.xai]\nhardware = "tpu9"\n'}, ["labs.xai.hardware"]),
    ("too many size classes", run(), {"c.toml": BASE + "[segments.enterprise]\nsize_classes = 100000\n"},
     ["segments.enterprise.size_classes"]),
    ("funding shares", run(), {"c.toml": BASE + "[[labs.xai.funding]]\nsource = \"x\"\nshare = 0.5\n"},
     ["labs.xai.funding"]),
    # flags and overrides
    ("--set unknown path", ["run", "--out", "out/x", "--set", "labs.xai.wats=1"], {}, ["--set", "labs.xai.wats"]),
    ("--set without =", ["run", "--out", "out/x", "--set", "labs.xai.watts"], {}, ["--set", "PATH=VALUE"]),
    ("--set twice, two values", ["run", "--out", "out/x", "--set", "fringe.margin=0.1", "--set", "fringe.margin=0.2"],
     {}, ["--set: fringe.margin: expected one value (an earlier --set gives 0.1), found 0.2"]),
    ("--set negative", ["run", "--out", "out/x", "--set", "labs.xai.watts=-5"], {}, ["--set", "labs.xai.watts"]),
    ("--set unknown lab", ["run", "--out", "out/x", "--set", "labs.mistral.watts=1e9"], {}, ["--set", "mistral"]),
    ("--set fleet index", ["run", "--out", "out/x", "--set", "labs.xai.fleet.9.watts=1e9"], {},
     ["--set", "labs.xai.fleet.9", "below"]),
    ("--seed -1", ["run", "--out", "out/x", "--seed", "-1"], {}, ["--seed", "run.seed"]),
    ("--seed huge", ["run", "--out", "out/x", "--seed", "9" * 30], {}, ["--seed", "run.seed"]),
    ("--months 100000", ["run", "--out", "out/x", "--months", "100000"], {}, ["--months", "run.months"]),
    ("--months 0", ["run", "--out", "out/x", "--months", "0"], {}, ["--months"]),
    ("--months text", ["run", "--out", "out/x", "--months", "ten"], {}, ["--months"]),
    ("compare --at bad", ["compare", "baseline", "colossus_lease", "--out", "out/x", "--at", "2026-13"], {},
     ["--at"]),
    ("validate a missing table", ["validate", "nope.csv", "--out", "out/x"], {}, ["nope.csv"]),
    ("validate --seed -3", ["validate", "backtest_holdout", "--seed", "-3", "--out", "out/x"], {}, ["--seed"]),
    ("validate --scenarios 10^8", ["validate", "backtest_holdout", "--scenarios", "100000000", "--out", "out/x"],
     {}, ["--scenarios", "10,000"]),
    ("posterior --particles 10^9", ["calibrate", "backtest_2025", "--posterior", "--targets", "backtest_targets",
                                    "--particles", "1000000000", "--out", "out/x"], {}, ["--particles"]),
    ("posterior --seed -1", ["calibrate", "backtest_2025", "--posterior", "--targets", "backtest_targets",
                             "--seed", "-1", "--out", "out/x"], {}, ["--seed"]),
    ("--months in another script's digits", ["run", "--out", "out/x", "--months", "\u0663"], {}, ["--months"]),
    ("month without its zero", run(), {"c.toml": BASE + '[run]\nstart = "2026-1"\n'}, ["run.start"]),
    ("--set a funding entry's commitment", ["run", "--out", "out/x", "--set",
                                            "labs.openai.funding.0.cloud_commitment=0.5"], {},
     ["--set", "labs.openai.funding.0"]),
    ("a garbage posterior", ["validate", "backtest_holdout", "--posterior", "pp", "--out", "out/x"],
     {"pp/posterior.parquet": b"garbage", "pp/posterior.json": '{"config": "baseline"}'},
     ["pp/posterior.parquet", "unreadable"]),
    ("a posterior record that is a list", ["validate", "backtest_holdout", "--posterior", "pp", "--out", "out/x"],
     {"pp/posterior.parquet": b"garbage", "pp/posterior.json": "[1, 2]"}, ["pp/posterior.json", "JSON object"]),
    ("apply into a file without the fitted keys", ["calibrate", "c.toml", "--apply", "--max-evaluations", "1",
                                                   "--report", "out/x/calibration.md"], {"c.toml": BASE},
     ["c.toml", "fitted parameter"]),
    ("dash a bad config", ["dash", "c.toml"], {"c.toml": BASE + "[labs.xai]\nwatts = -1\n"}, ["labs.xai.watts"]),
]


@pytest.mark.parametrize("damage, says", [
    ("metrics.parquet", "unreadable"), ("run.json", "(syntax)"), ("run.json[]", "JSON object"),
    ("metrics.parquet-columns", "no column"),
])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_damaged_run_folder_is_named_not_a_traceback(damage, says, command, tmp_path, monkeypatch, capsys):
    """``report`` and ``compare`` read run folders back: a damaged file is named, with exit 2."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    assert main(["run", "--out", "good", "--months", "3", "--no-plots"]) == 0
    assert main(["run", "--out", "bad", "--months", "3", "--no-plots"]) == 0
    name = damage.split("[")[0].split("-")[0]
    if damage == "metrics.parquet-columns":
        pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "bad" / name)
    else:
        (tmp_path / "bad" / name).write_text("[1, 2]" if damage.endswith("[]") else "[1,2")
    capsys.readouterr()
    argv = ["report", "bad"] if command == "report" else ["compare", "good", "bad", "--out", "cmp", "--no-plots"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and name in err and says in err, err
    assert not (tmp_path / "cmp").exists()


def test_a_sweep_with_damaged_run_files_is_named_by_analyze(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('[study]\nname = "s"\nbase = "baseline"\nmonths = 3\n[grid]\n'
                                     '"world.energy_usd_per_mwh" = [60.0, 90.0]\n')
    assert main(["sweep", "s.toml", "--out", "sw", "--workers", "1", "--no-progress"]) == 0
    for path in (tmp_path / "sw" / "runs").glob("*.parquet"):
        path.write_bytes(b"PAR1xxxxPAR1")
    capsys.readouterr()
    assert main(["analyze", "sw"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "runs" in err and "unreadable" in err, err


def test_calibrating_a_world_without_openai_names_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _no_openai(tmp_path)
    assert main(["calibrate", "c.toml", "--report", "out/x/calibration.md"]) == 2
    err = capsys.readouterr().err
    assert "c.toml" in err and "labs.openai" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def _no_openai(tmp_path) -> None:
    """A world without OpenAI: the baseline's tables with the lab and every reference to it removed."""
    import tomli_w

    from wattyear.sim.config import load_config

    cfg = load_config()
    del cfg["labs"]["openai"]
    cfg["leases"] = [x for x in cfg["leases"] if x["lessee"] != "openai"]
    cfg["commitments"] = [x for x in cfg.get("commitments", []) if x["lessee"] != "openai"]
    for hyper in cfg["hyperscalers"].values():
        hyper.get("stakes", {}).pop("openai", None)
        hyper.pop("owns", None) if hyper.get("owns") == "openai" else None
    for seg in cfg["segments"].values():
        seg.pop("affinity", None)
    (tmp_path / "c.toml").write_bytes(tomli_w.dumps(cfg).encode())


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("out, found", [("dangling", "'a symbolic link pointing nowhere (to nowhere/x)'"),
                                        ("/dev/null", "'not a folder: a device, pipe or socket'"),
                                        ("file.txt", "'not a folder: a file'")])
def test_an_out_that_cannot_be_a_folder_is_named_as_such(command, out, found, tmp_path, capsys, monkeypatch):
    """Before: 'cannot write dangling: File exists' for a dangling link and for /dev/null."""
    monkeypatch.chdir(tmp_path)
    Path("dangling").symlink_to("nowhere/x")
    Path("file.txt").write_text("mine\n")
    given = ["run", "baseline", "--months", "3", "--no-plots"] if command == "run" else ["sweep", "llama_pressure"]
    assert main([*given, "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"--out: {out}: expected a folder, or the name of one to make, found {found}" in err
    assert not Path("nowhere").exists() and Path("file.txt").read_text() == "mine\n"


@pytest.mark.parametrize("name, argv, files, says", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_gets_exit_2_its_key_and_writes_nothing(name, argv, files, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path, content in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (a flag of the wrong type)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "\x1b" not in err and "\u202e" not in err  # nothing a terminal would act on
    assert err.count("\n") <= 60  # a cap on the problems printed
    for text in says:
        assert text in err, f"{text!r} not in: {err}"
    assert not (tmp_path / "out").exists(), "something was written"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_publishers_real_id_may_let_watts(tmp_path, monkeypatch, capsys):
    """Validation and the model agree on ids: Meta's is ``meta`` (the name the error lists)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(lease(lessor="meta"))
    assert main(run()) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "x" / "metrics.parquet").is_file()


def test_a_run_the_guard_stops_exits_3_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """A config that passes validation but breaks the model mid-run (here by patching a rule to produce a
    NaN) stops with the month, agent and quantity, exit 3, and no files."""
    import numpy as np

    from wattyear.agents.lab import FrontierLab

    original = FrontierLab.set_prices

    def broken(self, obs):
        prices = original(self, obs)
        if obs.step == 4 and self.agent_id == "xai":
            self.model.state.cash[:, self.column] = np.nan
        return prices

    monkeypatch.setattr(FrontierLab, "set_prices", broken)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--out", "out/x", "--months", "12"]) == 3
    err = capsys.readouterr().err
    assert "month 4 (2026-05)" in err and "xai" in err and "cash_usd" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()



def test_a_files_mistake_is_not_blamed_on_a_set_beside_it(tmp_path, monkeypatch, capsys):
    """A lease entry whose lessor is wrong in the file, with its watts set on the command line: the lessor is
    the file's mistake, not --set's."""
    from wattyear.sim.config import load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(lease(lessor="nobody"))
    n = len(load_config()["leases"])
    assert main(run("--set", f"leases.{n}.watts=2e8")) == 2
    err = capsys.readouterr().err
    assert f"c.toml: leases.{n}.lessor" in err and f"--set: leases.{n}.lessor" not in err, err


def test_an_owner_without_starting_watts_still_builds_only_what_is_on_sale(tmp_path):
    """An owner with no watts at the start whose hardware is not yet on sale was let through: its builds took
    the not-yet-sold generation from the second month (a fallback in World.newest). Refused now, by name."""
    from wattyear.sim.config import ConfigError, load_config

    path = tmp_path / "fut.toml"
    path.write_text('extends = "baseline"\n[hardware.future]\nfamily = "fut"\navailable_from = "2030-01"\n'
                    'tokens_per_joule = 1.0\ncapex_usd_per_w = 40.0\nlife_years = 5.0\n'
                    '[hyperscalers.amazon]\nhardware = "future"\nwatts = 0.0\n')
    with pytest.raises(ConfigError, match=r"hyperscalers.amazon.hardware: expected a generation on sale by the start"):
        load_config(path)
