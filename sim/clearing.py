"""The lease and capital markets and the capacity plans, run after the token market each month.

Agents decide (bids, asks, plans, raises); these functions gather their
decisions into arrays, clear them with the pure functions of
``sim.lease_market`` and ``sim.capital_market``, and book the results. None
of them reads the output log: everything comes from the observation and the
model's state.
"""

from __future__ import annotations

import numpy as np

from wattyear.agents.observation import Observation
from wattyear.sim import capital_market, lease_market


def clear_spot_leases(model, obs: Observation) -> dict:
    """Match labs' bids for watts now with owners' asks; new leases start after ``world.lease_lead_months``.

    A lab bids for its shortfall less the watts it has already signed for that
    arrive within the lead time; an owner offers what it has not let, counting
    leases signed but not yet started.

    Returns arrays for the record: watts bid, asked and traded by agent (S, A).
    """
    t = obs.step
    s, n_agents = obs.watts.shape
    lead = model.config["world"]["lease_lead_months"]
    bidders = model.labs
    askers = [*model.labs, *model.hyperscalers]
    pending = model.leases.pending_in(t, within=lead)  # (S, A) signed for, arriving by the time new deals would
    bids = [lab.capacity_bid(obs) for lab in bidders]
    bids = [(np.maximum(w - pending[:, lab.column], 0.0), price) for (w, price), lab in zip(bids, bidders)]
    asks = [owner.capacity_ask(obs) for owner in askers]
    bid_watts = np.stack([b[0] for b in bids], axis=-1)
    bid_price = np.stack([b[1] for b in bids], axis=-1)
    ask_watts = np.stack([a[0] for a in asks], axis=-1)
    ask_price = np.stack([a[1] for a in asks], axis=-1)
    same = np.array([[b is a for a in askers] for b in bidders])
    if np.any(bid_watts > 0) and np.any(ask_watts > 0):
        trade = lease_market.merit_order_match(bid_watts, bid_price, ask_watts, ask_price, same_party=same)
    else:  # nothing to match (most months)
        trade = np.zeros(bid_watts.shape + ask_watts.shape[-1:])
    min_watts = model.config["world"]["min_lease_watts"][:, None, None]
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
    return record


def plan_capacity(model, obs: Observation) -> dict:
    """The race for compute: labs order builds and ask for contracts; hyperscalers build
    for what they have let and for other customers, then build to suit the labs'
    contracts in merit order (the labs a watt is worth most to first, from the cheapest
    clouds) within the power they have left. Returns the watts each lab contracted, (S, A)."""
    t = obs.step
    requests = [lab.plan_capacity(obs) for lab in model.labs]  # (watts to contract, $/W-yr it would pay)
    capacity = [h.plan_capacity(obs) for h in model.hyperscalers]  # (S,) watts each can still build
    contracted = np.zeros(obs.watts.shape)
    if not model.hyperscalers:
        return {"contracted_watts": contracted}
    rents = np.stack([h.rent_usd_per_w_year(t) for h in model.hyperscalers], axis=-1)  # (S, H)
    want = np.stack([w for w, _ in requests], axis=-1)  # (S, L)
    value = np.stack([v for _, v in requests], axis=-1)  # (S, L)
    offer = np.stack(capacity, axis=-1)  # (S, H)
    if not (np.any(want > 0) and np.any(offer > 0)):
        return {"contracted_watts": contracted}
    # merit order: the labs a watt is worth most to are served first, from the cheapest clouds; a
    # lab whose watt earns less than the rent still signs (its training and free tier need the watts:
    # the plan said so) but after every lab that values them more
    bid = np.where(value > 0, value, 0.0) + np.max(rents, axis=-1, keepdims=True)
    trade = lease_market.merit_order_match(want, bid, offer, rents)
    min_watts = model.config["world"]["min_lease_watts"][:, None, None]
    trade = np.where(trade >= min_watts, trade, 0.0)
    for i, lab in enumerate(model.labs):
        for j, h in enumerate(model.hyperscalers):
            if np.any(trade[:, i, j] > 0):
                h.build_to_suit(lab, trade[:, i, j], t)
    for i, lab in enumerate(model.labs):
        contracted[:, lab.column] = trade[:, i, :].sum(axis=-1)
    return {"contracted_watts": contracted}


def clear_capital_market(model, obs: Observation) -> list[dict]:
    """Labs short of runway raise (bounded by valuation); then every agent settles its cash:
    labs fail or pay out, others borrow, repay or pay out. Returns the funding records."""
    records = []
    for lab in model.labs:
        records += lab.raise_capital(obs)
    for lab in model.labs:
        lab.settle(obs)
    for agent in [*model.hyperscalers, model.publisher, model.fringe]:
        agent.settle(obs)
    return records


def self_funding(model, t: int) -> dict:
    """SFR of every owner of watts this month, with its parts, shape (S, A) each.

    Free cash flow = trailing-12-month operating cash flow (net of rent and
    commitment payments, which are operating costs) less trailing replacement
    capex; over the next cluster's capex as the owner's build rule sizes it,
    spread over its build lead time.
    """
    st = model.state
    s, n_agents = st.cash.shape
    months = min(t + 1, st.ocf_history.shape[1])
    scale = 12.0 / months
    ocf = st.ocf_history[:, -months:, :].sum(axis=1) * scale
    replacement = st.replacement_capex_history[:, -months:, :].sum(axis=1) * scale
    capex = np.zeros((s, n_agents))
    lead = np.ones(n_agents)
    for owner in [*model.labs, *model.hyperscalers]:
        capex[:, owner.column] = owner.next_cluster_capex_usd(t)
        lead[owner.column] = owner.profile["build_lead_months"]
    return {
        "trailing_operating_cash_flow_usd": ocf,
        "trailing_free_cash_flow_usd": ocf - replacement,
        "next_cluster_capex_usd": capex,
        "self_funding_ratio": capital_market.self_funding_ratio(ocf - replacement, capex, lead),
    }
