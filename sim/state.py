"""The arrays the model steps: every one has a leading scenario axis S.

A single run has S = 1. The same arrays with S > 1 step an ensemble of
scenarios through the same code (see ``docs/model.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WorldState:
    """Mutable state of the world; shapes use S scenarios, A ledger agents,
    P providers (labs then the fringe: provider p is ledger column p),
    L labs, K segments, N demand cells."""

    cash: np.ndarray  #: (S, A) $
    quality: np.ndarray  #: (S, P) index
    price: np.ndarray  #: (S, K, P) $/Mtok
    prev_share: np.ndarray  #: (S, N, P) share of each cell's demand served last month
    run_compute: np.ndarray  #: (S, L) reference watt-years toward the next run
    last_run_compute: np.ndarray  #: (S, L) reference watt-years of the last run
    customers: np.ndarray  #: (S, K)
    tokens_per_customer: np.ndarray  #: (S, K) tokens per customer per month
    demand_shock: np.ndarray  #: (S, K) AR(1) log shock
    fringe_watts: np.ndarray  #: (S,)
    serving_multiplier: np.ndarray  #: (S,)
    largest_cluster: np.ndarray  #: (S, A) W of each owner's largest cluster in service
    outside_capital: np.ndarray  #: (S, A) $ raised from outside since the start
    raised: np.ndarray  #: (S, A) $ raised this month
    invested: np.ndarray  #: (S, A) $ a partner put into labs this month
    ocf_history: np.ndarray  #: (S, 12, A) operating cash flow of the last 12 months, newest last
    unmet_bid_watts: np.ndarray  #: (S, L) watts each lab bid for last month and did not get
    unmet_bid_price: np.ndarray  #: (S, L) the rent it bid, $/W-yr
    price_index: np.ndarray  #: (S, K) share-weighted price each segment paid last month, $/Mtok
    price_index_start: np.ndarray  #: (S, K) the same at the start
