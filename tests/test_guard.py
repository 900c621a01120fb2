"""The run-time guard (``sim.guard``): each check fires on the break it is for, naming the agent and the
quantity, and passes the real month it was given; a ``ModelError`` crosses process boundaries whole; in a
sweep, the run that breaks an ensemble fails alone and the others run on, as they would alone."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from wattyear.sim import guard
from wattyear.sim.config import load_config
from wattyear.sim.guard import ModelError
from wattyear.sim.model import WattyearModel
from wattyear.sim.records import Books, as_dict


@pytest.fixture(scope="module")
def month():
    """(world, (step, books, market, tokens, cash before)) of month 6 of the baseline."""
    seen = {}
    original = guard.check_month

    def spy(world, step, books, market, tokens, previous):
        if step == 6:
            seen.update(world=world, args=(step, books, market, tokens, previous))
        original(world, step, books, market, tokens, previous)

    guard.check_month = spy
    try:
        WattyearModel(load_config(None, overrides={"run.months": 8})).run()
    finally:
        guard.check_month = original
    return seen["world"], seen["args"]


def _check(month, change=None):
    """The guard on a copy of the month, its books changed by ``change`` first."""
    world, (step, books, market, tokens, previous) = month
    metrics = {k: v.copy() for k, v in as_dict(books).items()}
    if change is not None:
        change(metrics)
    guard.check_month(world, step, Books(**metrics), market, tokens, previous)


def test_the_real_month_passes(month):
    _check(month)


@pytest.mark.parametrize("key, agent, amount, quantity", [
    ("cash_usd", "xai", 1e6, "cash_usd"),                  # a million dollars from nowhere
    ("token_revenue_usd", "anthropic", 1e7, "token_revenue_usd"),  # revenue no segment spent
    ("leased_in_watts", "openai", 1e6, "watts"),           # a megawatt leased from no one
    ("owned_watts", "microsoft", 1e6, "watts"),            # a megawatt owned and not operated
    ("rent_paid_usd", "openai", 1e4, "rent_paid_usd"),     # rent no one received
    ("tokens_served", "gemini", np.nan, "tokens_served"),  # not a number
])
def test_each_break_is_caught_with_agent_and_quantity(month, key, agent, amount, quantity):
    column = month[0].agent_ids.index(agent)

    def change(metrics):
        metrics[key][0, column] += amount

    with pytest.raises(ModelError) as err:
        _check(month, change)
    assert err.value.quantity == quantity and err.value.step == 6 and "2026-07" in str(err.value)
    if quantity in ("cash_usd", "tokens_served"):
        assert err.value.agent == agent


def test_served_above_capacity_is_caught(month):
    world, (step, books, market, tokens, previous) = month
    over = replace(tokens, capacity=tokens.capacity * 1e-3)  # (most providers serve well below capacity)
    with pytest.raises(ModelError) as err:
        guard.check_month(world, step, books, market, over, previous)
    assert err.value.quantity == "tokens_served" and "serving capacity" in str(err.value)


def test_a_model_error_crosses_process_boundaries_whole():
    exc = ModelError(4, "2026-05", 3, "xai", "cash_usd", "is nan (not a finite number)")
    back = pickle.loads(pickle.dumps(exc))
    assert (back.step, back.date, back.scenario, back.agent, back.quantity) == (4, "2026-05", 3, "xai", "cash_usd")
    assert str(back) == str(exc)


def test_the_run_that_breaks_an_ensemble_fails_alone(tmp_path, monkeypatch):
    """One run of an ensemble trips the guard: it is failed with the guard's message, the others are stepped
    again as one ensemble, and their results equal a sweep where none broke."""
    import wattyear
    from tests.sweeps import assert_same_results

    study = {"study": {"name": "g", "base": "baseline", "months": 4, "replicates": 4, "seed": 7},
             "outputs": {"kinds": ["lab"]}}
    wattyear.sweep(study, tmp_path / "clean", workers=1, progress=False)
    clean = wattyear.load_results(tmp_path / "clean").manifest
    bad_seed = int(clean.seed.iloc[2])
    original = guard.check_month

    def breaks_one(world, step, metrics, market, tokens, previous):
        seeds = [int(seed) for seed in world.seeds]
        if step == 2 and bad_seed in seeds:
            raise ModelError(step, "2026-03", seeds.index(bad_seed), "xai", "cash_usd", "is nan")
        original(world, step, metrics, market, tokens, previous)

    monkeypatch.setattr(guard, "check_month", breaks_one)
    wattyear.sweep(study, tmp_path / "broken", workers=1, progress=False)
    manifest = wattyear.load_results(tmp_path / "broken").manifest.set_index("seed")
    assert manifest.loc[bad_seed, "status"] == "failed" and "xai: cash_usd is nan" in manifest.loc[bad_seed, "error"]
    assert (manifest.drop(bad_seed).status == "ok").all()
    assert manifest.loc[bad_seed, "ensemble"] > 1  # it broke an ensemble of several, whose others are ok
    for path in (tmp_path / "clean" / "runs").glob("*.parquet"):  # compare the runs both have
        if path.stem == clean.set_index("seed").loc[bad_seed, "run_id"]:
            path.unlink()
    assert_same_results(tmp_path / "clean", tmp_path / "broken")


def test_a_derived_column_that_is_not_finite_stops_the_run_before_anything_is_written():
    """The guard checks the arrays the model records; check_frame checks the columns derived from them
    (market shares, lease and funding rows) before a run's tables are kept, naming the month, the row and
    the column. Shares where a provider's customers use nothing are 0, not 0/0."""
    import numpy as np
    import pandas as pd

    from wattyear.sim.guard import ModelError, check_frame

    frame = pd.DataFrame({"step": [0, 1], "date": pd.to_datetime(["2026-01-01", "2026-02-01"]),
                          "segment": ["api", "api"], "provider": ["openai", "xai"], "share": [0.5, np.nan]})
    with pytest.raises(ModelError) as info:
        check_frame("market", frame, scenario=3)
    assert info.value.scenario == 3 and "market.share" in str(info.value) and "api/xai" in str(info.value)
    assert "2026-02" in str(info.value)
    check_frame("market", frame.fillna(0.0))  # finite: nothing to say
