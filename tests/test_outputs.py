"""The output-column table (sim.outputs) matches what a run writes and what the README says."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattyear.experiments.results import METRIC_COLUMNS, funding_frame, leases_frame, market_frame, metrics_frame
from wattyear.sim import outputs
from wattyear.sim.records import as_dict
from wattyear.sim.config import load_config, resolve
from wattyear.sim.model import WattyearModel

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def model():
    return WattyearModel(resolve(load_config(), overrides={"run.months": 2})).run()


def test_readme_column_tables_are_generated_from_sim_outputs():
    text = README.read_text()
    assert outputs.BEGIN in text and outputs.END in text, "README.md lacks the outputs markers"
    assert outputs.marked(text) == outputs.markdown_list(), \
        "README.md's column tables are stale: run `python -m wattyear.sim.outputs README.md`"


def test_every_column_has_a_unit_and_a_meaning_once():
    for file, (_, columns) in outputs.FILES.items():
        names = outputs.names(columns)
        assert len(set(names)) == len(names), f"{file}: a column listed twice"
        for c in columns:
            assert c.unit and c.meaning and "|" not in c.meaning + c.unit, f"{file}: {c.name}"
    assert METRIC_COLUMNS == outputs.METRIC_NAMES


def test_metrics_parquet_columns_are_the_table(model):
    produced = set(as_dict(model.history[0].books)) | set(outputs.DERIVED_METRICS)
    missing = [c for c in outputs.METRIC_NAMES if c not in produced]
    assert not missing, f"sim.outputs.METRICS lists metrics the model no longer produces: {missing}"
    unlisted = sorted(produced - set(outputs.METRIC_NAMES) - set(outputs.INTERNAL_METRICS))
    assert not unlisted, (f"the model produces metrics neither written (sim.outputs.METRICS) nor marked "
                          f"internal (sim.outputs.INTERNAL_METRICS): {unlisted}")
    stale = sorted(set(outputs.INTERNAL_METRICS) - produced)
    assert not stale, f"sim.outputs.INTERNAL_METRICS lists keys the model no longer produces: {stale}"
    frame = metrics_frame(model)
    assert tuple(frame.columns) == outputs.names(outputs.METRICS)
    assert len(frame) == 2 * len(model.world.agent_ids)


def test_market_parquet_columns_are_the_table(model):
    record = as_dict(model.history[0].market)
    s, k, p = record["price_usd_per_mtok"].shape
    names = outputs.names(outputs.MARKET)
    per_provider = [key for key, arr in record.items() if np.shape(arr) == (s, k, p)]
    assert per_provider and not [key for key in per_provider if key not in names], \
        "every (scenario, segment, provider) array of the market record is a column of market.parquet"
    frame = market_frame(model)
    assert tuple(frame.columns) == names
    assert len(frame) == 2 * k * (p + 1)


def test_leases_and_funding_parquet_columns_are_the_table(model):
    assert tuple(leases_frame(model).columns) == outputs.names(outputs.LEASES)
    assert tuple(funding_frame(model).columns) == outputs.names(outputs.FUNDING)


def test_a_name_has_one_unit_in_every_file():
    """A column name that appears in several files (step, date, watts, ...) has the same unit there."""
    seen: dict[str, tuple[str, str]] = {}
    for file, (_, columns) in outputs.FILES.items():
        for c in columns:
            if c.name in seen:
                assert seen[c.name][0] == c.unit, f"{c.name}: {seen[c.name][0]} in {seen[c.name][1]}, {c.unit} in {file}"
            seen.setdefault(c.name, (c.unit, file))


def test_every_parquet_column_carries_its_unit(tmp_path, capsys):
    """The four Parquet files of a run folder carry each column's unit and meaning as field metadata, and a
    study's run files carry them for every output column (its run id and swept parameters have none).
    Both results show themselves in a notebook; a complete study resumed says there is nothing to run
    instead of drawing an empty bar."""
    import pyarrow.parquet as pq

    import wattyear

    result = wattyear.run(months=3)
    folder = result.save(tmp_path / "run", plots=False)
    for file, (_, columns) in outputs.FILES.items():
        schema = pq.read_schema(folder / file)
        assert schema.names == list(outputs.names(columns)), file
        for c in columns:
            meta = schema.field(c.name).metadata
            assert meta[b"unit"].decode() == c.unit and meta[b"meaning"].decode() == c.meaning, (file, c.name)
    back = wattyear.load_results(folder)
    assert back.metrics.equals(result.metrics)  # pandas reads the files as before
    study = wattyear.sweep({"study": {"name": "u", "base": "baseline", "months": 3, "replicates": 1},
                            "grid": {"open_weights.quality_fraction": [0.6]}}, tmp_path / "study", workers=1,
                           progress=False)
    run_file = next((tmp_path / "study" / "runs").glob("*.parquet"))
    schema = pq.read_schema(run_file)
    assert schema.field("revenue_usd_per_mtok").metadata[b"unit"] == b"$/Mtok"
    assert len(study.metrics) > 0
    shown = result._repr_html_()
    assert "wattyear run" in shown and "RPT $/Mtok" in shown and "seed 42" in shown
    assert "1 runs, 1 finished, 0 failed" in study._repr_html_()
    assert "open_weights.quality_fraction" in study._repr_html_()
    capsys.readouterr()
    wattyear.sweep({"study": {"name": "u", "base": "baseline", "months": 3, "replicates": 1},
                    "grid": {"open_weights.quality_fraction": [0.6]}}, tmp_path / "study", workers=1, progress=True)
    assert "nothing to run" in capsys.readouterr().err


def test_a_name_keeps_its_unit_in_every_table_and_api_frame(tmp_path):
    """The same column name means the same numbers in the run's metrics, the summary table, a comparison
    (its frame, its wide view and comparison.csv), an ensemble's and a study's frames, and the dashboard's
    series: no table rescales a column it keeps the name of (revenue_usd_per_mtok was $/token in
    metrics.parquet and $/Mtok in comparison.csv)."""
    import wattyear
    from wattyear.experiments.analysis.compare import COMPARED
    from wattyear.experiments.cli import main

    base = wattyear.run(months=6)
    other = wattyear.run(months=6, overrides={"open_weights.quality_fraction": 0.9})
    labs = base.metrics.query("kind == 'lab'")
    last = labs[labs["step"] == labs["step"].max()].set_index("agent")
    comparison = wattyear.compare(base, other)
    for metric, *_ in COMPARED:
        assert set(comparison.table.loc[comparison.table["metric"] == metric, "unit"]) == \
            {outputs.ALL_COLUMNS[metric].unit}, metric
        wide = comparison.wide(metric)[comparison.labels[0]]
        np.testing.assert_array_equal(wide.to_numpy(float), last.loc[wide.index, metric].to_numpy(float), metric)
    summary = base.summary().set_index("agent")
    for column in ("mtok_per_watt_year", "revenue_usd_per_mtok", "revenue_usd_per_watt_year",
                   "cost_usd_per_watt_year", "operating_margin"):
        np.testing.assert_array_equal(summary[f"{column}_end"].to_numpy(float),
                                      last.loc[summary.index, column].to_numpy(float), column)
    base.save(tmp_path / "a", plots=False), other.save(tmp_path / "b", plots=False)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"),
                 "--no-plots"]) == 0
    csv = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    rpt = csv[(csv["metric"] == "revenue_usd_per_mtok") & (csv["run"] == comparison.labels[0])].set_index("lab")
    np.testing.assert_allclose(rpt["value"], last.loc[rpt.index, "revenue_usd_per_mtok"], rtol=1e-12)
    ensemble = wattyear.run_ensemble(overrides=[{"run.months": 6}, {"run.months": 6, "run.seed": 1}])
    pd.testing.assert_frame_equal(ensemble.run(0).metrics.reset_index(drop=True), base.metrics.reset_index(drop=True))
    stacked = ensemble.metrics[ensemble.metrics["scenario"] == 0].drop(columns=["scenario", "name", "seed"])
    pd.testing.assert_frame_equal(stacked.reset_index(drop=True), base.metrics.reset_index(drop=True))


def test_a_folder_written_before_the_units_were_in_the_names_reads_with_todays(tmp_path):
    """A run folder from before 0.2.0 (tokens_per_watt_year in tokens/W-yr, revenue_per_token in $/token)
    loads with today's names and units, the same numbers as the run saved today."""
    import wattyear

    result = wattyear.run(months=3)
    folder = result.save(tmp_path / "run", plots=False)
    old = pd.read_parquet(folder / "metrics.parquet")
    old = old.rename(columns={new: name for name, (new, _) in outputs.RENAMED.items()})
    old["tokens_per_watt_year"] *= 1e6
    old["revenue_per_token"] /= 1e6
    old.to_parquet(folder / "metrics.parquet")
    back = wattyear.load_results(folder).metrics
    assert list(back.columns) == list(result.metrics.columns)
    pd.testing.assert_frame_equal(back, result.metrics, rtol=1e-14)
