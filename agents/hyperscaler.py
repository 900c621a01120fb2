"""Hyperscalers: Google, Microsoft, Amazon (and neoclouds), profiles from config."""

from __future__ import annotations

import numpy as np

from agents.base import EconomicAgent


class Hyperscaler(EconomicAgent):
    """A cloud landlord: owns watts, rents them to labs and to other customers.

    It is paid whichever lab wins: rent from its leases, equity stakes in labs
    (``stakes``: a share of their operating profit, reported, not cash) and a
    business AI may threaten (``business_revenue_usd_per_year``, of which
    ``ai_substitution`` is lost when rival chatbots serve all consumer AI use).
    """

    kind = "hyperscaler"

    def revenue_at_risk_usd(self, rival_consumer_share: np.ndarray, step: int) -> np.ndarray:
        """Business revenue lost this month, shape (S,)."""
        return self.business_revenue_usd(step) * self.profile["ai_substitution"] * rival_consumer_share

    def business_revenue_usd(self, step: int) -> float:
        p = self.profile
        return p["business_revenue_usd_per_year"] / 12 * (1 + p["business_growth_per_year"]) ** (step / 12)

    @property
    def stake_income_usd(self) -> float:
        return self._metric("stake_income_usd")
