"""From a month's books to what every agent sees: the ``Observation``.

The token market's outcome (by customer class) is summed to segments and
providers; costs are turned into each provider's marginal cost of a token in
each segment (``kernel.marginal_cost_usd_per_mtok``); demand-weighted logit
shares give each lab's own-price elasticity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from wattyear.agents.observation import Observation
from wattyear.sim import kernel
from wattyear.sim.units import DT_YEARS, per_token


class TokenMonth(NamedTuple):
    """One month of the token market, by customer class, and its sums by segment (each taken once).

    Prices, compute per token and usage are the same for every class of a
    segment, so tokens summed by segment times the segment's value give the
    compute, spend and customers by segment without another pass over classes.
    """

    customers: np.ndarray  #: (S, N)
    demand: np.ndarray  #: (S, N) tokens wanted
    cleared: object  #: ``token_market.Clearing``
    phi: np.ndarray  #: (S, N, P) compute per token
    usage: np.ndarray  #: (S, N, P) tokens per unit of demand at each provider's price
    usage_by_segment: np.ndarray  #: (S, K, P) the same by segment
    peak: np.ndarray  #: (S, P) peak-to-average of the load each provider serves
    serving_share: np.ndarray  #: (S, P) share of operated watts serving (not training)
    capacity: np.ndarray  #: (S, P) compute tokens each provider can serve this month
    phi_by_segment: np.ndarray  #: (S, K, P) compute per token by segment
    asked: np.ndarray  #: (S, K, P) tokens asked of each provider (spill-over included), by segment
    served: np.ndarray  #: (S, K, P) tokens served, by segment
    first_choice: np.ndarray  #: (S, K, P) tokens asked by first choices, by segment

    @property
    def served_compute(self) -> np.ndarray:
        """(S, K, P) compute tokens served, by segment."""
        return self.served * self.phi_by_segment


def segment_sums(model, values: np.ndarray) -> np.ndarray:
    """Sum (S, N, ...) cell values into (S, K, ...) segments.

    One ``np.add.reduceat`` over the segments' contiguous runs of cells: its
    order of summation within a segment depends on the segment's length, never
    on the number of scenarios, so each scenario's sums are those of its single
    run.
    """
    return np.add.reduceat(np.ascontiguousarray(values), model.segment_starts, axis=1)


def priced_sums(model, by_segment: np.ndarray) -> np.ndarray:
    """(S, K, P) segment sums to (S, P) over the priced segments (free ones add exact zeros)."""
    return (by_segment * model.segment_priced[:, :, None]).sum(axis=1)


def observe(model, t: int, supply: dict, tokens: TokenMonth, metrics: dict) -> Observation:
    """Build month ``t``'s observation from its supply, token market and books."""
    st, cfg, n_prov = model.state, model.config, model.n_providers
    cleared = tokens.cleared

    # demand by segment and provider, in compute
    phi = tokens.phi_by_segment
    asked_compute = tokens.asked * phi  # (S, K, P)
    served_by_segment = tokens.served_compute
    served_compute = served_by_segment.sum(axis=1)  # (S, P)
    # shares of customers (demand units), not of tokens: a provider's tokens include its usage factor;
    # the demand-weighted share of a segment's classes is Σ_n units_n·(units_n / D_n) / Σ_n units_n
    # (units / D) · units rather than units² / D: squared token counts overflow long before the tokens do
    units_squared = segment_sums(model, kernel.safe_divide(cleared.first_choice, tokens.demand[..., None])
                                 * cleared.first_choice)
    first_units = tokens.first_choice / tokens.usage_by_segment
    own_share = kernel.safe_divide(units_squared / tokens.usage_by_segment / tokens.usage_by_segment, first_units)

    # utilisation and costs of the serving fleets
    reachable = kernel.safe_divide(tokens.serving_share, tokens.peak)
    watts = metrics["watts"]
    capacity_charge = kernel.safe_divide(metrics["capacity_cost_usd"] / DT_YEARS, watts)
    segment_reach = 1.0 / model.segment_peak  # (S, K)
    marginal = kernel.marginal_cost_usd_per_mtok(
        energy_usd_per_w_year=model.energy_usd_per_w_year[:, None, None],
        idle_power_fraction=cfg["world"]["idle_power_fraction"][:, None, None],
        capacity_charge_usd_per_w_year=capacity_charge[:, None, :n_prov],
        tpwy=supply["tpwy"][:, None, :n_prov],
        reachable_utilization=segment_reach[:, :, None], compute_per_token=phi)

    # paid tokens turned away (the spot market's bids)
    rejected = tokens.asked - tokens.served  # (S, K, P) tokens
    paid_rejected = priced_sums(model, rejected * phi)  # in compute tokens, as capacity is
    rejected_value = priced_sums(model, per_token(rejected * st.price))

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
        first_choice_compute=tokens.first_choice * phi,
        own_share=own_share,
        marginal_cost_usd_per_mtok=marginal,
        rejected_paid_tokens=paid_rejected,
        paid_price_usd_per_token=kernel.safe_divide(rejected_value, paid_rejected),
        revenue_per_paid_compute_token=kernel.safe_divide(
            metrics["token_revenue_usd"][:, :n_prov], priced_sums(model, served_by_segment)),
        revenue_usd=metrics["revenue_usd"],
        operating_cash_flow_usd=metrics["operating_cash_flow_usd"],
        outlays_usd=metrics["outlays_usd"],
        cash_usd=st.cash.copy(),
    )
