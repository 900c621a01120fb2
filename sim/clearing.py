"""The markets: they apply the agents' decision records to the state and book both sides of every dollar.

Agents decide (``sim.records``: prices, a training step, a release, the
fringe's price and entry, build orders, bids and asks, capacity plans and
contract requests, raises, settlements); the functions here gather those
decisions, clear them with the pure functions of ``sim.lease_market`` and
``sim.capital_market``, and write the results: the only writers of the
model's state after it is built, besides the model's own memory of the month.
Each agent's decision is applied before the next agent decides, in the order
the model asks them, so a decision sees every earlier one. None of them reads
the output log.
"""

from __future__ import annotations

import numpy as np

from wattyear.sim import capital_market, lease_market
from wattyear.sim.records import (CapacityPlan, CapitalMonth, CashSettlement, Distress, FreeTierRouting, FringeEntry,
                                  FringePrice, LeaseMonth,
                                  NewLease, Observation, Payout, Prices, Raise, Release, SegmentGrowth,
                                  SelfFunding, TrainingStep)
from wattyear.sim.schema import FundingSource
from wattyear.sim.supply import book_build, book_lease


# ------------------------------------------------------------------ the demand side and the token market
def apply_growth(st, growth: SegmentGrowth) -> None:
    """A segment's customers, tokens per customer and shock for the month."""
    st.customers[:, growth.k] = growth.customers
    st.tokens_per_customer[:, growth.k] = growth.tokens_per_customer
    st.demand_shock[:, growth.k] = growth.demand_shock


def apply_release(st, fringe_column: int, release: Release) -> None:
    """Where a release is due, the fringe serves the new weights."""
    if release.quality is not None:
        st.quality[:, fringe_column] = np.where(release.due, release.quality, st.quality[:, fringe_column])


def apply_fringe_price(st, fringe_column: int, decision: FringePrice) -> None:
    """The fringe's cost-plus price where it has watts to price from (elsewhere its last price)."""
    st.price[:, :, fringe_column] = np.where(decision.has_watts[:, None], decision.price_usd_per_mtok,
                                             st.price[:, :, fringe_column])


def apply_training(st, step: TrainingStep) -> None:
    """A lab's compute toward its run and, where a run finished, its new model."""
    st.run_compute[:, step.lab_index] = step.run_compute
    if step.quality is not None:
        st.quality[:, step.column] = step.quality
        st.last_run_compute[:, step.lab_index] = step.last_run_compute
        st.generations[:, step.lab_index] += step.finished


def apply_prices(st, prices: Prices) -> None:
    """A lab's list prices for next month, and the capacity premium in them."""
    st.shadow_price[:, :, prices.column] = prices.shadow_price_usd_per_mtok
    st.price[:, :, prices.column] = prices.price_usd_per_mtok


def apply_routing(st, decision: FreeTierRouting) -> None:
    """A lab's free-tier model mix for next month."""
    st.routing[:, decision.segment, decision.column] = decision.routing


def apply_fringe_entry(st, entry: FringeEntry) -> None:
    st.fringe_watts *= entry.growth
    st.fringe_mix = entry.hardware_mix


# ------------------------------------------------------------------ capacity
def apply_plan(model, plan: CapacityPlan) -> None:
    """An owner's builds, and the next cluster its self-funding ratio is measured against."""
    for order in plan.builds:
        book_build(model.world, model.fleet, order)
    if plan.next_cluster_watts is not None:
        model.state.next_cluster_watts[:, plan.column] = plan.next_cluster_watts
    if plan.target_watts is not None:
        model.state.target_watts[:, plan.column] = plan.target_watts


def sign_lease(model, lease: NewLease | None) -> None:
    if lease is not None:
        book_lease(model.leases, lease)


def clear_spot_leases(model, obs: Observation) -> tuple[np.ndarray, ...]:
    """Match labs' bids for watts now with owners' asks; new leases start after ``world.lease_lead_months``.

    Returns the watts bid, asked and traded (in and out) by agent, each (S, A).
    """
    t = obs.step
    s, n_agents = obs.watts.shape
    lead = model.world.config["world"]["lease_lead_months"]
    bids = [lab.capacity_bid(obs) for lab in model.labs]
    asks = [ask for owner in [*model.labs, *model.hyperscalers] for ask in owner.capacity_asks(obs)]
    bid_watts = np.stack([b.watts for b in bids], axis=-1)
    bid_price = np.stack([b.price_usd_per_w_year for b in bids], axis=-1)
    ask_watts = np.stack([a.watts for a in asks], axis=-1)
    ask_price = np.stack([a.price_usd_per_w_year for a in asks], axis=-1)
    same = np.array([[b.column == a.column for a in asks] for b in bids])
    if np.any(bid_watts > 0) and np.any(ask_watts > 0):
        trade = lease_market.merit_order_match(bid_watts, bid_price, ask_watts, ask_price, same_party=same)
    else:  # nothing to match (most months)
        trade = np.zeros(bid_watts.shape + ask_watts.shape[-1:])
    min_watts = model.world.config["world"]["min_lease_watts"][:, None, None]
    trade = np.where((trade >= min_watts) & (trade > 0), trade, 0.0)
    for i, j in zip(*np.nonzero((trade > 0).any(axis=0))):  # the pairs that traded, bidder by bidder
        bid, ask = bids[i], asks[j]
        sign_lease(model, NewLease(ask.column, bid.column, trade[:, i, j], t + lead, ask.term_months,
                                   ask.price_usd_per_w_year, "capacity market", renew=False))
    bid_out, asked_out, traded_in, traded_out = (np.zeros((s, n_agents)) for _ in range(4))
    for i, bid in enumerate(bids):
        bid_out[:, bid.column] = bid_watts[:, i]
        traded_in[:, bid.column] = trade[:, i, :].sum(axis=-1)
    for j, ask in enumerate(asks):  # (an owner may offer a full and a short term)
        asked_out[:, ask.column] += ask_watts[:, j]
        traded_out[:, ask.column] += trade[:, :, j].sum(axis=-1)
    return bid_out, asked_out, traded_in, traded_out


def plan_capacity(model, obs: Observation) -> np.ndarray:
    """The race for compute: labs order builds and ask for contracts; hyperscalers build
    for what they have let and for other customers, then build to suit the labs'
    contracts in merit order (the labs a watt is worth most to first, from the cheapest
    clouds) within the power they have left. Returns the watts each lab contracted, (S, A)."""
    t = obs.step
    plans = []
    model.prepare_tightness(obs)  # everyone sees the order books as they stand before this round of plans
    for lab in model.labs:
        plans.append(lab.plan_capacity(obs))
        apply_plan(model, plans[-1])
    offers = []
    for h in model.hyperscalers:
        plan = h.plan_capacity(obs)
        apply_plan(model, plan)
        offers.append(plan.can_build_to_suit_watts)
    contracted = np.zeros(obs.watts.shape)
    if not model.hyperscalers:
        return contracted
    rents = np.stack([h.rent_usd_per_w_year(t) for h in model.hyperscalers], axis=-1)  # (S, H)
    want = np.stack([p.contract_watts for p in plans], axis=-1)  # (S, L)
    value = np.stack([p.contract_value_usd_per_w_year for p in plans], axis=-1)  # (S, L)
    if not np.any(want > 0):
        return contracted
    # what each cloud can build this year, and what it will have spare at the end of its lead (its
    # programme's watts, its plan's order included): let first (``Hyperscaler.build_to_suit``)
    offer = np.stack([o + h.spare_then(t + h.profile["build_lead_months"])
                      for o, h in zip(offers, model.hyperscalers)], axis=-1)  # (S, H)
    if not np.any(offer > 0):
        return contracted
    # merit order: the labs a watt is worth most to are served first, from the cheapest clouds; a
    # lab whose watt earns less than the rent still signs (its training and free tier need the watts:
    # the plan said so) but after every lab that values them more
    bid = np.where(value > 0, value, 0.0) + np.max(rents, axis=-1, keepdims=True)
    trade = lease_market.merit_order_match(want, bid, offer, rents)
    min_watts = model.world.config["world"]["min_lease_watts"][:, None, None]
    trade = np.where(trade >= min_watts, trade, 0.0)
    for i, j in zip(*np.nonzero((trade > 0).any(axis=0))):  # the contracts signed, lab by lab
        lab, h = model.labs[i], model.hyperscalers[j]
        builds, lease = h.build_to_suit(lab.column, lab.agent_id, trade[:, i, j], t)
        apply_plan(model, CapacityPlan(h.column, builds))
        sign_lease(model, lease)
    for i, lab in enumerate(model.labs):
        contracted[:, lab.column] = trade[:, i, :].sum(axis=-1)
    return contracted


def lease_month(spot: tuple[np.ndarray, ...], contracted: np.ndarray) -> LeaseMonth:
    bid, asked, traded_in, traded_out = spot
    return LeaseMonth(bid, asked, traded_in, traded_out, contracted)


# ------------------------------------------------------------------ capital
def book_raise(model, r: Raise) -> dict:
    """Both sides of a raise: the lab's cash and outside capital; a cloud partner's cash and
    investment, and the lease its committed share buys. Returns the funding record."""
    st, c = model.state, r.column
    money = r.amount_usd
    st.cash[:, c] += money
    st.outside_capital[:, c] += money
    st.raised[:, c] += money
    commitment = np.zeros_like(money)
    lease_watts = np.zeros_like(money)
    if r.source == FundingSource.PARENT:
        st.parent_purse[:, r.lab_index] -= money
    if r.source == FundingSource.CLOUD_PARTNER:
        partner = model.by_id[r.partner]
        st.cash[:, partner.column] -= money
        st.invested[:, partner.column] += money
        commitment = money * r.cloud_commitment
        lease_watts, lease = partner.commit_capacity(c, r.lab, commitment, r.commitment_months, r.step)
        sign_lease(model, lease)
    return {"step": r.step, "lab": r.lab, "source": r.source, "partner": r.partner, "amount_usd": money,
            "cloud_commitment_usd": commitment, "commitment_watts": lease_watts}


def apply_distress(model, d: Distress, t: int) -> None:
    """Builds stopped where a lab is short of cash; a failing lab's bills written off, its leases ended,
    its watts written off, and it leaves the market."""
    st, c, i = model.state, d.column, d.lab_index
    if np.any(d.cut_builds):  # clusters under way are finished at the size paid for
        model.fleet.cut_builds(c, d.cut_builds, t)
    if np.any(d.failing):
        st.written_off[:, c] += np.where(d.failing, -st.cash[:, c], 0.0)
        st.cash[:, c] = np.where(d.failing, 0.0, st.cash[:, c])
        st.failed[:, i] |= d.failing
        model.leases.end_for(c, d.failing)
        model.fleet.write_off(c, d.failing)


def apply_payout(st, p: Payout) -> None:
    """Cash returned to owners: out of the agent's cash, into its parent's (a negative investment)."""
    if np.any(p.returned_usd > 0):
        st.cash[:, p.column] -= p.returned_usd
        st.returned[:, p.column] += p.returned_usd
        if p.parent is not None:
            st.cash[:, p.parent] += p.returned_usd
            st.invested[:, p.parent] -= p.returned_usd


def apply_cash_settlement(st, s: CashSettlement) -> None:
    """Borrowing and repayment (debt and cash move together), then cash returned."""
    change = s.borrow_usd - s.repay_usd
    st.debt[:, s.column] += change
    st.cash[:, s.column] += change
    st.cash[:, s.column] -= s.returned_usd
    st.returned[:, s.column] += s.returned_usd


def clear_capital_market(model, obs: Observation) -> list[dict]:
    """Parents set money aside for the labs they own; labs short of runway raise (bounded by valuation, or
    by what a parent set aside); then every agent settles its cash:
    labs stop builds, fail or pay out, others borrow, repay or pay out. Returns the funding records."""
    st, t = model.state, obs.step
    records = []
    for lab in model.labs:
        st.parent_purse[:, lab.lab_index] += lab.parent_inflow_usd(t)
        raises = lab.raise_capital(obs)
        if raises:
            i = lab.lab_index
            st.last_round_step[:, i] = np.where(raises[0].round_usd > 0, t, st.last_round_step[:, i])
        for r in raises:
            records.append(book_raise(model, r))
    for lab in model.labs:
        apply_distress(model, lab.settle(obs), t)
        apply_payout(st, lab.payout(obs))
    for agent in [*model.hyperscalers, model.publisher, model.fringe]:
        apply_cash_settlement(st, agent.settle(obs))
    return records


def capital_month(model, obs: Observation) -> CapitalMonth:
    """The month's capital market (``clear_capital_market``) on this month's flows (raised, invested,
    returned and written off start at zero); its funding records go to ``model.funding``."""
    st = model.state
    st.raised[:], st.invested[:], st.returned[:], st.written_off[:] = 0.0, 0.0, 0.0, 0.0
    debt_before = st.debt.copy()
    for record in clear_capital_market(model, obs):
        model.funding.add(**record)
    failed = np.zeros(st.cash.shape, dtype=bool)
    failed[:, : st.failed.shape[1]] = st.failed
    return CapitalMonth(
        cash_usd=st.cash.copy(), raised_usd=st.raised.copy(), invested_usd=st.invested.copy(),
        returned_usd=st.returned.copy(), written_off_usd=st.written_off.copy(),
        borrowed_usd=st.debt - debt_before, debt_usd=st.debt.copy(),
        outside_capital_usd=st.outside_capital.copy(), failed=failed,
        watts_under_construction=model.fleet.under_construction(obs.step),
        next_cluster_watts=st.next_cluster_watts.copy())


def self_funding(model, t: int) -> SelfFunding:
    """SFR of every owner of watts this month, with its parts, shape (S, A) each.

    Free cash flow = trailing-12-month operating cash flow (net of rent and
    commitment payments, which are operating costs) less trailing replacement
    capex; for a lab, less the rent it received for watts it let (a side
    business of idle watts, reported apart: the ratio asks whether its token
    business pays for its growth). Over what the next cluster costs it a year
    as it would pay for it (``CapacityOwner.next_cluster_cost_usd_per_year``).
    """
    st = model.state
    s, n_agents = st.cash.shape
    months = min(t + 1, st.ocf_history.shape[1])
    scale = 12.0 / months
    ocf = st.ocf_history[:, -months:, :].sum(axis=1) * scale
    replacement = st.replacement_capex_history[:, -months:, :].sum(axis=1) * scale
    lease_income = st.lease_income_history[:, -months:, :].sum(axis=1) * scale
    capex, cost = np.zeros((s, n_agents)), np.zeros((s, n_agents))
    for owner in [*model.labs, *model.hyperscalers]:
        capex[:, owner.column] = owner.next_cluster_capex_usd(t)
        cost[:, owner.column] = owner.next_cluster_cost_usd_per_year(t)
    token_business = ocf - replacement
    for lab in model.labs:
        token_business[:, lab.column] -= lease_income[:, lab.column]
    ratio = capital_market.self_funding_ratio(token_business, cost)
    ratio[:, : st.failed.shape[1]][st.failed] = np.nan  # a failed lab funds nothing
    return SelfFunding(ocf, ocf - replacement, lease_income, capex, cost, ratio)