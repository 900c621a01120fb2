"""Monthly accounting: revenue, costs, profit and cash for every agent.

Every dollar that moves between agents is booked on both sides: segments'
spend equals providers' token revenue, rent paid by lessees equals rent
received by lessors. Flows in from outside the modelled economy (ads,
third-party cloud customers) and out of it (energy, site opex, overhead,
capex) are reported separately so conservation can be checked:
Σ Δcash = segment spend + external in − external out.
"""

from __future__ import annotations

import numpy as np

from wattyear.sim import kernel
from wattyear.sim.fleet import Fleet
from wattyear.sim.supply import fringe_rent_usd_per_w_year
from wattyear.sim.records import Accounts, MarketMonth, OutsideIncome, SupplyMonth, TokenMonth
from wattyear.sim.state import WorldState
from wattyear.sim.token_month import paid_usd_per_mtok, segment_sums, spend_usd
from wattyear.sim.units import DT_YEARS, TOKENS_PER_MTOK, per_mtok
from wattyear.sim.world import World


def book_month(world: World, st: WorldState, fleet: Fleet, t: int, supply: SupplyMonth, tokens: TokenMonth,
               outside: OutsideIncome, release_cost: np.ndarray) -> Accounts:
    """Book month ``t``: revenue, costs, profit and cash flow of every agent (the state is read, not
    written: the model adds the cash flow to cash).

    Owners pay depreciation and site opex of every watt they own, leased out
    or not; whoever operates a watt pays its energy, which scales with how
    busy it is (idle watts draw ``world.idle_power_fraction`` of peak): power
    is passed through to tenants, as in most colocation and GPU leases.
    """
    cfg = world.config
    n_prov = world.n_providers
    s, n_agents = st.cash.shape

    # token revenue (segments pay providers)
    spend = spend_usd(world, tokens, st.price)  # (S, K, P)
    token_revenue = np.zeros((s, n_agents))
    token_revenue[:, :n_prov] = spend.sum(axis=1)
    tokens_served = np.zeros((s, n_agents))
    tokens_served[:, :n_prov] = tokens.served.sum(axis=1)

    # costs of owned watts: site opex and depreciation (the owner pays, leased out or not)
    active = np.flatnonzero(fleet.active(t))
    depreciation = fleet.by_owner(active, np.take(fleet.watts, active, axis=1)
                                  * fleet.depreciation_usd_per_w_year(active)) * DT_YEARS
    owned = supply.owned.sum(axis=1)
    leased_out = supply.leased_out.sum(axis=1)
    running = owned * cfg["world"]["site_opex_usd_per_w_year"][:, None] * DT_YEARS
    owned_cost = running + depreciation
    out_share = np.clip(kernel.safe_divide(leased_out, owned), 0.0, 1.0)
    rent_paid = supply.rent_paid_usd_per_year * DT_YEARS
    rent_recv = supply.rent_received_usd_per_year * DT_YEARS
    fringe = world.fringe_column
    fringe_rent = st.fringe_watts * fringe_rent_usd_per_w_year(world, st.fringe_mix) * DT_YEARS
    capacity_cost = owned_cost * (1 - out_share) + rent_paid  # capital and site cost of the watts operated
    capacity_cost[:, fringe] += fringe_rent  # the fringe rents its watts; it pays their energy, like any operator

    # energy: paid by the operator, by how busy its watts are
    served_compute = tokens.served_compute.sum(axis=1)  # (S, P)
    full_load = supply.capacity_year[:, :n_prov] * DT_YEARS * tokens.serving_share
    busy = np.ones((s, n_agents))  # the publisher's watts rank ads and train all the time
    training = supply.training_share[:, :n_prov]
    busy[:, :n_prov] = training + (1 - training) * np.clip(kernel.safe_divide(served_compute, full_load), 0, 1)
    # at the evening peak the serving watts carry peak-to-average times the month's mean load
    peak_load = np.zeros((s, n_agents))
    peak_load[:, :n_prov] = training + (1 - training) * np.clip(
        kernel.safe_divide(served_compute * tokens.peak, full_load), 0, 1)
    own_use = np.maximum(owned - leased_out, 0.0)
    hyperscalers = [world.column(h) for h in world.hyperscaler_ids]
    for c in hyperscalers:  # other cloud customers keep a hyperscaler's own watts busy
        busy[:, c] = np.clip(kernel.safe_divide(outside.third_party_watts[:, c], own_use[:, c]), 0.0, 1.0)
    operated = supply.watts
    energy = kernel.energy_usd(operated, world.energy_usd_per_w_year[:, None], busy,
                               cfg["world"]["idle_power_fraction"][:, None])
    operating_cost = capacity_cost + energy  # cost of the watts each agent operates
    interest = st.debt * cfg["world"]["debt_interest_per_year"][:, None] * DT_YEARS

    # revenue and cost outside the token market
    other_revenue = np.zeros((s, n_agents))
    other_cost = np.zeros((s, n_agents))
    revenue_at_risk = np.zeros((s, n_agents))
    cloud_revenue = np.zeros((s, n_agents))
    n_labs = len(world.lab_ids)  # (labs are the first ledger columns)
    other_cost[:, :n_labs] += st.overhead * DT_YEARS * ~st.failed  # a failed lab has let its staff go
    for c, h_id in zip(hyperscalers, world.hyperscaler_ids):
        business = outside.business_revenue_usd[:, c]
        revenue_at_risk[:, c] = outside.revenue_at_risk_usd[:, c]
        cloud_revenue[:, c] = (np.minimum(own_use[:, c], outside.third_party_watts[:, c])
                               * outside.rent_usd_per_w_year[:, c] * DT_YEARS)
        other_revenue[:, c] += business + cloud_revenue[:, c]
        other_cost[:, c] += business * (1 - cfg["hyperscalers"][h_id]["business_margin"])
    pub, pc = cfg["open_weights"], world.publisher_column
    ads = outside.ad_revenue_usd[:, pc]
    other_revenue[:, pc] += ads
    other_cost[:, pc] += ads * (1 - pub["ad_margin"]) + release_cost
    other_revenue[:, :n_prov] += outside.ad_revenue_usd[:, :n_prov]  # labs' ads in their free tiers
    other_cost[:, pc] += pub["talent_cost_usd_per_year"] * kernel.grown(pub["talent_cost_growth_per_year"], t * DT_YEARS) * DT_YEARS
    cloud_revenue += rent_recv

    revenue = token_revenue + rent_recv + other_revenue
    cost = owned_cost + rent_paid + energy + other_cost + interest
    cost[:, fringe] += fringe_rent
    profit = kernel.operating_profit_usd(revenue, cost)
    capex = fleet.capex_due_usd(t)
    cash_flow = kernel.operating_cash_flow_usd(profit, depreciation) - capex

    econ = kernel.per_watt_economics(watts=supply.watts, tokens_capacity_year=supply.capacity_year,
                                     tokens_served=tokens_served, token_revenue_usd=token_revenue,
                                     operating_cost_usd=operating_cost)
    # who asked for more than a provider could serve
    asked = np.zeros((s, n_agents))
    asked[:, :n_prov] = tokens.asked.sum(axis=1)
    rate_limited = kernel.safe_divide(asked - tokens_served, asked)
    stake_income = np.zeros((s, n_agents))
    for c, h_id in zip(hyperscalers, world.hyperscaler_ids):
        for lab_id, frac in cfg["hyperscalers"][h_id]["stakes"].items():
            stake_income[:, c] += frac * profit[:, world.column(lab_id)]
    # what the books record as undefined (NaN; ``sim.outputs`` says when each is): the model decides on
    # the zero-safe ratios above, the records keep missing values missing
    no_tokens = econ.tokens_capacity <= 0.0
    sells_none = no_tokens | (np.arange(n_agents) >= n_prov)  # (hyperscalers and the publisher sell no tokens)
    mtok_per_watt_year = np.where(no_tokens, np.nan, econ.tokens_per_watt_year / TOKENS_PER_MTOK)
    revenue_usd_per_mtok = np.where(sells_none, np.nan, per_mtok(econ.revenue_per_token))
    quality = np.full((s, n_agents), np.nan)
    quality[:, :n_prov] = st.quality
    quality[:, : st.failed.shape[1]][st.failed] = np.nan
    no_revenue = np.abs(revenue) <= kernel.MONEY_FLOOR_USD
    no_token_revenue = np.abs(token_revenue) <= kernel.MONEY_FLOOR_USD
    per_served = lambda cost_usd: np.where(tokens_served < 1.0, np.nan, per_mtok(  # noqa: E731
        kernel.safe_divide(cost_usd, tokens_served, floor=1.0)))

    return Accounts(
        watts=econ.watts,
        owned_watts=owned,
        leased_in_watts=supply.leased_in.sum(axis=1),
        leased_out_watts=leased_out,
        tokens_capacity=econ.tokens_capacity,
        tokens_served=econ.tokens_served,
        mtok_per_watt_year=mtok_per_watt_year,
        revenue_usd_per_mtok=revenue_usd_per_mtok,
        revenue_usd_per_watt_year=mtok_per_watt_year * revenue_usd_per_mtok,  # RPWY = TPWY × RPT, to the bit
        cost_usd_per_watt_year=np.where(econ.watts <= 0.0, np.nan, econ.cost_per_watt_year),
        blended_price_usd_per_mtok=np.where(tokens_served <= 0.0, np.nan, per_mtok(econ.blended_price_usd_per_token)),
        utilization=np.where(sells_none, np.nan, econ.utilization),
        peak_load=np.where(sells_none, np.nan, peak_load),
        rate_limited_share=np.where(asked <= 0.0, np.nan, rate_limited),
        quality=quality,
        token_revenue_usd=token_revenue,
        lease_income_usd=rent_recv,
        ad_revenue_usd=outside.ad_revenue_usd,
        rent_paid_usd=rent_paid,
        cloud_revenue_usd=cloud_revenue,
        revenue_usd=revenue,
        operating_cost_usd=cost,
        operating_profit_usd=profit,
        operating_margin=np.where(no_revenue, np.nan, kernel.safe_divide(profit, revenue, floor=kernel.MONEY_FLOOR_USD)),
        gross_margin=np.where(no_token_revenue, np.nan, kernel.safe_divide(
            token_revenue - operating_cost * (1 - supply.training_share), token_revenue, floor=kernel.MONEY_FLOOR_USD)),
        energy_usd=energy,
        interest_usd=interest,
        depreciation_usd=depreciation,
        watt_depreciation_usd=depreciation * (1 - out_share),
        watt_site_opex_usd=running * (1 - out_share),
        watt_rent_usd=rent_paid + np.where(np.arange(n_agents) == fringe, fringe_rent[:, None], 0.0),
        # (per token served: under one token served a month there is no cost per token, as none served)
        cost_usd_per_mtok=per_served(operating_cost),
        serving_cost_usd_per_mtok=per_served(operating_cost * (1 - supply.training_share)),
        capex_usd=capex,
        cash_flow_usd=cash_flow,
        operating_cash_flow_usd=kernel.operating_cash_flow_usd(profit, depreciation),
        owned_cost_per_watt_year=kernel.safe_divide(owned_cost / DT_YEARS, owned),
        stake_income_usd=stake_income,
        revenue_at_risk_usd=revenue_at_risk,
        customers_over_1m=np.rint(outside.large_customers).astype(np.int64),
        # for agents' observation
        capacity_cost_usd=capacity_cost,
        outlays_usd=cost - depreciation + capex,
        # flows for conservation checks
        external_in_usd=other_revenue,
        external_out_usd=(running + energy + other_cost + interest + capex
                             + np.where(np.arange(n_agents) == fringe, fringe_rent[:, None], 0.0)),
    )


def market_month(world: World, tokens: TokenMonth, price: np.ndarray, shadow_price_usd_per_mtok: np.ndarray,
                 marginal_cost_usd_per_mtok: np.ndarray, routing: np.ndarray) -> MarketMonth:
    """The token market as recorded: ``price`` (S, K, P) the prices charged this month ($/Mtok, or the monthly
    fee in a segment sold by the month), ``shadow_price_usd_per_mtok`` the capacity premium in the prices
    the labs set at its end, ``marginal_cost_usd_per_mtok`` the cost of a token each price is set against."""
    clearing = tokens.cleared
    seg_sum = lambda x: segment_sums(world, x)  # noqa: E731
    asked_seg, served_seg = tokens.asked, tokens.served
    spend = spend_usd(world, tokens, price)
    return MarketMonth(
        price_usd_per_mtok=paid_usd_per_mtok(world, tokens, price),
        fee_usd_per_month=np.where(world.segment_by_plan[:, :, None], price, 0.0),
        first_choice_tokens=tokens.first_choice,
        asked_tokens=asked_seg,
        served_tokens=served_seg,
        served_customers=tokens.served_customers,
        marginal_cost_usd_per_mtok=marginal_cost_usd_per_mtok,
        routing=routing,
        spend_usd=spend,
        rate_limited_share=kernel.safe_divide(asked_seg - served_seg, asked_seg),
        demand=seg_sum(tokens.demand),
        unserved=seg_sum(clearing.unserved),
        served_demand=seg_sum(clearing.served_demand),
        usage=tokens.usage_by_segment,
        outside=seg_sum(clearing.outside),
        customers=seg_sum(tokens.customers),
        capacity_shadow_price_usd_per_mtok=shadow_price_usd_per_mtok,
        open_task_share=tokens.open_task_share,
        routed_tokens=tokens.routed_served,
    )
