"""What every owner of watts does alike: plan the watts it will have, order builds, price a new watt."""

from __future__ import annotations

import numpy as np

from wattyear.sim import investment, kernel
from wattyear.sim.fleet import REPLACEMENT_LEAD_MONTHS
from wattyear.sim.records import BuildOrder, LeaseAsk

def fewest_over(watts_at, start: int, months: int) -> np.ndarray:
    """(S,) the fewest of ``watts_at(step)`` over the ``months`` from ``start``, read at their start, middle and
    last month (what a lease of that term can be let from: a vintage retiring within it, or watts promised to a
    contract that starts within it, cannot be let for it)."""
    return np.minimum.reduce([watts_at(step) for step in (start, start + months // 2, start + months - 1)])


class CapacityOwner:
    """Mixin for agents that own watts and build (labs, hyperscalers, the publisher).

    ``order_build`` orders a build of the newest hardware of the owner's
    family, paid over ``build_lead_months`` and in service after them, within
    the power it can secure (``power_secured_w_per_year`` less what it ordered
    in the last 12 months).
    """

    def family(self) -> str:
        """The hardware family it builds (its starting hardware's)."""
        try:
            return self._family
        except AttributeError:
            self._family = self.world.hardware.family(self.profile["hardware"])
            return self._family

    def newest_hardware(self, t: int) -> dict:
        return self.world.hardware[self.world.hardware.newest(self.family(), t)]

    def power_budget(self, t: int) -> np.ndarray:
        """(S,) watts it can still order this year: its secured power, growing with
        ``world.power_growth_per_year``, less what it ordered in the last 12 months."""
        ordered = self.model.fleet.ordered_between(t - 11, t, growth_only=True)[:, self.column]
        growth = kernel.grown(self.world.config["world"]["power_growth_per_year"], t / 12)
        return np.maximum(self.profile.get("power_secured_w_per_year", 0.0) * growth - ordered, 0.0)

    def planned_watts(self, step: int) -> np.ndarray:
        """(S,) watts it will operate at ``step`` as things stand: owned in service then
        (builds under way included), plus leases in, less leases out, counting
        leases marked to renew as renewed and signed commitments as delivered."""
        model, c = self.model, self.column
        owned = self.owned_then(step)
        return owned + model.leases.nominal_watts(step, c, "lessee") - model.leases.nominal_watts(step, c, "lessor")

    def owned_then(self, step: int) -> np.ndarray:
        """(S,) watts it will own in service at ``step``, counting the vintages that retire before
        then and will be replaced but whose replacement is not ordered yet (it is ordered
        ``REPLACEMENT_LEAD_MONTHS`` ahead of retirement, later than a build lead time ahead)."""
        model, c, t = self.model, self.column, self.model.steps - 1
        owned = model.fleet.owned_by_owner(step)[:, c]
        if self.world.config["world"]["replace_retiring"] and step > t + REPLACEMENT_LEAD_MONTHS:
            owned = owned + model.fleet.retiring_between(t + REPLACEMENT_LEAD_MONTHS + 1, step)[:, c]
        return owned

    def replacement_share(self, retire_step: int, retiring: np.ndarray) -> np.ndarray:
        """(S,) share of its ``retiring`` watts (S,) leaving service in month ``retire_step`` it replaces:
        what it needs then (``needed_watts``) less what it will have without them, over them, in [0, 1]
        (an owner that still needs the watts rebuilds them with the newest generation; one that no longer
        does lets them retire)."""
        wanted = self.needed_watts(retire_step) - self.held_watts(retire_step)
        keep = np.clip(kernel.safe_divide(wanted, retiring), 0.0, 1.0)
        return np.where(np.isinf(wanted), 1.0, keep)

    def short_ask(self, full: np.ndarray, price: np.ndarray, spare_for) -> tuple[LeaseAsk, ...]:
        """The short spot offer beside its full-term one (``full`` watts, (S,)): what ``spare_for(months)``
        says it has spare over ``world.short_lease_term_months`` beyond ``full``, at the same ``price``, for that
        term; none where short leases are off or no shorter than its own term."""
        months = self.world.config["world"]["short_lease_term_months"]
        if not 0 < months < self.profile["lease_term_months"]:
            return ()
        return (LeaseAsk(self.column, np.maximum(spare_for(months) - full, 0.0), price, months),)

    def held_watts(self, step: int) -> np.ndarray:
        """(S,) the watts set against its need at ``step``: those it will operate (``planned_watts``)."""
        return self.planned_watts(step)

    def needed_watts(self, step: int) -> np.ndarray:
        """(S,) watts it needs at ``step`` by its latest plan (inf: no plan yet, it keeps what it has)."""
        return np.full(self.model.n_scenarios, np.inf)

    def order_build(self, watts: np.ndarray, t: int) -> tuple[BuildOrder, ...]:
        """An order of ``watts`` (S,) of its newest hardware now, in service after its lead time (none
        where it orders no watts in any scenario)."""
        if not np.any(watts > 0):
            return ()
        return (BuildOrder(self.column, self.world.hardware.newest(self.family(), t), watts, t,
                           self.profile["build_lead_months"]),)

    def next_cluster_capex_usd(self, t: int) -> np.ndarray:
        """(S,) capex of the next cluster its build rule plans, at the newest hardware's capex per W."""
        return self.model.state.next_cluster_watts[:, self.column] * self.newest_hardware(t)["capex_usd_per_w"]

    def builds_its_own(self) -> np.ndarray:
        """(S,) bool: it pays for new watts by building them (an owner with power to build on)."""
        return np.ones(self.model.n_scenarios, dtype=bool)

    def next_cluster_cost_usd_per_year(self, t: int) -> np.ndarray:
        """(S,) what its next cluster costs a year as it would pay for it (``world.next_cluster_pricing``):
        capex spread over its build lead time for an owner that builds; a year of the cheapest contract
        rent for one that leases (``builds_its_own`` false); build capex for every owner under
        ``build_capex``."""
        build = self.next_cluster_capex_usd(t) / (self.profile["build_lead_months"] / 12.0)
        if self.world.config["world"]["next_cluster_pricing"] == "build_capex":
            return build
        rent = self.model.cheapest_contract_rent(t)  # (inf in a world with nobody to lease from: it builds)
        leased = self.model.state.next_cluster_watts[:, self.column] * np.where(np.isfinite(rent), rent, 0.0)
        return np.where(self.builds_its_own() | ~np.isfinite(rent), build, leased)

    def annual_cost_usd_per_w_year(self, hardware: dict, rate=None) -> np.ndarray:
        """(S,) what a watt of ``hardware`` it builds costs it a year: the equivalent annual cost of its capex
        (``investment.equivalent_annual_cost_usd_per_w_year``) at its cost of capital (or ``rate``) over its
        build lead and life, plus site opex."""
        return np.broadcast_to(investment.equivalent_annual_cost_usd_per_w_year(
            hardware["capex_usd_per_w"], hardware["life_years"], self.profile["cost_of_capital"] if rate is None
            else rate, self.profile["build_lead_months"] / 12, self.world.config["world"]["site_opex_usd_per_w_year"]),
            (self.model.n_scenarios,))

    def build_cost_usd_per_w_year(self, t: int, anyway: bool = False) -> np.ndarray:
        """(S,) what a watt of its newest hardware ordered now costs it a year (``annual_cost_usd_per_w_year``);
        inf for an owner with no power of its own to build on (``builds_its_own`` false) unless ``anyway``."""
        cost = self.annual_cost_usd_per_w_year(self.newest_hardware(t))
        return cost.copy() if anyway else np.where(self.builds_its_own(), cost, np.inf)

    def build_pays(self, revenue_usd_per_w_year, t: int) -> np.ndarray:
        """Whether a new watt of its newest hardware earning ``revenue_usd_per_w_year`` (net of the
        energy it draws) has a positive NPV at its cost of capital, after site opex."""
        hw = self.newest_hardware(t)
        margin = np.asarray(revenue_usd_per_w_year, float) - self.world.config["world"]["site_opex_usd_per_w_year"]
        return investment.npv_per_watt(margin,
                                   hw["capex_usd_per_w"], hw["life_years"], self.profile["cost_of_capital"],
                                   self.profile["build_lead_months"] / 12) > 0
