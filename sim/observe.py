"""From a month's books to what every agent sees: the ``Observation``.

The token market's outcome (by customer class) is summed to segments and
providers; costs are turned into each provider's marginal cost of a token in
each segment (``kernel.marginal_cost_usd_per_mtok``); demand-weighted logit
shares give each lab's own-price elasticity.
"""

from __future__ import annotations

from wattyear.sim import kernel, token_market
from wattyear.sim.fleet import LeaseBook
from wattyear.sim.records import Accounts, Observation, SupplyMonth, TokenMonth
from wattyear.sim.state import WorldState
from wattyear.sim.token_month import paid_usd_per_mtok, priced_sums, segment_sums
from wattyear.sim.units import DT_YEARS, per_token
from wattyear.sim.world import World


def observe(world: World, st: WorldState, leases: LeaseBook, t: int, supply: SupplyMonth, tokens: TokenMonth,
            accounts: Accounts) -> Observation:
    """Build month ``t``'s observation from its supply, token market and books."""
    cfg, n_prov = world.config, world.n_providers
    cleared = tokens.cleared

    # demand by segment and provider, in compute
    phi = tokens.phi_by_segment
    asked_compute = tokens.asked * phi  # (S, K, P)
    served_by_segment = tokens.served_compute
    served_compute = served_by_segment.sum(axis=1)  # (S, P)
    # shares of customers (demand units), not of tokens: a provider's tokens include its usage factor;
    # the demand-weighted share of a segment's classes is Σ_n units_n·(units_n / D_n) / Σ_n units_n
    # (units / D) · units rather than units² / D: squared token counts overflow long before the tokens do
    units_squared = segment_sums(world, kernel.safe_divide(cleared.first_choice, tokens.demand[..., None])
                                 * cleared.first_choice)
    first_units = tokens.first_choice / tokens.usage_by_segment
    own_share = kernel.safe_divide(units_squared / tokens.usage_by_segment / tokens.usage_by_segment, first_units)
    # and of its nest (the closed labs' or the fringe's): Σ_n units_n·(units_n / nest units_n) / Σ_n units_n
    cell_units = kernel.safe_divide(cleared.first_choice, tokens.usage)
    members = token_market.nest_members(world.nest_of)
    nest_units = token_market.nest_sums(cell_units, members) @ members.T  # (one term per output: exact)
    nest_share = kernel.safe_divide(segment_sums(world, cell_units * kernel.safe_divide(cell_units, nest_units)),
                                    segment_sums(world, cell_units))

    # utilisation and costs of the serving fleets
    reachable = kernel.safe_divide(tokens.serving_share, tokens.peak)
    watts = accounts.watts
    capacity_charge = kernel.safe_divide(accounts.capacity_cost_usd / DT_YEARS, watts)
    segment_reach = 1.0 / world.segment_peak  # (S, K)
    marginal = kernel.marginal_cost_usd_per_mtok(
        energy_usd_per_w_year=world.energy_usd_per_w_year[:, None, None],
        idle_power_fraction=cfg["world"]["idle_power_fraction"][:, None, None],
        capacity_charge_usd_per_w_year=capacity_charge[:, None, :n_prov],
        tpwy=supply.tpwy[:, None, :n_prov],
        reachable_utilization=segment_reach[:, :, None], compute_per_token=phi)

    # paid tokens turned away (the spot market's bids)
    rejected = tokens.asked - tokens.served  # (S, K, P) tokens
    paid_rejected = priced_sums(world, rejected * phi)  # in compute tokens, as capacity is
    # what they would have paid: a plan's tokens valued at its fees per token used
    rejected_value = priced_sums(world, rejected * per_token(paid_usd_per_mtok(world, tokens, st.price)))

    return Observation(
        step=t,
        watts=watts,
        owned_watts=accounts.owned_watts,
        leased_out_watts=accounts.leased_out_watts + leases.pending_out(t),
        tpwy=supply.tpwy,
        serving_capacity=tokens.capacity,
        serving_reach=1.0 / tokens.peak,
        reachable=reachable,
        training_share=supply.training_share,
        owned_cost_per_watt_year=accounts.owned_cost_per_watt_year,
        operated_by_hardware=supply.operated,
        served_compute=served_compute,
        served_tokens=tokens.served,
        asked_compute=asked_compute,
        first_choice_compute=_with_routed(tokens, world.fringe_column),
        own_share=own_share,
        nest_share=nest_share,
        open_task_share=tokens.open_task_share,
        marginal_cost_usd_per_mtok=marginal,
        rejected_paid_tokens=paid_rejected,
        paid_price_usd_per_token=kernel.safe_divide(rejected_value, paid_rejected),
        revenue_per_paid_compute_token=kernel.safe_divide(
            accounts.token_revenue_usd[:, :n_prov], priced_sums(world, served_by_segment)),
        revenue_usd=accounts.revenue_usd,
        operating_cash_flow_usd=accounts.operating_cash_flow_usd,
        lease_income_usd=accounts.lease_income_usd,
        outlays_usd=accounts.outlays_usd,
        cash_usd=st.cash.copy(),
    )


def _with_routed(tokens: TokenMonth, fringe: int):
    """(S, K, P) compute asked by first choices, the tasks closed labs' customers route to the fringe counted as
    the fringe's (they are demand the market must serve: the order books' tightness counts them)."""
    out = tokens.first_choice * tokens.phi_by_segment
    out[:, :, fringe] += tokens.routed_asked * tokens.phi_by_segment[:, :, fringe]
    return out
