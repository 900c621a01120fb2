"""Meta as open-weights publisher, and the fringe of providers serving its models."""

from __future__ import annotations

import numpy as np

from agents.base import EconomicAgent
from sim.units import TOKENS_PER_MTOK


class OpenWeightsPublisher(EconomicAgent):
    """Releases open weights on a cadence at a fraction q of the frontier.

    ``maybe_release``: when a release is due, the open-weights quality becomes
    q × (the best lab quality ``lag_months`` ago), and the one-time training
    cost is paid. Ads (not threatened by AI) and rising talent cost are booked
    by the model's accounting.
    """

    kind = "open_weights"

    def __init__(self, model, agent_id, profile, column):
        super().__init__(model, agent_id, profile, column)
        self.next_release = profile["next_release_month"]
        self.releases: list[int] = []

    def maybe_release(self, step: int) -> np.ndarray:
        """Release if due; return the training cost paid this month, shape (S,)."""
        st, p = self.model.state, self.profile
        s = st.cash.shape[0]
        if step < self.next_release:
            return np.zeros(s)
        frontier = self.model.frontier_quality_at(step - p["lag_months"])
        st.quality[:, self.model.fringe.column] = p["quality_fraction"] * frontier
        self.next_release += p["release_every_months"]
        self.releases.append(step)
        return np.full(s, p["training_cost_usd"])


class OpenWeightsFringe(EconomicAgent):
    """The competitive fringe of inference providers serving open weights.

    It rents its watts (``rent_usd_per_w_year``, all-in) and prices at cost per
    token at its planning utilisation plus a thin margin: the price pressure
    on closed labs. Its price is the same in every priced segment.
    """

    kind = "fringe"

    def enter_or_exit(self, utilization: np.ndarray) -> None:
        """Free entry: watts grow when busier than planned, shrink when idler.

        w' = w · (1 + entry_speed · (u / u_plan − 1)), the step bounded to ±50%.
        """
        p = self.profile
        gap = np.clip(utilization / p["planning_utilization"] - 1.0, -0.5, 0.5)
        self.model.state.fringe_watts *= 1.0 + p["entry_speed"] * gap

    def set_price(self, tpwy: np.ndarray) -> None:
        """Cost-plus price from this month's tokens per watt-year, shape (S,).

        A fringe with no watts has no cost per token to price from; it keeps
        its last price (it serves nothing, so the price is never charged).
        """
        st, p, c = self.model.state, self.profile, self.column
        usd_per_token = np.divide(p["rent_usd_per_w_year"], tpwy * p["planning_utilization"],
                                  out=np.zeros(tpwy.shape), where=tpwy > 0)
        price = usd_per_token * (1 + p["margin"]) * TOKENS_PER_MTOK
        new = np.where(self.model.segment_priced, price[:, None], 0.0)
        st.price[:, :, c] = np.where((tpwy > 0)[:, None], new, st.price[:, :, c])
