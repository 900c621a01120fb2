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
