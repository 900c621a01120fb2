"""The output-column table (sim.outputs) matches what a run writes and what the README says."""

from pathlib import Path

import numpy as np
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
    produced = set(as_dict(model.history[0].books))
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
