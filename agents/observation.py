"""What agents see when they decide: one typed observation a month, arrays with the scenario axis.

The model fills it after the token market and the books are closed; every
decision rule (prices, training, capacity plans, bids, asks, raises) reads it
and the model's state, never the output log. Shapes: S scenarios, A ledger
agents (labs, fringe, hyperscalers, publisher; an agent's ``column``), P
providers (labs then the fringe: the first P ledger columns), K segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Observation:
    """One month's market outcome, as every agent sees it."""

    step: int  #: month index of the month just booked (0 = start)
    # supply
    watts: np.ndarray  #: (S, A) watts operated
    owned_watts: np.ndarray  #: (S, A) watts owned and in service
    leased_out_watts: np.ndarray  #: (S, A) let now or promised (signed, not started)
    tpwy: np.ndarray  #: (S, A) tokens per watt-year of the operated fleet (compute units: flagship tokens)
    serving_capacity: np.ndarray  #: (S, P) compute tokens each provider could serve this month
    serving_reach: np.ndarray  #: (S, P) 1 / peak-to-average of the load it serves
    reachable: np.ndarray  #: (S, P) highest utilisation of all its watts it could reach serving
    training_share: np.ndarray  #: (S, A) share of operated watts on training this month
    owned_cost_per_watt_year: np.ndarray  #: (S, A) full cost of an owned watt
    # token market
    served_compute: np.ndarray  #: (S, P) compute tokens served
    asked_compute: np.ndarray  #: (S, K, P) compute tokens customers asked of each provider (spill-over included)
    first_choice_compute: np.ndarray  #: (S, K, P) compute tokens of the customers who chose it first (no spill-over)
    own_share: np.ndarray  #: (S, K, P) demand-weighted logit share of each provider (Σ d·s² / Σ d·s)
    marginal_cost_usd_per_mtok: np.ndarray  #: (S, K, P) cost of serving one more Mtok in each segment
    rejected_paid_tokens: np.ndarray  #: (S, P) compute tokens of the paid tokens turned away
    paid_price_usd_per_token: np.ndarray  #: (S, P) what the paid tokens turned away would have paid, per compute token
    revenue_per_paid_compute_token: np.ndarray  #: (S, P) token revenue over compute tokens served to payers
    # books
    revenue_usd: np.ndarray  #: (S, A) this month
    operating_cash_flow_usd: np.ndarray  #: (S, A) this month
    outlays_usd: np.ndarray  #: (S, A) cash costs and capex this month (what a cash buffer must cover)
    cash_usd: np.ndarray  #: (S, A) after this month's books, before raises

