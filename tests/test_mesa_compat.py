"""The model works under Mesa's own tools: batch_run with dotted keyword parameters."""

import mesa
import pandas as pd

from wattyear.sim.model import WattyearModel


def test_batch_run_varies_dotted_parameters_and_collects():
    results = mesa.batch_run(WattyearModel, parameters={"labs.anthropic.watts": [0.0, 2e9], "run.months": 4},
                             number_processes=1, data_collection_period=-1, max_steps=100,
                             display_progress=False, rng=[1, 2])
    frame = pd.DataFrame(results)
    assert len(frame[["labs.anthropic.watts", "rng"]].drop_duplicates()) == 4
    assert (frame["Step"] == 4).all()
    assert set(frame["agent"]) == {"openai", "anthropic", "xai", "gemini"}
    assert "industry_revenue_usd" in frame.columns and frame["industry_revenue_usd"].gt(0).all()
    by_watts = frame.groupby("labs.anthropic.watts")["industry_revenue_usd"].mean()
    assert by_watts[2e9] != by_watts[0.0]


def test_datacollector_records_labs_each_month():
    model = WattyearModel(**{"run.months": 3}).run()
    labs = model.datacollector.get_agenttype_vars_dataframe(model.labs[0].__class__)
    assert len(labs) == 3 * len(model.labs)
    assert {"revenue_per_watt_year", "utilization", "cash_usd"} <= set(labs.columns)
