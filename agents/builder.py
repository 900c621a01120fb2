"""Capacity decisions shared by owners of watts: build the next cluster, price spare watts."""

from __future__ import annotations

import numpy as np


class CapacityOwner:
    """Mixin for agents that own watts and build clusters (labs, hyperscalers).

    ``plan_capacity`` orders a cluster when ``want`` says so (shape (S,)), if
    none is under construction and the year's power budget allows: size =
    min(g_cluster × largest cluster, power still unsecured in the last 12
    months). The cluster uses the newest hardware of the owner's family, is
    paid over the build lead time and enters service after it.
    """

    def family(self) -> str:
        return self.model.config["hardware"][self.profile["hardware"]]["family"]

    def plan_capacity(self, t: int, want: np.ndarray) -> None:
        p, model = self.profile, self.model
        if p["power_secured_w_per_year"] <= 0 or not np.any(want):
            return
        fleet = model.fleet
        building = fleet.under_construction(t)[:, self.column] > 0
        ordered = fleet.ordered_between(t - 11, t)[:, self.column]
        budget = np.maximum(p["power_secured_w_per_year"] - ordered, 0.0)
        largest = model.state.largest_cluster[:, self.column]
        target = np.where(largest > 0, p["cluster_multiple"] * largest, budget)
        size = np.where(want & ~building, np.minimum(target, budget), 0.0)
        if np.any(size > 0):
            hardware = model.newest_hardware(self.family(), t)
            model.add_build(self.column, hardware, size, order_step=t, lead_months=p["build_lead_months"])

    def next_cluster_capex_usd(self, t: int) -> np.ndarray:
        from sim.capital_market import next_cluster_capex_usd

        hw = self.model.config["hardware"][self.model.newest_hardware(self.family(), t)]
        return next_cluster_capex_usd(self.model.state.largest_cluster[:, self.column],
                                      self.profile["cluster_multiple"], hw["capex_usd_per_w"])
