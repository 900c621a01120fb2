"""An exact event trace of a tiny world, month by month, as one expected list (SimPy's way of
testing a process: the whole sequence of what happened and when, not a few end values).

The world (``trace_world``): lab ``solo`` (1,000 W, $100k cash, demand worth 2,000 W at $2/Mtok, 600 W a
year of power, a 3-month build lead, a training run 99% done) and lab ``weak`` (100 W, no cash, $60k a year of
overhead, one round allowed), a landlord ``cloud`` (500 W) that lets 200 W to ``solo`` for months 1–2 and
300 W to ``weak`` for months 1–6, and an open-weights release due in month 2 with a one-month lag.

What happens, in order (amounts in $ and W, rounded to 4 decimals: the golden fingerprint has the bits):

* month 0: ``weak`` starts with no cash and burns, so it raises two months of burn plus the shortfall
  from investors (valuation is no bound here); ``solo``'s run finishes (quality 1 + 0.1·ln 4 from month 1);
  ``solo`` orders the 32 W its forecast lacks, paid over its 3-month lead: 32 × $12 / 3 = $128 a month;
* month 1: both leases start (solo +200 W, weak +300 W; cloud lets out 500 W);
* month 2: the release copies q = 0.5 of month 1's frontier: 0.5 × (1 + 0.1·ln 4) = 0.569315;
* month 3: the build enters service (+32 W); solo's 2-month lease has ended (−200 W); ``weak``'s cash
  is gone with no round allowed (100 months between rounds): it fails, its unpaid bills written off;
* month 4: the failed lab's lease ends and its own watts are written off;
* month 6: solo's next plan orders 568 W (paid from month 7); month 7: its next run finishes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import wattyear
from tests.test_leases_and_funding import landlord
from tests.worlds import resolved, tiny_world
from wattyear.sim.units import SECONDS_PER_YEAR

MONTH_SECONDS = SECONDS_PER_YEAR / 12


def trace_world() -> dict:
    raw = tiny_world(**{
        "run.months": 8,
        "segments.api.tokens_per_customer_per_month": 2000 * MONTH_SECONDS / 100,
        "labs.solo.power_secured_w_per_year": 600.0, "labs.solo.build_lead_months": 3,
        "labs.solo.cash_usd": 100000.0, "labs.solo.cash_buffer_months": 1000,
        "labs.solo.max_training_share": 0.5, "labs.solo.last_run_compute_watt_years": 1.0,
        "labs.solo.quality_per_ln_compute": 0.1, "labs.solo.run_progress": 0.99,
        "open_weights.next_release_month": 2, "open_weights.lag_months": 1,
    })
    raw["labs"]["weak"] = dict(raw["labs"]["solo"], name="Weak", watts=100.0, cash_usd=0.0,
                               revenue_multiple=1e12, raise_months=2, months_between_rounds=100,
                               power_secured_w_per_year=0.0, overhead_usd_per_year=60000.0,
                               max_training_share=0.0, run_progress=0.0, cash_buffer_months=12)
    raw["hyperscalers"] = {"cloud": landlord("Cloud", 500.0, 12.0)}
    raw["leases"] = [{"lessor": "cloud", "lessee": "weak", "watts": 300.0, "start": "2026-02", "months": 6,
                      "price_usd_per_w_year": 12.0},
                     {"lessor": "cloud", "lessee": "solo", "watts": 200.0, "start": "2026-02", "months": 2,
                      "price_usd_per_w_year": 12.0}]
    return raw


def events(metrics: pd.DataFrame, funding: pd.DataFrame) -> list[tuple]:
    """The run's events, month by month, from its tables: (month, what, agent, amount).

    capex paid; watts entering service (or written off); watts leased in or out (a lease starting or
    ending); quality changing (a lab's run finishing, or a release for the fringe); a round raised
    (by source); a lab failing (with the bills written off)."""
    out = []
    wide = metrics.set_index(["step", "agent"]).sort_index()
    agents = list(dict.fromkeys(metrics["agent"]))
    before = None
    for step in sorted(metrics["step"].unique()):
        now = wide.loc[step]
        for agent in agents:
            row = now.loc[agent]
            if row["capex_usd"] > 0:
                out.append((step, "capex", agent, round(row["capex_usd"], 4)))
            if before is not None:
                last = before.loc[agent]
                for column, what in (("owned_watts", "in service"), ("leased_in_watts", "leased in"),
                                     ("leased_out_watts", "leased out"), ("quality", "quality")):
                    if row[column] != last[column] and not pd.isna(row[column]):  # (NaN: no models, or failed)
                        amount = row[column] if column == "quality" else row[column] - last[column]
                        out.append((step, what, agent, round(amount, 4)))
            if row["failed"] and (before is None or not before.loc[agent]["failed"]):
                out.append((step, "fails", agent, round(row["written_off_usd"], 4)))
        for r in funding[funding["step"] == step].itertuples():
            out.append((step, f"raise ({r.source})", r.lab, round(r.amount_usd, 4)))
        before = now
    return out


def test_the_tiny_world_happens_in_this_order():
    result = wattyear.run(resolved(trace_world()), name="trace")
    assert events(result.metrics, result.funding) == [
        (0, "raise (investors)", "weak", 13456.535),
        (1, "capex", "solo", 128.0),
        (1, "leased in", "solo", 200.0),
        (1, "quality", "solo", 1.1386),
        (1, "leased in", "weak", 300.0),
        (1, "leased out", "cloud", 500.0),
        (2, "capex", "solo", 128.0),
        (2, "quality", "open_weights_fringe", 0.5693),
        (3, "capex", "solo", 128.0),
        (3, "in service", "solo", 32.0),
        (3, "leased in", "solo", -200.0),
        (3, "fails", "weak", 717.6167),
        (3, "leased out", "cloud", -200.0),
        (4, "in service", "weak", -100.0),
        (4, "leased in", "weak", -300.0),
        (4, "leased out", "cloud", -300.0),
        (7, "capex", "solo", 2272.0),
        (7, "quality", "solo", 1.2773),
    ]


def test_the_trace_world_numbers_on_paper():
    """The trace's amounts that follow from the docstring's arithmetic alone."""
    result = wattyear.run(resolved(trace_world()), name="trace")
    m = result.metrics.set_index(["step", "agent"])
    assert m.loc[(1, "solo"), "quality"] == 1.0 + 0.1 * np.log(4.0)
    assert m.loc[(2, "open_weights_fringe"), "quality"] == 0.5 * (1.0 + 0.1 * np.log(4.0))
    assert m.loc[(3, "solo"), "owned_watts"] - m.loc[(2, "solo"), "owned_watts"] == 3 * 128.0 / 12.0
