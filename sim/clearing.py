"""The capacity and capital markets, run after the token market each month.

Agents decide (bids, asks, builds, raises); these functions gather their
decisions into arrays, clear them with the pure functions of
``sim.lease_market`` and ``sim.capital_market``, and book the results.
"""

from __future__ import annotations

import numpy as np

from sim import capital_market, lease_market


def clear_capacity_market(model, t: int, ctx: dict) -> dict:
    """Match labs' bids with owners' asks; new leases start after ``world.lease_lead_months``.

    A lab bids for its shortfall less the watts it has already signed for that
    arrive within the lead time; an owner offers what it has not let, counting
    leases signed but not yet started.

    Returns arrays for the record: watts bid, asked and traded by agent (S, A);
    and each lab's bid price and unmet bid watts (S, labs).
    """
    s, n_agents = ctx["watts"].shape
    lead = model.config["world"]["lease_lead_months"]
    bidders = model.labs
    askers = [*model.labs, *model.hyperscalers]
    pending = model.leases.pending_in(t, within=lead)  # (S, A) signed for, arriving by the time new deals would
    bids = [lab.capacity_bid(ctx) for lab in bidders]
    bids = [(np.maximum(w - pending[:, lab.column], 0.0), price) for (w, price), lab in zip(bids, bidders)]
    asks = [owner.capacity_ask(ctx) for owner in askers]
    bid_watts = np.stack([b[0] for b in bids], axis=-1)
    bid_price = np.stack([b[1] for b in bids], axis=-1)
    ask_watts = np.stack([a[0] for a in asks], axis=-1)
    ask_price = np.stack([a[1] for a in asks], axis=-1)
    same = np.array([[b is a for a in askers] for b in bidders])
    trade = lease_market.merit_order_match(bid_watts, bid_price, ask_watts, ask_price, same_party=same)
    min_watts = model.config["world"]["min_lease_watts"]
    trade = np.where((trade >= min_watts) & (trade > 0), trade, 0.0)
    for i, lab in enumerate(bidders):
        for j, owner in enumerate(askers):
            if np.any(trade[:, i, j] > 0):
                model.leases.add(owner.column, lab.column, trade[:, i, j], t + lead,
                                 owner.profile["lease_term_months"], ask_price[:, j], note="capacity market")
    record = {name: np.zeros((s, n_agents)) for name in ("bid_watts", "asked_watts", "traded_in_watts",
                                                          "traded_out_watts")}
    for i, lab in enumerate(bidders):
        record["bid_watts"][:, lab.column] = bid_watts[:, i]
        record["traded_in_watts"][:, lab.column] = trade[:, i, :].sum(axis=-1)
    for j, owner in enumerate(askers):
        record["asked_watts"][:, owner.column] = ask_watts[:, j]
        record["traded_out_watts"][:, owner.column] = trade[:, :, j].sum(axis=-1)
    # bids that found no ask at or below their price: what a builder could sell
    record["unmet_bid_watts"] = np.maximum(bid_watts - trade.sum(axis=-1), 0.0)  # (S, labs)
    record["bid_price"] = bid_price
    return record


#: months over which a lab averages its rate-limited share before building: long
#: enough that one month's demand shock (AR(1), ~5-month memory) does not order
#: a multi-billion-dollar cluster (an assumption, like the order trigger)
ORDER_SIGNAL_MONTHS = 6


def plan_builds(model, t: int, ctx: dict, bid_price: np.ndarray, unmet_bid_watts: np.ndarray,
                unmet_bid_price: np.ndarray) -> None:
    """Labs build when persistently rate-limited on paid demand and a new watt would
    earn more than it costs (``bid_price``, this month's bids, (S, labs));
    hyperscalers build when labs' bids at or above their rent went unmet last
    month (watts they could have let at their price)."""
    recent = [m["paid_rate_limited_share"] for m, _ in model.history[-(ORDER_SIGNAL_MONTHS - 1):]]
    signal = np.mean([*recent, ctx["paid_rate_limited_share"]], axis=0)
    for i, lab in enumerate(model.labs):
        pays = model.build_cost_usd_per_w_year(model.newest_hardware(lab.family(), t))
        lab.plan_capacity(t, (signal[:, lab.column] > lab.profile["order_trigger"]) & (bid_price[:, i] > pays))
    for h in model.hyperscalers:
        sellable = (unmet_bid_watts * (unmet_bid_price >= h.profile["cloud_rent_usd_per_w_year"])).sum(axis=-1)
        h.plan_capacity(t, sellable > max(model.config["world"]["min_lease_watts"], 0.0))


def clear_capital_market(model, t: int) -> list[dict]:
    """Every lab short of runway raises money; returns the funding records."""
    records = []
    for lab in model.labs:
        recent = [m["operating_cash_flow_usd"][:, lab.column] for m, _ in model.history[-2:]]
        recent.append(model.last_metrics["operating_cash_flow_usd"][:, lab.column])
        records += lab.raise_capital(t, np.stack(recent, axis=-1))
    return records


def self_funding(model, t: int) -> dict:
    """SFR of every cluster owner this month, with its parts, shape (S, A) each."""
    st = model.state
    s, n_agents = st.cash.shape
    ocf = st.ocf_history[:, -min(t + 1, st.ocf_history.shape[1]):, :]
    trailing = ocf.sum(axis=1) * (12.0 / ocf.shape[1])
    capex = np.zeros((s, n_agents))
    lead = np.ones(n_agents)
    for owner in [*model.labs, *model.hyperscalers]:
        capex[:, owner.column] = owner.next_cluster_capex_usd(t)
        lead[owner.column] = owner.profile["build_lead_months"]
    return {
        "trailing_operating_cash_flow_usd": trailing,
        "next_cluster_capex_usd": capex,
        "self_funding_ratio": capital_market.self_funding_ratio(trailing, capex, lead),
    }
