"""Validation against observed outcomes, ABC-SMC on a tiny world, and posterior draws."""

import math

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.calibration.abc import abc_smc
from wattyear.experiments.cli import main
from wattyear.experiments.calibration.posterior import draws
from wattyear.experiments.calibration.outcomes import model_values
from wattyear.experiments.calibration.validate import validate
from wattyear.sim.config import ConfigError, with_overrides
from wattyear.sim.model import WattyearModel
from tests.worlds import tiny_world

HEADER = "key,metric,agent,start,end,value,source\n"


def outcomes(tmp_path, rows: str, name="o.csv"):
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


def test_validate_gives_the_hand_computed_ratios_and_coverage(tmp_path):
    """The tiny world sells 100 customers × 1,000 tokens a month at $2/M tokens: $0.20 a month, every
    month, in every scenario (no randomness); its operating profit is −$364.5167 a month."""
    path = outcomes(tmp_path, "a,revenue_usd,solo,2026-01,2026-03,0.6,hand\n"
                              "b,revenue_run_rate_usd,solo,2026-02,2026-02,4.8,hand\n"
                              "c,tokens_served,solo,2026-03,2026-03,50000,hand\n"
                              "d,customers,api,2026-01,2026-01,100,hand\n"
                              "e,operating_profit_usd,solo,2026-01,2026-02,-911.2916675,hand\n")
    result = validate(path, config=tiny_world(), scenarios=3)
    rows = result.rows.set_index("key")
    assert rows["median"].tolist() == pytest.approx([0.6, 2.4, 100000.0, 100.0, -729.033335])
    assert rows["ratio"].tolist() == pytest.approx([1.0, 2.0, 0.5, 1.0, 1.25])
    assert rows["in_90"].tolist() == [True, False, False, True, False]
    assert result.median_abs_log_ratio == pytest.approx(np.log(1.25))
    assert result.coverage == {"50%": 0.4, "90%": 0.4}
    assert "median absolute log ratio" in result.markdown("t")


@pytest.mark.parametrize("row, message", [
    ("a,revenue,solo,2026-01,2026-01,1,s\n", "line 2: metric: expected one of revenue_usd"),
    ("a,revenue_usd,solo,2026-13,2026-01,1,s\n", 'line 2: start: expected a month "YYYY-MM"'),
    ("a,revenue_usd,solo,2026-03,2026-01,1,s\n", "line 2: end: expected a month at or after start"),
    ("a,revenue_usd,solo,2026-01,2026-01,lots,s\n", "line 2: value: expected a finite number"),
    ("a,revenue_usd,openai,2026-01,2026-01,1,s\n", "line 2: agent: expected a agent of the model: solo"),
    ("a,customers,solo,2026-01,2026-01,1,s\n", "line 2: agent: expected a segment of the model: api"),
    ("a,revenue_usd,solo,2026-01,2027-01,1,s\n", "line 2: end: expected a month the runs cover, 2026-01 to 2026-03"),
])
def test_bad_outcome_tables_are_clear_errors(tmp_path, row, message):
    with pytest.raises(ConfigError, match=message):
        validate(outcomes(tmp_path, row), config=tiny_world(), scenarios=2)


def test_a_table_without_the_columns_names_them(tmp_path):
    (tmp_path / "x.csv").write_text("key,value\na,1\n")
    with pytest.raises(ConfigError, match=r"\(header\): expected the columns key, metric"):
        validate(tmp_path / "x.csv", config=tiny_world())


def test_abc_recovers_the_parameters_of_a_tiny_world_from_its_own_data():
    """Truth: 1,000 tokens per customer a month at $2 per M tokens, with 5% demand shocks. The
    summaries (revenue over three months, tokens served in the third) are simulated at the truth with
    one seed; ABC-SMC from uniform priors three to four times wider finds intervals that cover it."""
    base = tiny_world(**{"segments.api.demand_shock_sigma": 0.05})
    names = ["segments.api.tokens_per_customer_per_month", "labs.solo.price_usd_per_mtok.api"]

    cfg = wattyear.load_config(base)
    table = pd.DataFrame({"metric": ["revenue_usd", "tokens_served"], "agent": "solo", "start": ["2026-01", "2026-03"],
                          "end": "2026-03"})

    def summaries(thetas, seeds):  # the same summaries validate reads, from one batched model
        configs = [with_overrides(cfg, dict(zip(names, map(float, t)))) for t in thetas]
        return model_values(table, WattyearModel(configs, seeds=seeds).run()).T

    observed = summaries(np.array([[1000.0, 2.0]]), [123])[0]
    rng = np.random.default_rng(5)
    post = abc_smc(lambda t: summaries(t, rng.integers(0, 2**31, len(t)).tolist()), observed,
                   {names[0]: (300.0, 3000.0), names[1]: (0.5, 6.0)}, particles=300, generations=5, seed=1)
    q = post.quantiles()
    assert q.loc[names[0], 0.05] <= 1000.0 <= q.loc[names[0], 0.95], q
    assert q.loc[names[1], 0.05] <= 2.0 <= q.loc[names[1], 0.95], q
    assert q.loc[names[0], 0.95] - q.loc[names[0], 0.05] < 0.3 * (3000 - 300)  # the data narrowed it
    diag = post.diagnostics()
    assert diag["epsilon"].iloc[1:].is_monotonic_decreasing and (diag["distinct_particles"] > 30).all()


@pytest.mark.slow
def test_calibrate_posterior_then_validate_and_study_from_its_draws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = wattyear.run(months=3, seed=9).metrics
    run_rate = 12 * base.loc[(base["agent"] == "openai") & (base["step"] == 2), "revenue_usd"].item()
    targets = outcomes(tmp_path, f"t1,revenue_run_rate_usd,openai,2026-03,2026-03,{run_rate},model\n", "t.csv")
    assert main(["calibrate", "--posterior", "--targets", str(targets), "--particles", "40", "--generations", "2",
                 "--parameters", "world.energy_usd_per_mwh,segments.enterprise.price_elasticity",
                 "--out", "out/post"]) == 0
    folder = tmp_path / "out" / "post"
    sample = pd.read_parquet(folder / "posterior.parquet")
    assert len(sample) == 40 and sample["weight"].sum() == pytest.approx(1.0)
    assert {"posterior_vs_prior.png", "posterior_pairs.png", "diagnostics.csv", "calibration_posterior.md"} <= \
        {p.name for p in folder.iterdir()}
    config, overrides = draws(folder, 5, seed=1)
    assert len(overrides) == 5 and set(overrides[0]) == {"world.energy_usd_per_mwh",
                                                         "segments.enterprise.price_elasticity"}
    result = validate(targets, posterior=folder, scenarios=6)
    assert result.scenarios == 6 and result.rows["ratio"].iloc[0] == pytest.approx(1.0, rel=0.5)
    study = {"study": {"name": "pp", "months": 3, "seed": 2}, "sample": {"method": "posterior", "path": str(folder),
                                                                       "n": 4}}
    done = wattyear.sweep(study, tmp_path / "pp", workers=1)
    assert len(done.manifest) == 4 and "world.energy_usd_per_mwh" in done.manifest
    study["study"]["base"] = "colossus_lease"  # the draws belong to the config they were fitted on
    with pytest.raises(ConfigError, match="study.base: expected the config the posterior was fitted on"):
        wattyear.sweep(study, tmp_path / "other", workers=1)


def test_the_backtest_tables_are_disjoint_dated_and_runnable():
    """Out of sample means unseen: no figure is in both tables; the targets end by the 2025-08 cut-off,
    every holdout figure ends after it (annual totals start before it: docs/validation.md says so), and
    both are measurable in the backtest world."""
    from wattyear.experiments.calibration.outcomes import read_outcomes
    from wattyear.sim.config import CONFIG_DIR

    targets = read_outcomes(CONFIG_DIR / "backtest_targets.csv")
    holdout = read_outcomes(CONFIG_DIR / "backtest_holdout.csv")
    assert not set(targets["key"]) & set(holdout["key"]) and len(holdout) >= 8
    assert (targets["end"] <= "2025-08").all() and (holdout["end"] > "2025-08").all()
    config = wattyear.load_config("backtest_2025")
    assert config["run"]["start"] == "2025-01"
    result = validate(CONFIG_DIR / "backtest_holdout.csv", config="backtest_2025", scenarios=2)
    assert np.isfinite(result.rows["median"]).all()


def test_outcome_tables_from_spreadsheets_and_their_mistakes(tmp_path):
    """A byte-order mark and spaces in the header are fine; a repeated or empty key, an extra field and a
    folder are clear errors naming the line (counted as the file counts them)."""
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffkey, metric, agent, start, end, value, source\na,revenue_usd,solo,2026-01,2026-01,0.2,s\n"
                    .encode())
    assert validate(bom, config=tiny_world(), scenarios=1).rows["ratio"].item() == pytest.approx(1.0)
    bad = outcomes(tmp_path, "a,revenue_usd,solo,2026-01,2026-01,1,s\n\na,revenue_usd,solo,2026-01,2026-01,1,s\n"
                             ",revenue_usd,solo,2026-01,2026-01,1,s\nb,revenue_usd,solo,2026-01,2026-01,1,s,extra\n")
    with pytest.raises(ConfigError) as info:
        validate(bad, config=tiny_world())
    text = str(info.value)
    assert "line 4: key: expected a key not already used (line 2)" in text and "line 5: key: expected the figure's" \
        in text and "line 6: (fields): expected 7 fields" in text
    with pytest.raises(ConfigError, match="expected an outcomes table .* found .a folder."):
        validate(tmp_path, config=tiny_world())


def test_a_model_of_the_wrong_sign_counts_as_infinitely_far(tmp_path):
    path = outcomes(tmp_path, "a,revenue_usd,solo,2026-01,2026-01,0.2,s\n"
                              "b,operating_profit_usd,solo,2026-01,2026-01,364.516667,s\n"
                              "c,revenue_usd,solo,2026-02,2026-02,0.4,s\n")
    result = validate(path, config=tiny_world(), scenarios=1)
    assert result.wrong_sign == 1 and result.median_abs_log_ratio == pytest.approx(np.log(2))


def test_abc_compares_losses_with_losses_and_refuses_hopeless_targets():
    from wattyear.experiments.calibration.abc import log_distance

    assert log_distance(np.array([[-2.0]]), np.array([-1.0]))[0] == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="no prior draw comes near"):
        abc_smc(lambda t: -np.ones((len(t), 1)), np.array([1.0]), {"x": (0.0, 1.0)}, particles=10, generations=2)


def test_every_input_of_the_backtest_world_dated_after_its_cut_off_is_a_listed_leak():
    """Leak guard: each figure the backtest world cites that is dated after the 2025-08 cut-off is listed in
    configs/backtest_leaks.csv with a kind and a reason, and the list names nothing the config no longer
    cites late (a figure replaced by one of its date leaves the list)."""
    from wattyear.experiments.calibration.backtest import CUTOFF
    from wattyear.experiments.calibration.leaks import KINDS, late_citations, read_leaks
    from wattyear.sim.config import CONFIG_DIR

    late = {c.key: c for c in late_citations(CONFIG_DIR / "backtest_2025.toml", CUTOFF)}
    leaks = read_leaks()
    assert sorted(set(late) - set(leaks)) == [], "cited after the cut-off but not listed as a known leak"
    assert sorted(set(leaks) - set(late)) == [], "listed as a leak but not cited after the cut-off"
    assert all(leak["kind"] in KINDS and len(leak["reason"]) > 20 for leak in leaks.values())
    # a figure of the cut-off's quarter is not late: Google's Q2 2025 Search revenue
    assert "google_search_ad_revenue_q2_2025_usd" not in late
    # docs/validation.md prints the list as it stands
    from pathlib import Path

    from wattyear.experiments.calibration.leaks import leak_markdown

    doc = (Path(__file__).resolve().parent.parent / "docs" / "validation.md").read_text()
    assert leak_markdown(CONFIG_DIR / "backtest_2025.toml", CUTOFF) in doc


def test_default_priors_leave_out_what_the_world_does_not_have():
    """The backtest world (2025) has no parent for xAI, so a parent's funding share cannot be set there and the
    default parameter set it is fitted over leaves it out (it used to stop `make backtest` with a config error);
    the baseline, where SpaceX owns xAI, keeps it. Nor do its customers route tasks to open weights (its
    ``open_task_affinity`` is at −1000, the value that switches the channel off): a prior on it would switch
    the channel on in a world that predates it, so it is left out there and kept in the baseline."""
    import wattyear
    from wattyear.experiments.calibration.posterior import priors
    from wattyear.sim.config import CONFIG_DIR

    backtest = priors(config=wattyear.load_config(CONFIG_DIR / "backtest_2025.toml"))
    baseline = priors(config=wattyear.load_config())
    assert "labs.xai.parent_funding_share" in baseline and "labs.xai.parent_funding_share" not in backtest
    routing = {"segments.api.open_task_affinity", "segments.enterprise.open_task_affinity"}
    assert routing <= set(baseline) and not routing & set(backtest)
    assert set(backtest) == set(baseline) - {"labs.xai.parent_funding_share"} - routing


@pytest.mark.slow
def test_the_sampler_is_calibrated_on_a_tiny_world():
    """Simulation-based calibration: 60 truths of a tiny world's tokens per customer (300–3,000 a month, 10%
    demand shocks) drawn from the prior, each fitted by ABC-SMC to its own simulated revenue; the truth's rank
    among 19 posterior draws (20 possible ranks, four to each fifth) is flat across replicates (every fifth
    within the 99% binomial band of a flat histogram, and a chi-square p above 0.01), and the
    posterior is far narrower than the prior (a sampler returning its prior would also rank flat)."""
    from wattyear.experiments.calibration.sbc import sbc

    base = tiny_world(**{"segments.api.demand_shock_sigma": 0.1})
    name = "segments.api.tokens_per_customer_per_month"
    cfg = wattyear.load_config(base)
    table = pd.DataFrame({"metric": ["revenue_usd"], "agent": "solo", "start": ["2026-01"], "end": "2026-03"})

    def simulate(thetas, rng):
        configs = [with_overrides(cfg, {name: float(t[0])}) for t in thetas]
        return model_values(table, WattyearModel(configs, seeds=rng.integers(0, 2**31, len(configs)).tolist())
                            .run()).T

    cal = sbc(simulate, {name: (300.0, 3000.0)}, replicates=60, particles=150, generations=6, seed=3)
    low, high = cal.band()
    assert ((cal.histogram() >= low) & (cal.histogram() <= high)).all(), (cal.histogram(), low, high)
    assert cal.p_values()[0] > 0.01
    assert cal.contraction[0] < 0.25  # measured: 0.14


@pytest.mark.slow
def test_rolling_origins_fit_only_what_ended_and_widen_by_earlier_misses_only(tmp_path):
    """Two origins on the baseline world with a tiny budget: each fits only the figures whose period ended by
    its cut-off and forecasts the rest with their horizons; the first origin has no discrepancy term; the
    second's σ_d comes from the first origin's forecast of m3 alone, the one figure that had ended by its
    cut-off (never from m5, the figure it is judged against), and its intervals with the term are wider than
    without. Cut-offs are taken in time order whatever order they are given in."""
    from wattyear.experiments.calibration.rolling import discrepancy_sigma, rolling_origins
    from wattyear.sim.config import CONFIG_DIR

    base = wattyear.run(months=5, seed=4).metrics
    openai = base[base["agent"] == "openai"].set_index("step")["revenue_usd"] * 12
    pool = pd.DataFrame({"key": ["m1", "m3", "m5"], "metric": "revenue_run_rate_usd", "agent": "openai",
                         "start": ["2026-01", "2026-03", "2026-05"], "end": ["2026-01", "2026-03", "2026-05"],
                         "value": [openai[0], openai[2] * 1.3, openai[4] * 0.8], "source": "the model, moved"})
    table = rolling_origins(CONFIG_DIR / "baseline.toml", pool, ["2026-03", "2026-01"], tmp_path, particles=24,
                            generations=1, scenarios=8, seed=0, progress=lambda _: None)
    assert table.groupby("origin")["key"].apply(list).to_dict() == {"2026-01": ["m3", "m5"], "2026-03": ["m5"]}
    assert table["horizon"].tolist() == [2, 4, 2]
    for origin, fitted in (("2026-01", ["m1"]), ("2026-03", ["m1", "m3"])):
        assert pd.read_csv(tmp_path / f"origin_{origin}" / "targets.csv")["key"].tolist() == fitted
    first, second = table[table["origin"] == "2026-01"], table[table["origin"] == "2026-03"]
    assert first["sigma_d"].isna().all()
    m3 = first.loc[first["key"] == "m3", "log_ratio"]
    assert second["sigma_d"].iloc[0] == discrepancy_sigma(m3) == abs(m3.iloc[0]) > 0
    assert second["sigma_d"].iloc[0] != discrepancy_sigma(first["log_ratio"])
    assert (second["d_q95"] - second["d_q05"]).iloc[0] > (second["q95"] - second["q05"]).iloc[0]
    # σ_d rests on one residual: its band has t₁ (Cauchy) tails, wider than the normal band of the same σ_d
    assert second["distinct_figures"].tolist() == [1]
    assert (second["d_q95"] - second["d_q05"]).iloc[0] > (second["n_q95"] - second["n_q05"]).iloc[0]


def test_a_discrepancy_estimated_from_few_residuals_has_students_t_tails():
    """With σ = 0.5 and the values all 1, the 95th percentile of log(predictive) is σ·z₀.₉₅: 1.645σ with
    normal tails, 2.353σ with t₃ (σ read off three residuals), 6.314σ with t₁ — to sampling error of 400,000
    draws (about 0.01σ, 0.02σ and 0.2σ)."""
    from wattyear.experiments.calibration.validate import with_discrepancy

    one = np.ones((1, 1))
    for dof, z95, tol in ((math.inf, 1.645, 0.02), (3, 2.353, 0.04), (1, 6.314, 0.3)):
        draws = with_discrepancy(one, 0.5, np.random.default_rng(7), draws=400_000, dof=dof)
        assert np.quantile(np.log(draws), 0.95) / 0.5 == pytest.approx(z95, abs=tol)


def test_a_discrepancy_term_and_a_figures_own_uncertainty_widen_the_bands(tmp_path, capsys):
    """The tiny world has no randomness, so its bands are points: observed figures at 2×, 0.5× and 1.25× the
    model are outside the 90% interval. A model-discrepancy log-sd of 0.5 puts the 90% interval at about
    ×e^(±1.645·0.5) = ×2.3 either way: all three are inside; at 0.3 (×1.64) only the 1.25× one is. A figure's own
    `uncertainty` (log-sd, a table column) widens its row alone. The report says what the bands carry."""
    rows = ("b,revenue_run_rate_usd,solo,2026-02,2026-02,4.8,hand{}\n"
            "c,tokens_served,solo,2026-03,2026-03,50000,hand{}\n"
            "e,operating_profit_usd,solo,2026-01,2026-02,-911.2916675,hand{}\n")
    path = outcomes(tmp_path, rows.format("", "", ""))
    assert validate(path, config=tiny_world(), scenarios=3).rows["in_90"].tolist() == [False, False, False]
    wide = validate(path, config=tiny_world(), scenarios=3, discrepancy=0.5)
    assert wide.rows["in_90"].tolist() == [True, True, True]
    # the median moves only by sampling noise: 3 scenarios × 20 draws at a log-sd of 0.5 (about 8%)
    assert wide.rows["median"].tolist() == pytest.approx([2.4, 100000.0, -729.033335], rel=0.2)
    assert "a model-discrepancy term (log-sd 0.5)" in wide.markdown("t")
    assert validate(path, config=tiny_world(), scenarios=3, discrepancy=0.3).rows["in_90"].tolist() == \
        [False, False, True]
    # the same σ read off one residual: t₁'s 95th percentile is 6.3σ = 1.9, wide enough for 2× and 0.5× (ln 2 =
    # 0.69) even as a quantile of 60 draws
    few = validate(path, config=tiny_world(), scenarios=3, discrepancy=0.3, discrepancy_dof=1)
    assert few.rows["in_90"].tolist() == [True, True, True]
    assert "Student's t tails with 1 degree of freedom" in few.markdown("t")
    # a figure's own uncertainty is not read off misses: it keeps normal tails whatever the discrepancy's
    (tmp_path / "own.csv").write_text(HEADER.strip() + ",uncertainty\n" + rows.format(",0.3", ",0.3", ",0.3"))
    normal = validate(tmp_path / "own.csv", config=tiny_world(), scenarios=3)
    assert validate(tmp_path / "own.csv", config=tiny_world(), scenarios=3, discrepancy_dof=1).rows.equals(normal.rows)
    with pytest.raises(ConfigError, match="discrepancy_dof: expected the number of residuals"):
        validate(path, config=tiny_world(), scenarios=3, discrepancy=0.3, discrepancy_dof=0)
    assert main(["validate", str(path), "--discrepancy-dof", "3", "--out", str(tmp_path / "v")]) == 2
    assert "--discrepancy-dof: 3: expected a --discrepancy SIGMA" in capsys.readouterr().err
    (tmp_path / "u.csv").write_text(HEADER.strip() + ",uncertainty\n" + rows.format(",0.5", ",", ","))
    own = validate(tmp_path / "u.csv", config=tiny_world(), scenarios=3)
    assert own.rows["in_90"].tolist() == [True, False, False]
    assert "each figure's own uncertainty" in own.markdown("t")
    (tmp_path / "bad.csv").write_text(HEADER.strip() + ",uncertainty\n" + rows.format(",lots", ",", ","))
    with pytest.raises(ConfigError, match="line 2: uncertainty: expected the figure's own log-sd"):
        validate(tmp_path / "bad.csv", config=tiny_world(), scenarios=3)
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(path), "--discrepancy", "-1"])
    assert exit_.value.code == 2 and "expected a log-sd between 0 and 5" in capsys.readouterr().err
