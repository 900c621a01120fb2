"""`wattyear run` writes the promised files with the promised columns."""

import json
import tomllib

import pandas as pd

from wattyear.experiments.cli import main

REQUIRED_METRICS = {"step", "date", "agent", "kind", "watts", "mtok_per_watt_year", "revenue_usd_per_mtok",
                    "revenue_usd_per_watt_year", "cost_usd_per_watt_year", "utilization", "rate_limited_share",
                    "revenue_usd", "operating_profit_usd", "cash_usd"}


def test_run_writes_tables_plots_config_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--months", "6", "--seed", "11", "--out", str(out),
                 "--set", "labs.anthropic.watts=2e9", "--set", "open_weights.quality_fraction=0.7"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "anthropic" in printed and "RPT $/Mtok" in printed and "2026-01 → 2026-06" in printed
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert REQUIRED_METRICS <= set(metrics.columns)
    assert metrics["step"].nunique() == 6
    assert set(metrics["kind"]) == {"lab", "fringe", "hyperscaler", "open_weights"}
    assert str(metrics["date"].iloc[0])[:10] == "2026-01-01"
    market = pd.read_parquet(out / "market.parquet")
    assert {"segment", "provider", "price_usd_per_mtok", "share", "served_tokens"} <= set(market.columns)
    shares = market.groupby(["step", "segment"])["share"].sum()
    assert (shares <= 1 + 1e-9).all()
    resolved = tomllib.loads((out / "config.resolved.toml").read_text())
    assert resolved["labs"]["anthropic"]["watts"] == 2e9 and resolved["run"]["seed"] == 11
    assert json.loads((out / "run.json").read_text())["seed"] == 11
    for png in ("per_watt_metrics.png", "market.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_params_prints_the_parameter_table(capsys):
    assert main(["params"]) == 0
    assert "`labs.ID.max_training_share`" in capsys.readouterr().out


def test_month_from_which_a_lab_raises_no_more():
    import pandas as pd

    from wattyear.experiments.analysis.summary import no_more_outside_capital

    rows = [("a", 0, 5.0), ("a", 1, 0.0), ("a", 2, 3.0), ("a", 3, 0.0),  # last raise month 2: free from 3
            ("b", 0, 0.0), ("b", 1, 0.0), ("b", 2, 0.0), ("b", 3, 0.0),  # never raises: 0
            ("c", 0, 0.0), ("c", 1, 0.0), ("c", 2, 0.0), ("c", 3, 1.0)]  # still raising at the end
    frame = pd.DataFrame(rows, columns=["agent", "step", "raised_usd"]).assign(kind="lab")
    assert no_more_outside_capital(frame) == {"a": 3, "b": 0, "c": None}


def test_a_config_whose_name_is_dots_writes_under_out(tmp_path, monkeypatch):
    """A config file named '...toml' (stem '..') gets a folder of its own under out/, never the working
    folder or the one above it."""
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "...toml").write_text('extends = "baseline.toml"\n')
    assert main(["run", "sub/...toml", "--months", "2", "--no-plots"]) == 0
    written = [p.relative_to(tmp_path) for p in tmp_path.rglob("metrics.parquet")]
    assert len(written) == 1 and written[0].parts[0] == "out" and written[0].parts[1].startswith("_")


def test_a_run_folder_written_again_keeps_nothing_stale(tmp_path, monkeypatch):
    """A run folder rewritten with --no-plots loses its old plots, report and cost view (they describe the
    old tables); the new tables are there."""
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "--out", "r", "--months", "2"]) == 0
    assert main(["report", "r"]) == 0 and main(["costs", "r", "--no-plots"]) == 0
    assert (tmp_path / "r" / "market.png").is_file() and (tmp_path / "r" / "report.html").is_file()
    assert main(["run", "--out", "r", "--months", "3", "--no-plots"]) == 0
    left = {p.name for p in (tmp_path / "r").iterdir()}
    assert not left & {"market.png", "per_watt_metrics.png", "self_funding.png", "report.md", "report.html",
                       "costs.csv"}
    assert {"metrics.parquet", "run.json", "summary.txt"} <= left


def test_the_summary_writes_each_unit_one_way():
    """One lab, two months: RPT $0.703 → $0.0967/Mtok, margins −109% → 15%, shares as percent; an
    undefined value (a NaN ratio) reads n/a, never 0."""
    from wattyear.experiments.analysis.summary import SUMMARY_COLUMNS, format_summary

    start = {"mtok_per_watt_year": 14.8, "revenue_usd_per_mtok": 0.703, "revenue_usd_per_watt_year": 10.41,
             "cost_usd_per_watt_year": 16.45, "utilization": 0.32, "rate_limited_share": 0.0,
             "operating_margin": -1.09}
    end = start | {"mtok_per_watt_year": 263.56, "revenue_usd_per_mtok": 0.0967, "operating_margin": 0.15,
                   "utilization": float("nan")}
    frame = pd.DataFrame([{"agent": "openai", "kind": "lab", "step": s} | v for s, v in ((0, start), (1, end))])
    assert {c for c, *_ in SUMMARY_COLUMNS} <= set(frame)
    text = format_summary(frame, "2026-01", "2026-02")
    row = next(line for line in text.splitlines() if line.startswith("openai"))
    for cell in ("14.8 → 264", "$0.703 → $0.0967", "$10.4 → $10.4", "32% → n/a", "−109% → 15%"):
        assert cell in row


def test_comparison_tables_name_the_runs_and_label_missing_cells_honestly():
    """Two labs in 'base'; 'cheap' lacks lab b. Columns are the runs' names; a censored crossing reads 'not within
    the horizon' and its difference 'censored'; a lab not in a run reads –; money $30.0B, shares in points."""
    from types import SimpleNamespace

    import numpy as np

    from wattyear.experiments.analysis.compare import COMPARED, CROSSING, Comparison

    values = {("a", "base"): 1.0, ("a", "cheap"): 0.5, ("b", "base"): 2.0}
    scale = {"revenue_usd_per_mtok": 0.1, "operating_margin": 0.1, "outside_capital_usd": 3e10}
    rows = []
    for metric, unit in [(c[0], c[2]) for c in COMPARED] + [(CROSSING[0], CROSSING[2])]:
        for lab in ("a", "b"):
            ref = values[(lab, "base")] * scale.get(metric, 1.0) if metric != CROSSING[0] else 14.0
            for run in ("base", "cheap"):
                there = (lab, run) in values
                v = (values[(lab, run)] * scale.get(metric, 1.0) if metric != CROSSING[0] and there else
                     (14.0 if run == "base" else np.nan) if there else np.nan)
                rows.append({"lab": lab, "metric": metric, "unit": unit, "run": run, "value": v, "reference": ref,
                             "difference": v - ref, "in_run": there})
    run = SimpleNamespace(metrics=pd.DataFrame({"date": [pd.Timestamp("2026-01-01")]}),
                          config={"run": {"start": "2026-01"}})
    text = Comparison([run, run], ["base", "cheap"], "2030-12", pd.DataFrame(rows)).markdown()
    assert "| lab | base | cheap | Δ cheap |" in text and "| A |" not in text and "Δ B" not in text
    assert "| a | $0.10 | $0.05 | −$0.05 |" in text
    assert "| b | $0.20 | – | – |" in text
    assert "| a | $30.0B | $15.0B | −$15.0B |" in text
    assert "| a | 10% | 5% | −5.0 pp |" in text
    assert "| a | 2027-03 | not within the horizon | censored |" in text


def test_a_comparison_written_again_with_fewer_runs_keeps_none_of_the_old_runs(tmp_path, monkeypatch):
    """compare A B C then compare A B into the same folder left C's run folder under runs/ (and runs.json
    named two runs beside three folders). A comparison's run folders go with its other derived outputs; a
    folder of the user's under runs/ that is not a run stays."""
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    specs = ["baseline+run.months=2", "baseline+run.months=2+fringe.margin=0.1", "baseline+run.months=2+fringe.margin=0.2"]
    assert main(["compare", *specs, "--out", "c", "--no-plots"]) == 0
    (tmp_path / "c" / "runs" / "notes").mkdir()
    assert len([p for p in (tmp_path / "c" / "runs").iterdir() if (p / "run.json").exists()]) == 3
    assert main(["compare", *specs[:2], "--out", "c", "--no-plots"]) == 0
    kept = sorted(p.name for p in (tmp_path / "c" / "runs").iterdir())
    assert len(kept) == 3 and "notes" in kept and not any("0.2" in name for name in kept)


def test_a_file_that_cannot_be_read_is_not_reported_as_one_that_cannot_be_written(tmp_path, capsys):
    """Every OSError was 'cannot write …', reads included; a read names the file and what the system said,
    and a write still says 'cannot write'."""
    import wattyear
    from wattyear.experiments.cli import main

    folder = wattyear.run(months=2).save(tmp_path / "r", plots=False)
    (folder / "metrics.parquet").unlink()
    (folder / "metrics.parquet").mkdir()  # a folder where a table should be: unreadable as a file
    code = main(["costs", str(folder), "--out", str(tmp_path / "k"), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" not in err and "metrics.parquet" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--months", "1", "--no-plots", "--out", str(blocker / "out")]) == 2
    assert "cannot write" in capsys.readouterr().err
