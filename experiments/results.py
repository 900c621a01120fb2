"""Tidy tables of a finished run: metrics per month × agent, market per month × segment × provider."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattyear.sim import outputs

#: columns of metrics.parquet after the keys (step, date, agent, kind), in order: units and meanings in
#: ``sim.outputs``, the one list of output columns
METRIC_COLUMNS = outputs.METRIC_NAMES
#: columns of funding.parquet, in order (market.parquet and leases.parquet follow ``sim.outputs`` too: a test
#: checks every table's columns against it)
FUNDING_COLUMNS = outputs.names(outputs.FUNDING)
#: dates are kept in milliseconds, the unit Parquet stores: a table read back from its file is equal to it
DATE = "datetime64[ms]"


def _dates(model, n_steps: int) -> np.ndarray:
    """The first day of each month (kept on the model: every scenario's table uses them)."""
    cached = getattr(model, "_month_dates", None)
    if cached is None or len(cached) != n_steps:
        cached = np.array([np.datetime64(model.date(t), "D") for t in range(n_steps)], dtype=DATE)
        model._month_dates = cached
    return cached


def kept_records(model, steps=None) -> list:
    """The month records of ``steps`` (default: every record the model kept), in that order; a month the model
    did not keep (``WattyearModel.keep_months``) is a KeyError naming it."""
    if steps is None:
        return model.history
    if model.keep_months is None:
        return [model.history[t] for t in steps]
    by_step = {r.step: r for r in model.history}
    missing = [int(t) for t in steps if t not in by_step]
    if missing:
        raise KeyError(f"months {missing[:5]} were not kept (keep_months)")
    return [by_step[t] for t in steps]


def stacked_metrics(model, steps=None, columns=None) -> dict[str, np.ndarray]:
    """Every metric over the run, shape (months, S, A): stacked once, sliced per scenario. With
    ``steps`` (and ``columns``), only those months (and metrics), in that order."""
    history = kept_records(model, steps)
    stacked = {}
    for col in columns or METRIC_COLUMNS:
        if col in outputs.DERIVED_METRICS:  # a lab's status, from its failed flag
            failed = np.stack([r.books.failed for r in history])
            stacked[col] = np.where(failed, "failed", "active")
        else:
            stacked[col] = np.stack([getattr(r.books, col) for r in history])
    return stacked


def metrics_frame(model, scenario: int = 0, stacked: dict | None = None, *, steps=None, agents=None,
                  columns=None) -> pd.DataFrame:
    """One row per month × supply-side agent (labs, fringe, hyperscalers, publisher).

    ``steps``, ``agents`` (indices) and ``columns`` (metric names) keep only
    those rows and columns; the table is cut from the arrays, not built whole.
    """
    return pd.DataFrame(metrics_columns(model, scenario, stacked, steps=steps, agents=agents, columns=columns))


def metrics_columns(model, scenario: int = 0, stacked: dict | None = None, *, steps=None, agents=None,
                    columns=None) -> dict[str, np.ndarray]:
    """The columns of ``metrics_frame`` as arrays (what a sweep writes without building a DataFrame)."""
    n_steps = model.months_run
    steps = np.array([r.step for r in model.history]) if steps is None else np.asarray(steps)
    # rows of ``stacked``: stacked for ``steps`` only, or over every record the model kept (month t is row t
    # only if it kept every month: ``keep_months``)
    if stacked is None:
        stacked = stacked_metrics(model, steps, columns)
        rows = np.arange(len(steps))
    elif len(next(iter(stacked.values()))) == len(steps):
        rows = np.arange(len(steps))
    elif len(next(iter(stacked.values()))) == len(model.history):
        position = {r.step: i for i, r in enumerate(model.history)}
        missing = [int(t) for t in steps if t not in position]
        if missing:
            raise KeyError(f"months {missing[:5]} were not kept (keep_months)")
        rows = np.array([position[t] for t in steps], dtype=np.int64)
    else:
        raise ValueError(f"stacked holds {len(next(iter(stacked.values())))} months: expected the {len(steps)} "
                         f"asked for or the {len(model.history)} the model kept")
    agents = np.arange(len(model.world.agent_ids)) if agents is None else np.asarray(agents)
    n_agents = len(agents)
    dates = _dates(model, n_steps)[steps]
    data = {
        "step": np.repeat(steps, n_agents),
        "date": np.repeat(dates, n_agents),
        "agent": np.tile(np.array(model.world.agent_ids, dtype=object)[agents], len(steps)),
        "kind": np.tile(np.array(model.world.agent_kinds, dtype=object)[agents], len(steps)),
    }
    for col in columns or METRIC_COLUMNS:
        data[col] = stacked[col][rows, scenario][:, agents].reshape(-1)
    return data


def market_frame(model, scenario: int = 0) -> pd.DataFrame:
    """One row per month × segment × provider, plus an ``unserved`` row per segment.

    Columns: price, first-choice and total tokens asked, tokens served, spend,
    share of the segment's demand served, rate-limited share, customers.
    """
    records = kept_records(model)  # every month, or the months the model kept
    n_steps = len(records)
    steps = np.array([r.step for r in records], dtype=np.int64)
    seg_ids = [s.agent_id for s in model.segments]
    providers = model.world.agent_ids[: model.world.n_providers]
    n_seg, n_prov = len(seg_ids), len(providers)
    stack = lambda key: np.stack([getattr(r.market, key)[scenario] for r in records])  # noqa: E731
    demand = stack("demand")  # (T, K)
    served = stack("served_tokens")  # (T, K, P)
    cols = {
        "price_usd_per_mtok": stack("price_usd_per_mtok"),
        "fee_usd_per_month": stack("fee_usd_per_month"),
        "marginal_cost_usd_per_mtok": stack("marginal_cost_usd_per_mtok"),
        "routing": stack("routing"),
        "first_choice_tokens": stack("first_choice_tokens"),
        "asked_tokens": stack("asked_tokens"),
        "served_tokens": served,
        "served_customers": stack("served_customers"),
        "spend_usd": stack("spend_usd"),
        "rate_limited_share": stack("rate_limited_share"),
    }
    unserved = stack("unserved")[..., None]
    zeros = np.zeros_like(unserved)
    for key, arr in cols.items():
        cols[key] = np.concatenate([arr, unserved if key in ("first_choice_tokens", "asked_tokens") else zeros],
                                   axis=2)
    usage = np.concatenate([stack("usage"), np.ones_like(unserved)], axis=2)
    # served tokens in units of the segment's trend use (a provider whose customers use nothing serves none);
    # each provider's own customers only: the tasks closed labs' customers route (at the fringe, or back at
    # their lab when the fringe is full) are counted apart
    routed = stack("routed_tokens")
    own = served - routed
    trend = np.divide(np.concatenate([own, unserved], axis=2), usage, out=np.zeros(usage.shape),
                      where=usage > 0)
    cols["share"] = np.divide(trend, demand[..., None], out=np.zeros((n_steps, n_seg, n_prov + 1)),
                              where=demand[..., None] > 0)
    cols["usage"] = usage
    cols["capacity_shadow_price_usd_per_mtok"] = np.concatenate(
        [stack("capacity_shadow_price_usd_per_mtok"), zeros], axis=2)
    cols["open_task_share"] = np.concatenate([stack("open_task_share"), zeros], axis=2)
    cols["routed_tokens"] = np.concatenate([routed, zeros], axis=2)
    width = n_prov + 1
    data = {
        "step": np.repeat(steps, n_seg * width),
        "date": np.repeat(_dates(model, model.months_run)[steps], n_seg * width),
        "segment": np.tile(np.repeat(np.array(seg_ids, dtype=object), width), n_steps),
        "provider": np.tile(np.array([*providers, "unserved"], dtype=object), n_steps * n_seg),
        "segment_demand_tokens": np.repeat(demand.reshape(-1), width),
        "segment_customers": np.repeat(stack("customers").reshape(-1), width),
    }
    for key, arr in cols.items():
        data[key] = arr.reshape(-1)
    return pd.DataFrame(data)


def leases_frame(model, scenario: int = 0) -> pd.DataFrame:
    """One row per lease: lessor, lessee, watts, first and last month, rent, origin."""
    book = model.leases
    rows = np.flatnonzero(book.watts[scenario] > 0)
    ids = np.array(model.world.agent_ids, dtype=object)
    last = book.end_step[rows] - 1
    return pd.DataFrame({
        "lessor": ids[book.lessor[rows]],
        "lessee": ids[book.lessee[rows]],
        "watts": book.watts[scenario, rows],
        "start_step": book.start_step[rows],
        "end_step": last,
        "start": np.array([np.datetime64(model.date(int(t)), "D") for t in book.start_step[rows]], dtype=DATE),
        "end": np.array([np.datetime64(model.date(int(t)), "D") for t in last], dtype=DATE),
        "price_usd_per_w_year": book.price_usd_per_w_year[scenario, rows],
        "renew": book.renew[rows],
        "origin": [book.note[r] for r in rows],
    })


def funding_frame(model, scenario: int = 0) -> pd.DataFrame:
    """One row per raise and source: date, lab, source, partner, amount, committed cloud spend."""
    recs = [r for r in model.funding.records if r["amount_usd"][scenario] > 0]
    return pd.DataFrame({
        "step": [r["step"] for r in recs],
        "date": np.array([np.datetime64(model.date(r["step"]), "D") for r in recs], dtype=DATE),
        "lab": [r["lab"] for r in recs],
        "source": [r["source"] for r in recs],
        "partner": [r["partner"] or None for r in recs],  # (null: not a cloud partner)
        "amount_usd": [float(r["amount_usd"][scenario]) for r in recs],
        "cloud_commitment_usd": [float(r["cloud_commitment_usd"][scenario]) for r in recs],
        "commitment_watts": [float(r["commitment_watts"][scenario]) for r in recs],
    }, columns=list(FUNDING_COLUMNS))
