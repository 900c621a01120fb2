"""Hyperscalers: Google, Microsoft, Amazon (and neoclouds), profiles from config."""

from __future__ import annotations

import numpy as np

from agents.base import EconomicAgent
from agents.builder import CapacityOwner


class Hyperscaler(CapacityOwner, EconomicAgent):
    """A cloud landlord: owns watts, rents them to labs and to other customers.

    It is paid whichever lab wins: rent from its leases, equity stakes in labs
    (``stakes``: a share of their operating profit, reported, not cash) and a
    business AI may threaten (``business_revenue_usd_per_year``, of which
    ``ai_substitution`` is lost when rival chatbots serve all consumer AI use).

    Decisions: ``capacity_ask`` offers its spare cloud watts (those neither let
    to labs nor used by other customers) at its cloud rent; ``plan_capacity``
    builds when labs' bids went unmet; ``commit_capacity`` turns a partner's
    committed cloud spend into a lease.
    """

    kind = "hyperscaler"

    def revenue_at_risk_usd(self, rival_consumer_share: np.ndarray, step: int) -> np.ndarray:
        """Business revenue lost this month, shape (S,)."""
        return self.business_revenue_usd(step) * self.profile["ai_substitution"] * rival_consumer_share

    def business_revenue_usd(self, step: int) -> float:
        p = self.profile
        return p["business_revenue_usd_per_year"] / 12 * (1 + p["business_growth_per_year"]) ** (step / 12)

    def capacity_ask(self, ctx) -> tuple[np.ndarray, np.ndarray]:
        c, p = self.column, self.profile
        unleased = np.maximum(ctx["owned_watts"][:, c] - ctx["leased_out_watts"][:, c], 0.0)
        spare = unleased * (1 - p["third_party_utilization"])
        return spare, np.full(spare.shape, p["cloud_rent_usd_per_w_year"])

    def commit_capacity(self, lab, commitment_usd: np.ndarray, months: int, t: int) -> np.ndarray:
        """Lease watts to ``lab`` worth ``commitment_usd`` over ``months`` at its cloud rent,
        as far as its spare watts go; return the watts leased, shape (S,)."""
        model, c, p = self.model, self.column, self.profile
        rent = p["cloud_rent_usd_per_w_year"]
        wanted = commitment_usd / (rent * months / 12) if rent > 0 else np.zeros_like(commitment_usd)
        owned_next = model.fleet.owned_watts(t + 1)
        let = model.leases.let_watts(t + 1, owned_next)[:, c]
        spare = np.maximum(owned_next.sum(axis=1)[:, c] - let, 0.0) * (1 - p["third_party_utilization"])
        watts = np.minimum(wanted, spare)
        if np.any(watts > 0):
            model.leases.add(c, lab.column, watts, t + 1, months, rent, note=f"{lab.agent_id} commitment",
                             renew=False)
        return watts
