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
    assert list(labs.columns) == ["agent", "watts", "revenue_usd_per_mtok", "revenue_usd_per_watt_year", "cost_usd_per_watt_year",
                                  "utilization", "rate_limited_share", "operating_profit_usd", "cash_usd", "quality",
                                  "self_funding_ratio", "outside_capital_usd"]
    last = model.last_books
    row = labs.xs(3, level="Step").iloc[1]  # the second lab in month 3: the month's books, scenario 0
    assert row["cash_usd"] == last.cash_usd[0, 1] and row["revenue_usd_per_mtok"] == last.revenue_usd_per_mtok[0, 1]
