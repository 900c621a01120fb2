"""Crossing months as survival data: Kaplan–Meier by hand, failure as a competing event, the crossing table a
study writes, and figures only for designs that support them."""

import numpy as np
import pandas as pd
import pytest

import wattyear
from wattyear.experiments.analysis import survival
from wattyear.experiments.analysis.study_data import QUALITY, crossings_table, load
from wattyear.experiments.analysis.outcomes import analyze


def test_kaplan_meier_by_hand_with_an_early_censoring():
    """Six runs: crossings in months 2, 2, 4 and 7; one run ends (is censored) at month 3, one at 10.
    month 2: 6 at risk, 2 cross: S = 4/6 = 2/3, Greenwood sum 2/(6·4) = 1/12;
    month 4: 3 at risk (the run censored at 3 has left), 1 crosses: S = 2/3 · 2/3 = 4/9, sum 1/12 + 1/(3·2) = 1/4;
    month 7: 2 at risk, 1 crosses: S = 4/9 · 1/2 = 2/9, sum 1/4 + 1/(2·1) = 3/4.
    Variance at month 7: (2/9)² · 3/4 = 1/27. Median: the first month with S ≤ 1/2, month 4."""
    table = survival.survival_table([2, 2, np.nan, 4, 7, np.nan], horizon=[10, 10, 3, 10, 10, 10])
    assert table["month"].tolist() == [2, 4, 7]
    assert table["at_risk"].tolist() == [6, 3, 2] and table["crossed"].tolist() == [2, 1, 1]
    assert table["share_crossed"].to_numpy() == pytest.approx([1 / 3, 5 / 9, 7 / 9])
    assert table["variance"].to_numpy() == pytest.approx([(2 / 3) ** 2 / 12, (4 / 9) ** 2 / 4, 1 / 27])
    assert survival.median_crossing(table) == 4
    # the log(-log) band at month 7: sigma = sqrt(3/4) / |ln(2/9)|, S^exp(±1.96 sigma), 1 - S as the share
    sigma = np.sqrt(0.75) / abs(np.log(2 / 9))
    z = 1.959963984540054
    assert table["low"].iloc[-1] == pytest.approx(1 - (2 / 9) ** np.exp(-z * sigma))
    assert table["high"].iloc[-1] == pytest.approx(1 - (2 / 9) ** np.exp(z * sigma))
    assert (table["low"] <= table["share_crossed"]).all() and (table["share_crossed"] <= table["high"]).all()


def test_with_one_horizon_the_curve_is_the_share_crossed_and_greenwood_the_binomial():
    """Every run of a study ends at the same month: the Kaplan–Meier share is the plain share of runs
    crossed, and Greenwood's variance p (1 - p) / n."""
    months = [5, 5, 9, 30, np.nan, np.nan, np.nan, 12]
    table = survival.survival_table(months, horizon=35)
    for _, row in table.iterrows():
        p = sum(1 for m in months if np.isfinite(m) and m <= row["month"]) / 8
        assert row["share_crossed"] == pytest.approx(p)
        assert row["variance"] == pytest.approx(p * (1 - p) / 8)


def test_not_reached_and_failure_as_a_competing_event():
    """Two of five runs cross; one lab failed in another run. The failed run counts as not crossing (it
    stays at risk to the horizon), so the share crossed is 2/5, not 2/4 as censoring at failure would
    give, and the median is not reached."""
    s = survival.summarise([3, 8, np.nan, np.nan, np.nan], 20, failed=[False, False, True, False, False])
    assert (s.crossed, s.failed, s.censored, s.share_crossed) == (2, 1, 3, pytest.approx(0.4))
    assert s.median is None and s.median_high is None
    # the interval's early end: at month 3, S = 4/5, Greenwood 1/(5·4), sigma = sqrt(1/20) / |ln 0.8| ≈ 1.002,
    # S^exp(1.96 sigma) ≈ 0.8^7.1 ≈ 0.21: the band's upper share 0.79 already passes one half
    assert s.median_low == 3
    everyone = survival.summarise([1, 1, 2, 2], 5)
    assert everyone.median == 1 and everyone.share_crossed == 1.0


def test_a_crossing_past_the_horizon_is_refused():
    with pytest.raises(ValueError, match="past its run's horizon"):
        survival.survival_table([12], horizon=11)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Quality on a grid (two levels, two replicates), 30 months: Gemini crosses within them."""
    folder = tmp_path_factory.mktemp("graded") / "out"
    study = {"study": {"name": "graded", "months": 30, "replicates": 2, "seed": 3},
             "grid": {QUALITY: [0.5, 0.95]}, "outputs": {"kinds": ["lab"]}}
    return wattyear.sweep(study, folder, workers=1)


def test_the_crossing_table_has_dates_censoring_and_failure(graded):
    table = crossings_table(load(graded.folder))
    assert len(table) == 4 * 4  # runs × labs
    assert {"crossing_date", "censored", "first_touch_step", "first_touch_date", "failed", "failed_step"} <= set(table)
    crossed = table[~table["censored"]]
    assert len(crossed) and crossed["crossing_step"].notna().all()
    dates = pd.Timestamp("2026-01-01") + crossed["crossing_step"].map(lambda m: pd.DateOffset(months=int(m)))
    assert (pd.to_datetime(crossed["crossing_date"]).to_numpy() == pd.DatetimeIndex(dates).to_numpy()).all()
    assert table.loc[table["censored"], "crossing_date"].isna().all()
    assert (crossed["first_touch_step"] <= crossed["crossing_step"]).all()
    # the API's crossings: the same table
    api = graded.crossings()
    assert api[["run_id", "agent", "crossing_step", "censored"]].equals(table[["run_id", "agent", "crossing_step",
                                                                               "censored"]])


def test_the_analysis_reports_kaplan_meier_medians(graded):
    analyze(graded.folder)
    text = (graded.folder / "analysis.md").read_text()
    table = crossings_table(load(graded.folder))
    for lab, g in table.groupby("agent"):
        s = survival.summarise(g["crossing_step"], 29)
        median = "not by 2028-06" if s.median is None else \
            (pd.Timestamp("2026-01-01") + pd.DateOffset(months=int(s.median))).strftime("%Y-%m")
        assert f"| {lab} | {s.crossed} of 4 ({s.share_crossed:.0%}) | 0 | " in text
        assert median in text.split(f"| {lab} |")[1].split("\n")[0]
    assert (graded.folder / "llama_response.png").is_file()
    assert not (graded.folder / "llama_heatmap.png").exists()  # cadence is not on the grid


def test_a_morris_design_gets_no_figures_by_quality(tmp_path):
    """A Morris design's quality takes four levels, but its points are placed for elementary effects: no
    quality lines, heatmap or response curves, and the analysis says why."""
    study = {"study": {"name": "m", "months": 6, "seed": 1},
             "sample": {"method": "morris", "n": 2, "levels": 4,
                        "ranges": {QUALITY: [0.5, 0.95], "open_weights.release_every_months": [3, 12]}},
             "outputs": {"kinds": ["lab"]}}
    done = wattyear.sweep(study, tmp_path / "m", workers=1)
    written = {p.name for p in analyze(done.folder)}
    assert not {n for n in written if n.startswith("llama_")}
    assert "No figures by open-weights quality: a morris design" in (done.folder / "analysis.md").read_text()
