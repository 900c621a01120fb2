"""The supply side of a month, as the model's methods: the fleets' vintages (builds, replacements, the
newest hardware on sale), lease roll-overs, the serving stack's multiplier, and each agent's watts and
tokens capacity. ``WattyearModel`` takes them as a mixin, so agents keep calling ``model.add_build``,
``model.newest_hardware``, ``model.new_watt_tpwy`` and ``model.cheapest_contract_rent``."""

from __future__ import annotations

import numpy as np

from wattyear.agents import Hyperscaler
from wattyear.sim import kernel
from wattyear.sim.fleet import REPLACEMENT_LEAD_MONTHS
from wattyear.sim.units import DT_YEARS, SECONDS_PER_YEAR, month_index

#: operated watts below this are rounding errors of a lessor that let everything it owns, and count as none
MICROWATT = 1e-6
#: ... as are operated watts below this share of all an agent owns (one ulp of 15 GW is 2e-6 W)
ROUNDING_SHARE = 1e-9


class Supply:
    """Fleets, leases and capacity: the methods ``WattyearModel`` steps the supply side with."""

    def _add_vintage(self, column: int, hardware: str, watts, start_step: int, order_step: int | None = None,
                     replacement: bool = False):
        hw = self.config["hardware"][hardware]
        return self.fleet.add(column, self.hardware_ids.index(hardware), watts, start_step, hw["life_years"] * 12,
                              hw["capex_usd_per_w"], order_step=order_step, replacement=replacement)

    def newest_hardware(self, family: str, t: int) -> str:
        """The latest generation of ``family`` on sale in month ``t`` (ties: the one listed later in the config)."""
        key = (family, t)
        if key not in self._newest:
            self._newest[key] = self._find_newest(family, t)
        return self._newest[key]

    def _find_newest(self, family: str, t: int) -> str:
        """Ties (the same first month on sale) go to the one listed last in the config: the choice
        sets the fleet's rows, so it must not depend on numbers that differ between scenarios."""
        hw = self.config["hardware"]
        on_sale = [h for h in self.hardware_ids
                   if hw[h]["family"] == family and month_index(hw[h]["available_from"], self.start) <= t]
        if not on_sale:
            on_sale = [h for h in self.hardware_ids if hw[h]["family"] == family]
        return max(on_sale, key=lambda h: (month_index(hw[h]["available_from"], self.start),
                                           self.hardware_ids.index(h)))

    def add_build(self, column: int, hardware: str, watts, order_step: int, lead_months: int) -> int:
        """Order a cluster: paid over ``lead_months``, in service after them."""
        return self._add_vintage(column, hardware, watts, order_step + lead_months, order_step=order_step)

    def _renew_fleet(self, t: int) -> None:
        """Replacements of retiring vintages; lease roll-overs, which a lab that is
        failed or short of its runway lets lapse."""
        if self.config["world"]["replace_retiring"]:
            # a replacement is ordered a year before the vintage retires, so its capex is spread
            lead = REPLACEMENT_LEAD_MONTHS
            rows = self.fleet.retiring(t + lead)
            if t == 0:  # vintages retiring within the first year are replaced on time too
                rows = np.concatenate([self.fleet.retiring(k) for k in range(0, lead + 1)])
            for row in rows:
                retires = int(self.fleet.end_step[row])
                family = self.config["hardware"][self.hardware_ids[self.fleet.hardware[row]]]["family"]
                self._add_vintage(int(self.fleet.owner[row]), self.newest_hardware(family, t),
                                  self.fleet.watts[:, row], retires, order_step=min(t, retires - 1),
                                  replacement=True)
        lapse = np.zeros(self.state.cash.shape, dtype=bool)
        for lab in self.labs:
            short = self.state.cash[:, lab.column] < 0 if t == 0 else lab.in_distress()
            lapse[:, lab.column] = self.state.failed[:, lab.lab_index] | short
        nan = np.full(self.n_scenarios, np.nan)
        rents = np.stack([a.rent_usd_per_w_year(t) if isinstance(a, Hyperscaler) else nan
                          for a in self.ledger_agents], axis=1)  # (S, A)
        self.leases.renew_expiring(t, lapse=lapse, rent_now=rents)

    def serving_multiplier_at(self, step: int) -> np.ndarray:
        """(S,) m(t) of the serving stack in month ``step`` (do not modify the result)."""
        if step not in self._multipliers:
            w = self.config["world"]
            self._multipliers[step] = kernel.serving_multiplier(
                w["serving_multiplier"], w["serving_multiplier_growth_per_year"],
                w["serving_multiplier_halflife_years"], np.full(self.n_scenarios, step * DT_YEARS))
        return self._multipliers[step]

    def new_watt_tpwy(self, hardware: dict, step: int) -> np.ndarray:
        """Flagship tokens a watt of ``hardware`` yields a year at full load in month ``step``."""
        return hardware["tokens_per_joule"] * SECONDS_PER_YEAR * self.serving_multiplier_at(step)

    def cheapest_contract_rent(self, t: int) -> np.ndarray:
        """(S,) the lowest rent a hyperscaler asks for capacity built to suit from month ``t``, $/W-yr."""
        if not self.hyperscalers:
            return np.full(self.n_scenarios, np.inf)
        return np.min(np.stack([h.rent_usd_per_w_year(t) for h in self.hyperscalers]), axis=0)

    def _supply(self, t: int) -> dict[str, np.ndarray]:
        """Watts and tokens capacity of every agent in month ``t``."""
        st = self.state
        owned = self.fleet.owned_watts(t)
        lease_flows = self.leases.flows(t, owned)
        leased_out, leased_in = lease_flows["leased_out"], lease_flows["leased_in"]
        # a lessor that lets all it owns can come out a rounding error off zero: below a microwatt is none
        operated = owned - leased_out + leased_in
        floor = np.maximum(MICROWATT, ROUNDING_SHARE * owned.sum(axis=1, keepdims=True))
        operated = np.where(operated > floor, operated, 0.0)
        operated[:, self.fringe_hardware, self.fringe.column] += st.fringe_watts
        capacity_year = kernel.tokens_capacity_per_year(operated, self.tokens_per_joule[:, :, None],
                                                        self.model_efficiency, st.serving_multiplier[:, None])
        watts = operated.sum(axis=1)
        training = np.zeros(watts.shape)
        for lab in self.labs:
            training[:, lab.column] = lab.training_share(operated[:, :, lab.column], self.training_efficiency)
        return {"owned": owned, "leased_out": leased_out, "leased_in": leased_in, "operated": operated,
                "rent_paid_usd_per_year": lease_flows["rent_paid_usd_per_year"],
                "rent_received_usd_per_year": lease_flows["rent_received_usd_per_year"],
                "watts": watts, "capacity_year": capacity_year, "training_share": training,
                "tpwy": kernel.tokens_per_watt_year(capacity_year, watts)}
