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
    outside_capital: np.ndarray  #: (S, A) $ raised from outside since the start
    raised: np.ndarray  #: (S, A) $ raised this month
    invested: np.ndarray  #: (S, A) $ a partner put into labs this month (negative: a parent took cash back)
    returned: np.ndarray  #: (S, A) $ paid out to owners this month (cash no plan needs)
    written_off: np.ndarray  #: (S, A) $ of a failing lab's unpaid bills its creditors wrote off this month
    debt: np.ndarray  #: (S, A) $ owed by hyperscalers and the publisher (they borrow rather than hold negative cash)
    ocf_history: np.ndarray  #: (S, 12, A) operating cash flow of the last 12 months, newest last
    outlays_history: np.ndarray  #: (S, 12, A) cash costs and capex of the last 12 months
    replacement_capex_history: np.ndarray  #: (S, 12, A) capex on replacements of the last 12 months
    revenue_history: np.ndarray  #: (S, 13, A) revenue of the last 13 months (growth over a year), newest last
    first_choice_history: np.ndarray  #: (S, 15, P) compute tokens of each provider's first-choice customers, newest last
    failed: np.ndarray  #: (S, L) bool: the lab has failed (out of the market for good)
    generations: np.ndarray  #: (S, L) training runs completed since the start
    last_round_step: np.ndarray  #: (S, L) month of the lab's last funding round
    next_cluster_watts: np.ndarray  #: (S, A) watts of the next cluster each owner's build rule plans
    shadow_price: np.ndarray  #: (S, K, P) capacity premium in each lab's target price, $/Mtok
