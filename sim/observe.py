"""From a month's books to what every agent sees: the ``Observation``.

The token market's outcome (by customer class) is summed to segments and
providers; costs are turned into each provider's marginal cost of a token in
each segment (``kernel.marginal_cost_usd_per_mtok``); demand-weighted logit
shares give each lab's own-price elasticity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from agents.observation import Observation
from sim import kernel
from sim.units import DT_YEARS, TOKENS_PER_MTOK


class TokenMonth(NamedTuple):
    """One month of the token market, by customer class."""

    customers: np.ndarray  #: (S, N)
    demand: np.ndarray  #: (S, N) tokens wanted
    cleared: object  #: ``token_market.Clearing``
    phi: np.ndarray  #: (S, N, P) compute per token
    usage: np.ndarray  #: (S, N, P) tokens per unit of demand at each provider's price
    usage_by_segment: np.ndarray  #: (S, K, P) the same by segment
    peak: np.ndarray  #: (S, P) peak-to-average of the load each provider serves
    serving_share: np.ndarray  #: (S, P) share of operated watts serving (not training)
    capacity: np.ndarray  #: (S, P) compute tokens each provider can serve this month


def segment_sums(model, values: np.ndarray) -> np.ndarray:
    """Sum (S, N, ...) cell values into (S, K, ...) segments (contiguous slices, order-fixed)."""
    return np.stack([kernel.sum_cells(values, seg.cells) for seg in model.segments], axis=1)


def observe(model, t: int, supply: dict, tokens: TokenMonth, metrics: dict) -> Observation:
    """Build month ``t``'s observation from its supply, token market and books."""
    st, cfg, n_prov = model.state, model.config, model.n_providers
    cleared = tokens.cleared

    # demand by segment and provider, in compute
    asked_compute = segment_sums(model, cleared.asked * tokens.phi)  # (S, K, P)
    served_compute = (cleared.served * tokens.phi).sum(axis=1)  # (S, P)
    # shares of customers (demand units), not of tokens: a provider's tokens include its usage factor
    first_units = kernel.safe_divide(cleared.first_choice, tokens.usage)
    first_share = kernel.safe_divide(first_units, tokens.demand[..., None])
    own_share = kernel.safe_divide(segment_sums(model, first_units * first_share), segment_sums(model, first_units))

    # utilisation and costs of the serving fleets
    reachable = kernel.safe_divide(tokens.serving_share, tokens.peak)
    watts = metrics["watts"]
    capacity_charge = kernel.safe_divide(metrics["capacity_cost_usd"] / DT_YEARS, watts)
    segment_reach = 1.0 / model.segment_peak  # (S, K)
    phi_segment = model.compute_per_token()  # (S, K, P)
    marginal = kernel.marginal_cost_usd_per_mtok(
        energy_usd_per_w_year=model.energy_usd_per_w_year[:, None, None],
        idle_power_fraction=cfg["world"]["idle_power_fraction"][:, None, None],
        capacity_charge_usd_per_w_year=capacity_charge[:, None, :n_prov],
        tpwy=supply["tpwy"][:, None, :n_prov],
        reachable_utilization=segment_reach[:, :, None], compute_per_token=phi_segment)

    # paid tokens turned away (the spot market's bids)
    priced_cells = model.segment_priced[0][model.cell_segment]
    cell_price = st.price[:, model.cell_segment, :] / TOKENS_PER_MTOK
    rejected = cleared.asked - cleared.served
    paid_rejected = kernel.sum_cells(rejected * tokens.phi, priced_cells)  # in compute tokens, as capacity is
    rejected_value = kernel.sum_cells(rejected * cell_price, priced_cells)

    return Observation(
        step=t,
        watts=watts,
        owned_watts=metrics["owned_watts"],
        leased_out_watts=metrics["leased_out_watts"] + model.leases.pending_out(t),
        tpwy=supply["tpwy"],
        serving_capacity=tokens.capacity,
        serving_reach=1.0 / tokens.peak,
        reachable=reachable,
        training_share=supply["training_share"],
        owned_cost_per_watt_year=metrics["owned_cost_per_watt_year"],
        served_compute=served_compute,
        asked_compute=asked_compute,
        first_choice_compute=segment_sums(model, cleared.first_choice * tokens.phi),
        own_share=own_share,
        marginal_cost_usd_per_mtok=marginal,
        rejected_paid_tokens=paid_rejected,
        paid_price_usd_per_token=kernel.safe_divide(rejected_value, paid_rejected),
        revenue_per_paid_compute_token=kernel.safe_divide(
            metrics["token_revenue_usd"][:, :n_prov], kernel.sum_cells(cleared.served * tokens.phi, priced_cells)),
        revenue_usd=metrics["revenue_usd"],
        operating_cash_flow_usd=metrics["operating_cash_flow_usd"],
        outlays_usd=metrics["outlays_usd"],
        cash_usd=st.cash.copy(),
    )
