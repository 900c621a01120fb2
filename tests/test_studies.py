"""Studies users came for, shrunken: Llama price pressure, crossings from every month, kept tables,
explicit designs, Sobol' and Morris studies, the Colossus lease what-if, and reports."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.analysis import survival
from wattyear.experiments.analysis.study_data import QUALITY, crossings_table, load
from wattyear.experiments.analysis.outcomes import RESTRICTED, analyze, effect_step, findings, findings_lines
from wattyear.experiments.cli import main
from wattyear.experiments.analysis.report import report
from wattyear.experiments.studies.study import load_study
from wattyear.sim.capital_market import crossing_step
from wattyear.sim.config import ConfigError

LABS = ("openai", "anthropic", "xai", "gemini")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    """Open-weights quality 0.5 vs 0.95 and two release cadences, 3 replicates each, 48 months, keeping
    every 12th month and the market and funding tables."""
    folder = tmp_path_factory.mktemp("llama") / "out"
    study = {"study": {"name": "llama_small", "base": "baseline", "months": 48, "replicates": 3, "seed": 5},
             "grid": {QUALITY: [0.5, 0.95], "open_weights.release_every_months": [3, 12]},
             "outputs": {"keep": "every", "every_months": 12, "kinds": ["lab", "fringe"],
                         "tables": ["metrics", "market", "funding"]}}
    return wattyear.sweep(study, folder, workers=2)


@pytest.mark.slow
def test_better_open_weights_take_developer_tokens_and_delay_self_funding(llama):
    """The economics, over every replicate's median: a closer open-weights substitute takes a larger
    share of the API segment's tokens in every kept month, the closed labs together sell less there,
    and no lab crosses the self-funding threshold sooner (and at least one crosses later). Every closed lab's
    median API list price is no higher in any kept month, and 4% or more lower on average over labs and
    months (measured: −8%; OpenAI −0.1% to −4.9%, Gemini −3.5% to −15.7%): their customers route more of
    their tasks to a better open model, which makes each lab's demand more elastic (docs/model.md §4, §14)."""
    k = llama.market[llama.market["segment"] == "api"]
    served = k.groupby([QUALITY, "run_id", "step", "provider"])["served_tokens"].sum().unstack("provider")
    open_share = (served["open_weights_fringe"] / served.sum(axis=1)).groupby([QUALITY, "step"]).median().unstack(QUALITY)
    assert (open_share[0.95] > open_share[0.5] + 0.05).all(), open_share
    closed = served[list(LABS)].sum(axis=1).groupby(QUALITY).median()
    assert closed[0.95] < closed[0.5]
    labs = k[k["provider"].isin(LABS)]
    price = labs.groupby([QUALITY, "provider", "step"])["price_usd_per_mtok"].median().unstack(QUALITY)
    change = price[0.95] / price[0.5] - 1
    assert (change <= 1e-9).all() and change.mean() <= -0.04, change
    crossings = pd.read_parquet(llama.folder / "crossings.parquet") if (llama.folder / "crossings.parquet").exists() \
        else crossings_table(load(llama.folder))
    # the Kaplan–Meier median crossing month over the replicates and cadences (not reached: infinitely late)
    median = crossings.groupby(["agent", QUALITY])["crossing_step"].apply(
        lambda m: survival.summarise(m, 47).median or np.inf).unstack(QUALITY)
    assert (median[0.95] >= median[0.5]).all(), median
    assert (median[0.95] > median[0.5]).any(), median


@pytest.mark.slow
def test_llama_report_has_its_figures_and_findings(llama, capsys):
    written = {p.name for p in analyze(llama.folder)}
    analysed = (llama.folder / "analysis.md").stat().st_mtime_ns
    assert {"fan_self_funding.png", "fan_revenue_per_token.png", "fan_operating_margin.png", "crossing_cdf.png",
            "outside_capital.png", "llama_prices_by_quality.png", "llama_lost_demand.png", "llama_heatmap.png",
            "llama_response.png", "findings.csv", "analysis.md"} <= written
    findings = pd.read_csv(llama.folder / "findings.csv")
    quality_on_rpt = findings[(findings["parameter"] == QUALITY) & findings["outcome"].str.startswith("revenue per token")]
    assert set(quality_on_rpt["lab"]) == set(LABS) and (quality_on_rpt["low"] <= quality_on_rpt["effect"]).all()
    assert (quality_on_rpt["effect"] <= quality_on_rpt["high"]).all()
    capsys.readouterr()
    md, html = report(llama.folder)
    # the analysis just written is reused, not run again (and the report says so)
    assert (llama.folder / "analysis.md").stat().st_mtime_ns == analysed
    assert "using the analysis already written" in capsys.readouterr().err
    text = md.read_text()
    assert text.startswith("# Study report: llama_small") and "each step moves" in text
    assert "wattyear version" in text and "| wattyear version | unknown |" not in text  # sweep.json is read
    page = html.read_text()
    assert page.count("data:image/png;base64,") >= 9 and "<table>" in page


@pytest.mark.slow
def test_kept_tables_load_like_metrics(llama):
    market, funding = llama.market, llama.funding
    assert set(market["run_id"]) == set(funding["run_id"]) == set(llama.manifest["run_id"])
    assert set(market["step"]) == {11, 23, 35, 47}  # the kept months only
    assert "open_weights_fringe" in set(market["provider"]) and QUALITY in market
    with pytest.raises(ConfigError, match="leases: expected a study that keeps it"):
        llama.leases


def test_crossings_are_read_from_every_month_even_when_few_are_kept(tmp_path):
    study = {"study": {"name": "c", "months": 60, "seed": 3}, "grid": {QUALITY: [0.5, 0.6]},
             "outputs": {"keep": "summary", "kinds": ["lab"]}}
    done = wattyear.sweep(study, tmp_path / "c", workers=1)
    kept = done.metrics
    assert set(kept["step"]) == {59}
    assert load(tmp_path / "c").start == pd.Timestamp("2026-01-01")  # not the first kept month
    crossed = 0
    for row in done.manifest.to_dict("records"):
        alone = wattyear.run(overrides={QUALITY: row[QUALITY]}, seed=row["seed"], months=60)
        for lab in LABS:
            mine = alone.metrics.loc[alone.metrics["agent"] == lab]
            expected = crossing_step(mine["self_funding_ratio"].to_numpy(), mine["raised_usd"].to_numpy())
            got = kept.loc[(kept["run_id"] == row["run_id"]) & (kept["agent"] == lab), "crossing_step"].item()
            assert (np.isnan(got) and expected is None) or got == expected, (row["run_id"], lab)
            crossed += expected is not None and expected < 59
    assert crossed  # some lab crosses before the one kept month, so the check has teeth


def test_an_explicit_design_file_is_run_row_by_row(tmp_path):
    design = pd.DataFrame({QUALITY: [0.55, 0.9, 0.7], "open_weights.lag_months": [3, 9, 6]})
    design.to_csv(tmp_path / "design.csv", index=False)
    (tmp_path / "s.toml").write_text('[study]\nname = "d"\nmonths = 3\n[sample]\nmethod = "file"\n'
                                     'path = "design.csv"\n')
    study = load_study(tmp_path / "s.toml")
    assert [r.params for r in study.runs] == [{QUALITY: 0.55, "open_weights.lag_months": 3},
                                              {QUALITY: 0.9, "open_weights.lag_months": 9},
                                              {QUALITY: 0.7, "open_weights.lag_months": 6}]
    assert isinstance(study.runs[0].params["open_weights.lag_months"], int)
    pd.DataFrame({QUALITY: [0.5, 7.0]}).to_parquet(tmp_path / "bad.parquet")
    (tmp_path / "b.toml").write_text('[study]\nname = "b"\n[sample]\nmethod = "file"\npath = "bad.parquet"\n')
    with pytest.raises(ConfigError, match=f"sample.path: column {QUALITY}"):
        load_study(tmp_path / "b.toml")
    (tmp_path / "c.toml").write_text('[study]\nname = "c"\n[sample]\nmethod = "file"\npath = "none.csv"\n')
    with pytest.raises(ConfigError, match="sample.path: expected an existing file"):
        load_study(tmp_path / "c.toml")


def test_saltelli_and_morris_studies_check_their_designs(tmp_path):
    body = '[study]\nname = "s"\nmonths = 3\n[sample]\nmethod = "saltelli"\nn = 6\n[sample.ranges]\n' \
           f'"{QUALITY}" = "bounds"\n'
    (tmp_path / "s.toml").write_text(body)
    with pytest.raises(ConfigError, match="sample.n: expected a power of 2"):
        load_study(tmp_path / "s.toml")
    (tmp_path / "g.toml").write_text(body.replace("n = 6", "n = 8") + '[grid]\n"world.pue" = [1.2, 1.3]\n')
    with pytest.raises(ConfigError, match="grid: expected no varied .grid. parameter with a saltelli design"):
        load_study(tmp_path / "g.toml")
    (tmp_path / "m.toml").write_text(body.replace('"saltelli"\nn = 6', '"morris"\nn = 3\nlevels = 3'))
    with pytest.raises(ConfigError, match="sample.levels: expected an even integer"):
        load_study(tmp_path / "m.toml")
    (tmp_path / "ok.toml").write_text(body.replace("n = 6", "n = 8"))
    assert len(load_study(tmp_path / "ok.toml").runs) == 8 * (1 + 2)  # Saltelli: n (D + 2) rows


@pytest.mark.slow
def test_a_sobol_study_runs_end_to_end_and_reports(tmp_path, monkeypatch, capsys):
    """A shrunken Saltelli study through `wattyear sensitivity`: indices for every lab and outcome, the
    censoring stated, and the report."""
    (tmp_path / "s.toml").write_text(
        '[study]\nname = "sobol_small"\nmonths = 60\nseed = 2\n[sample]\nmethod = "saltelli"\nn = 8\n'
        f'[sample.ranges]\n"{QUALITY}" = "bounds"\n"world.energy_usd_per_mwh" = "bounds"\n'
        '[outputs]\nkeep = "every"\nevery_months = 12\nkinds = ["lab"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["sensitivity", "s.toml", "--workers", "2", "--no-progress"]) == 0
    folder = tmp_path / "out" / "sobol_small"
    table = pd.read_csv(folder / "sensitivity.csv")
    assert set(table["lab"]) == set(LABS) and set(table["parameter"]) == {QUALITY, "world.energy_usd_per_mwh"}
    assert set(table["outcome"]) == {"self-funding month", "revenue per watt-year in 2030-12"}
    assert table[["S1", "ST"]].notna().all().all()
    assert "censored" in (folder / "sensitivity.md").read_text()
    assert main(["report", str(folder)]) == 0
    assert "## Sensitivity" in (folder / "report.md").read_text()
    (tmp_path / "lhs.toml").write_text((tmp_path / "s.toml").read_text().replace('"saltelli"', '"lhs"')
                                       .replace("sobol_small", "lhs_small"))
    assert main(["sensitivity", "lhs.toml"]) == 2
    assert "sample.method: expected saltelli or morris" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_colossus_lease_lowers_anthropics_rate_limited_share(seed):
    """The Colossus 1 lease as filed (300 MW from 2026-05 to 2029-04) against the baseline, where the capacity
    market finds Anthropic spot watts of its own: while the lease runs, Anthropic is rate-limited on a smaller
    share of what it is asked (measured over seeds 1–5: 0.9–3.4% against 2.0–6.4%, months 4–39; the test runs
    seeds 1–3). After it ends the
    two can go either way (Anthropic planned around watts it no longer has: seed 1's 2029 is worse)."""
    base = wattyear.run(months=40, seed=seed)
    lease = wattyear.run("colossus_lease", months=40, seed=seed)
    share = lambda r: r.metrics.loc[(r.metrics["agent"] == "anthropic") & (r.metrics["step"] >= 4),  # noqa: E731
                                    "rate_limited_share"].mean()
    assert share(lease) < share(base)


def test_reports_of_a_run_and_a_comparison(tmp_path):
    run_folder = wattyear.run(months=6, overrides={QUALITY: 0.9}).save(tmp_path / "r", plots=False)
    md, html = report(run_folder)
    text = md.read_text()
    assert text.startswith("# Run report: baseline (open_weights.quality_fraction=0.9, run.months=6)")
    assert f"| wattyear version | {wattyear.__version__} |" in text and "`open_weights.quality_fraction = 0.9`" in text
    assert (run_folder / "per_watt_metrics.png").is_file()  # drawn from the tables of a run saved without plots
    assert html.read_text().count("data:image/png;base64,") == 3
    cmp = tmp_path / "cmp"
    wattyear.compare(run_folder, "baseline+run.months=6", out=cmp, plots=False)
    md, _ = report(cmp)
    assert "## What was compared" in md.read_text() and "revenue per token" in md.read_text()
    assert main(["report", str(tmp_path)]) == 2


def small(tmp_path, name, body, *, months=24):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[study]\nname = "{name}"\nmonths = {months}\nseed = 4\n' + body)
    return path


def test_sampled_designs_small_studies_and_switches_analyse_and_report(tmp_path, monkeypatch):
    """No grid over quality × cadence (a sampled design): no heatmap or response curves, binned quality
    lines; two runs: too few for effect sizes, said so; a switch as a parameter: its effect is on vs off;
    every dated label counts from the run's start even when only every 12th month is kept."""
    monkeypatch.chdir(tmp_path)
    lhs = small(tmp_path, "lhs", f'[sample]\nn = 12\n[sample.ranges]\n"{QUALITY}" = [0.5, 0.95]\n'
                                 '"open_weights.release_every_months" = [3, 18]\n'
                                 '[outputs]\nkeep = "every"\nevery_months = 12\nkinds = ["lab"]\n', months=48)
    assert main(["sweep", str(lhs), "--workers", "2", "--no-progress", "--report"]) == 0
    folder = tmp_path / "out" / "lhs"
    assert not (folder / "llama_heatmap.png").exists() and not (folder / "llama_response.png").exists()
    assert (folder / "llama_prices_by_quality.png").exists()
    # the horizon starts at the run's start: each lab's crossing dates are labelled with the month they
    # happened, counted from 2026-01, not from the first kept month (2026-12)
    text = (folder / "analysis.md").read_text()
    table = crossings_table(load(folder))
    assert table["crossing_step"].notna().any()
    for lab, steps in table.groupby("agent")["crossing_step"]:
        quarter = survival.median_crossing(survival.survival_table(steps, 47), share=0.25)
        when = "not by 2029-12" if quarter is None else \
            (pd.Timestamp("2026-01-01") + pd.DateOffset(months=int(quarter))).strftime("%Y-%m")
        assert f"| {when} |" in text.split(f"| {lab} |")[1].split("\n")[0], (lab, when)
    two = small(tmp_path, "two", f'[grid]\n"{QUALITY}" = [0.6, 0.9]\n')
    assert main(["sweep", str(two), "--workers", "1", "--no-progress", "--report"]) == 0
    assert "Too few runs (2) to estimate the effects" in (tmp_path / "out" / "two" / "report.md").read_text()
    switch = small(tmp_path, "switch", f'replicates = 2\n[grid]\n"world.replace_retiring" = [false, true]\n'
                                       f'"{QUALITY}" = [0.6, 0.9]\n', months=12)
    assert main(["sweep", str(switch), "--workers", "1", "--no-progress", "--report"]) == 0
    findings = pd.read_csv(tmp_path / "out" / "switch" / "findings.csv")
    assert "on (vs off)" in set(findings["step"])


def test_fully_censored_outcomes_get_no_effect_that_would_read_as_a_precise_null(llama):
    findings = pd.read_csv(llama.folder / "findings.csv") if (llama.folder / "findings.csv").exists() else None
    if findings is None:
        analyze(llama.folder)
        findings = pd.read_csv(llama.folder / "findings.csv")
    openai = findings[findings["lab"] == "openai"]  # never crosses in 48 months
    assert not openai["outcome"].str.contains("self-funding").any()
    assert "openai crosses in every run or in none" in (llama.folder / "analysis.md").read_text()


def test_a_lab_crossing_in_every_run_gets_an_effect_on_its_months_and_none_on_its_chance():
    """Twelve runs over two qualities: ``early`` crosses in every run (later at the higher quality), ``never`` in
    none. Only ``early``'s months to self-funding get an effect (60 months per unit of quality, its months
    rising from 12 to 18 over the grid's 0.5 → 0.6, times the step the table reports in); neither lab's chance
    of self-funding does, and the report says why."""
    q = np.repeat([0.5, 0.6], 6)
    crossings = pd.DataFrame({"agent": ["early"] * 12 + ["never"] * 12, QUALITY: np.tile(q, 2),
                              "crossing_step": np.concatenate([np.where(q > 0.55, 18.0, 12.0), np.full(12, np.nan)])})
    data = SimpleNamespace(params=[QUALITY], horizon=48, labs=["early", "never"],
                           runs=pd.DataFrame({"run_id": range(12)}))
    table = findings(crossings, data)
    assert set(table["lab"]) == {"early"} and set(table["outcome"]) == {RESTRICTED}
    assert table["effect"].iloc[0] == pytest.approx(6.0 * float(effect_step(QUALITY, crossings[QUALITY])[0]) / 0.1)
    text = "\n".join(findings_lines(table, data))
    assert "early crosses in every run or in none, so no effect on its chance of self-funding can be estimated." in text
    assert "never crosses in every run or in none" in text and "(nor on its months to self-funding)" in text


def test_kept_tables_of_runs_without_metrics_and_empty_tables_are_left_out(tmp_path):
    study = {"study": {"name": "t", "months": 3, "seed": 1}, "grid": {QUALITY: [0.6, 0.9]},
             "outputs": {"kinds": ["lab"], "tables": ["metrics", "funding", "leases"]}}
    done = wattyear.sweep(study, tmp_path / "t", workers=1)
    (tmp_path / "t" / "runs" / "p00001-r000.parquet").unlink()  # as if killed between its tables and metrics
    assert set(done.leases["run_id"]) == {"p00000-r000"}
    assert isinstance(done.funding, pd.DataFrame)  # nobody raised in 3 months: no files, an empty table


def test_a_design_file_is_part_of_the_study(tmp_path):
    pd.DataFrame({QUALITY: [0.6, 0.9]}).to_csv(tmp_path / "d.csv", index=False)
    path = small(tmp_path, "f", '[sample]\nmethod = "file"\npath = "d.csv"\n', months=2)
    wattyear.sweep(path, tmp_path / "f", workers=1)
    assert (tmp_path / "f" / "design.csv").read_text() == (tmp_path / "d.csv").read_text()
    pd.DataFrame({QUALITY: [0.6, 0.95]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConfigError, match="a different study"):
        wattyear.sweep(path, tmp_path / "f", workers=1)


@pytest.mark.parametrize("sample, message", [
    ('method = "file"\npath = "d.csv"\nn = 9', "sample.n: expected a key of a file sample: method, path"),
    ('method = "saltelli"\nn = 8\nlevels = 5\n[sample.ranges]\n"world.pue" = "bounds"',
     "sample.levels: expected a key of a saltelli sample"),
    ('method = "lhs"\nn = 4\npath = "d.csv"\n[sample.ranges]\n"world.pue" = "bounds"',
     "sample.path: expected a key of a lhs sample"),
    ('method = "saltelli"\nn = 1\n[sample.ranges]\n"world.pue" = "bounds"', "sample.n: expected a power of 2 ≥ 4"),
])
def test_sample_keys_belong_to_their_method(tmp_path, sample, message):
    pd.DataFrame({QUALITY: [0.6]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConfigError, match=message):
        load_study(small(tmp_path, "k", f"[sample]\n{sample}\n"))


def test_malformed_output_lists_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="outputs.tables: expected a list from metrics"):
        load_study(small(tmp_path, "n", '[outputs]\ntables = [["market"]]\n'))
    with pytest.raises(ConfigError, match="outputs.kinds: expected a list from"):
        load_study(small(tmp_path, "k", '[outputs]\nkinds = [["lab"]]\n'))


def test_a_sensitivity_study_that_cannot_be_analysed_is_refused_before_running(tmp_path, capsys):
    path = small(tmp_path, "s", '[sample]\nmethod = "saltelli"\nn = 4\n[sample.ranges]\n"world.pue" = "bounds"\n'
                               '[outputs]\nkinds = ["fringe"]\n')
    assert main(["sensitivity", str(path), "--out", str(tmp_path / "o")]) == 2
    assert 'outputs.kinds: expected a list with "lab"' in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
