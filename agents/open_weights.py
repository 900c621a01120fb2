"""Meta as open-weights publisher, and the fringe of providers serving its models."""

from __future__ import annotations

import numpy as np

from wattyear.agents.base import EconomicAgent
from wattyear.agents.builder import CapacityOwner
from wattyear.sim import kernel
from wattyear.sim.supply import fringe_rent_usd_per_w_year
from wattyear.sim.records import BuildOrder, CapacityPlan, CashSettlement, FringeEntry, FringePrice, Observation, \
    Release
from wattyear.sim.units import DT_YEARS, per_mtok

#: the publisher orders a quarter's capex at a time (fewer, larger vintages; an assumption)
ORDER_MONTHS = 3

#: months of outlays the publisher's AI budget keeps as cash before returning the rest (an assumption)
PUBLISHER_BUFFER_MONTHS = 12


class OpenWeightsPublisher(CapacityOwner, EconomicAgent):
    """Releases open weights on a cadence at a fraction q of the frontier.

    ``release``: when a release is due, the open weights the fringe serves
    become q × (the best lab quality ``lag_months`` ago; this month's with no
    lag), and the one-time training cost is paid. Each scenario keeps its own
    calendar (its cadence, first release and lag are per-scenario numbers).
    ``plan_capacity``: AI capex (ads ranking, training) as a share of its ad
    revenue, on the newest GPUs. Ads (not threatened by AI) and rising talent
    cost are booked by the model's accounting.
    """

    kind = "open_weights"

    def __init__(self, model, agent_id, profile, column):
        super().__init__(model, agent_id, profile, column)
        self.next_release = np.array(profile["next_release_month"])  #: (S,) month of each scenario's next release

    def release(self, step: int) -> Release:
        """Release where due (and move its calendar on); ``Release.cost_usd`` is the training cost
        paid this month, shape (S,)."""
        p = self.profile
        due = step >= self.next_release
        if not np.any(due):
            return Release(due, None, np.zeros(self.world.n_scenarios))
        frontier = self.model.frontier_quality_at(step - p["lag_months"])
        self.next_release = np.where(due, self.next_release + p["release_every_months"], self.next_release)
        return Release(due, kernel.release_quality(p["quality_fraction"], frontier),
                       np.where(due, p["training_cost_usd"], 0.0))

    def ad_revenue_usd(self, step: int) -> np.ndarray:
        """Its ad revenue in month ``step``, $ (not threatened by AI)."""
        p = self.profile
        return p["ad_revenue_usd_per_year"] * kernel.grown(p["ad_growth_per_year"], step * DT_YEARS) * DT_YEARS

    def plan_capacity(self, obs: Observation) -> CapacityPlan:
        """Order ``capex_share_of_ads`` of its ad revenue as new watts (the share halving every
        ``capex_share_halflife_years``, if set), a quarter's worth at the start of each quarter."""
        p = self.profile
        # in the first month, also the orders of the year before the start still being paid for
        if obs.step == 0:
            months = range(-(p["build_lead_months"] // ORDER_MONTHS - 1) * ORDER_MONTHS, 1, ORDER_MONTHS)
        elif obs.step % ORDER_MONTHS == 0:
            months = (obs.step,)
        else:
            months = ()
        builds = []
        for t in months:
            fade = kernel.halved(max(t, 0) * DT_YEARS, p["capex_share_halflife_years"])
            capex = p["capex_share_of_ads"] * fade * self.ad_revenue_usd(t) * ORDER_MONTHS
            hw = self.world.hardware.newest(self.family(), obs.step)
            watts = capex / self.world.hardware[hw]["capex_usd_per_w"]
            builds.append(BuildOrder(self.column, hw, watts, t, p["build_lead_months"]))
        return CapacityPlan(self.column, tuple(builds))

    def power_budget(self, t: int) -> np.ndarray:
        return np.full(self.world.n_scenarios, np.inf)

    def settle(self, obs: Observation) -> CashSettlement:
        return self.settle_cash(PUBLISHER_BUFFER_MONTHS)


class OpenWeightsFringe(EconomicAgent):
    """The competitive fringe of inference providers serving open weights.

    It rents its watts (``rent_usd_per_w_year``), pays their energy, and prices at cost per
    token at its planning utilisation plus a thin margin: the price pressure
    on closed labs. Its price is the same in every priced segment.
    """

    kind = "fringe"

    def enter_or_exit(self, obs: Observation) -> FringeEntry:
        """Free entry: watts grow when busier than planned, shrink when idler.

        w' = w · (1 + entry_speed · g), g = u / u_plan − 1 bounded to ±0.5 (so a
        month's step is at most ±entry_speed/2), u being its utilisation this month.
        """
        p, c = self.profile, self.column
        utilization = kernel.safe_divide(obs.served_compute[:, c] * 12.0, obs.tpwy[:, c] * obs.watts[:, c])
        gap = np.clip(utilization / p["planning_utilization"] - 1.0, -0.5, 0.5)
        return FringeEntry(1.0 + p["entry_speed"] * gap, self.hardware_mix(obs))

    def hardware_mix(self, obs: Observation) -> np.ndarray:
        """(S, H) next month's spread of its watts over the hardware: a first-order lag, with mean delay
        ``hardware_lag_months``, toward the mix the rest of the market operates.

        Inference providers rent what the market has to rent: the installed base, itself one to two
        years behind the newest generation (clusters are bought over years and kept five or six), and
        they reach it with a lag. So its cost per token follows the market's hardware smoothly, instead
        of resting on one configured generation (whose choice decided the open share)."""
        st = self.model.state
        others = np.delete(obs.operated_by_hardware, self.column, axis=2).sum(axis=2)  # (S, H)
        total = others.sum(axis=1, keepdims=True)
        market = np.divide(others, total, out=st.fringe_mix.copy(), where=total > 0)
        lag = np.maximum(self.profile["hardware_lag_months"], 1.0)[:, None]
        return st.fringe_mix + (market - st.fringe_mix) / lag

    def settle(self, obs: Observation) -> CashSettlement:
        return self.settle_cash(PUBLISHER_BUFFER_MONTHS)

    def set_price(self, tpwy: np.ndarray, compute_per_token: np.ndarray) -> FringePrice:
        """Cost-plus price in every priced segment from this month's tokens per watt-year, shape (S,).

        ``tpwy`` is in tokens of its own (smaller) models at their starting
        quality; ``compute_per_token`` (S,) scales it for the quality of the
        weights it serves now. A watt costs it its rent and the energy it draws at
        the planning utilisation, so its cost per token is
        (rent + e·(f + (1 − f)·u_plan)) · φ / (TPWY · u_plan).

        A fringe with no watts has no cost per token to price from; it keeps
        its last price (it serves nothing, so the price is never charged).
        """
        p, world = self.profile, self.world
        u, f = p["planning_utilization"], world.config["world"]["idle_power_fraction"]
        rent = fringe_rent_usd_per_w_year(world, self.model.state.fringe_mix)
        per_watt = rent + world.energy_usd_per_w_year * (f + (1 - f) * u)
        usd_per_token = np.divide(per_watt * compute_per_token, tpwy * u, out=np.zeros(tpwy.shape), where=tpwy > 0)
        price = per_mtok(usd_per_token * (1 + p["margin"]))
        # a plan sold by the month at the same cost plus margin: the tokens a subscriber uses a month
        per_plan = usd_per_token[:, None] * (1 + p["margin"])[:, None] * self.model.state.tokens_per_customer
        price = np.where(world.segment_by_plan, per_plan, price[:, None])
        return FringePrice(np.where(world.segment_priced, price, 0.0), tpwy > 0)
