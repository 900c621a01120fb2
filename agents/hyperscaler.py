"""Hyperscalers: Google, Microsoft, Amazon (and neoclouds), profiles from config."""

from __future__ import annotations

import numpy as np

from wattyear.agents.base import EconomicAgent
from wattyear.agents.builder import CapacityOwner, fewest_over
from wattyear.sim import kernel
from wattyear.sim.supply import PIPELINE_LAST_ORDER
from wattyear.sim.records import BuildOrder, CapacityPlan, CashSettlement, LeaseAsk, NewLease, Observation
from wattyear.sim.units import DT_YEARS


class Hyperscaler(CapacityOwner, EconomicAgent):
    """A cloud landlord: owns watts, rents them to labs and to other cloud customers.

    It is paid whichever lab wins: rent from its leases, equity stakes in labs
    (``stakes``: a share of their operating profit, reported, not cash) and a
    business AI may threaten (``business_revenue_usd_per_year``, of which
    ``ai_substitution`` is lost when rival chatbots serve all consumer AI use).

    Decisions:

    * ``business_month``: its business outside the token market this month,
      less what rivals' chatbots took of it (Search at risk).
    * ``rent_usd_per_w_year``: its asking rent follows the hardware it would
      build now: the watt's equivalent annual cost at its cost of capital
      (capex carried over the build lead, repaid over the watt's life, plus
      site opex) × (1 + its markup), the markup set so that its starting
      hardware rents at ``cloud_rent_usd_per_w_year`` at the cost of capital
      at which that rent was observed (``rent_cost_of_capital``).
      Energy is passed through to whoever operates the watts.
    * ``capacity_asks``: spot offers of watts neither let nor used by other
      cloud customers.
    * ``plan_capacity``: builds so that at the end of its lead time it owns
      what it has let (commitments and renewals included) plus other cloud
      customers' demand, and at least a quarter of its programme (an order
      rate that moves toward its need a year further on over
      ``capex_adjustment_months``), if a new watt pays at its cost of capital.
    * ``build_to_suit``: a lab's contract — a lease from the end of its lead
      time, from watts it will have spare then, the rest built now.
    * ``commit_capacity``: a partner's committed cloud spend becomes a lease.
    * ``settle``: borrows (recorded debt, with interest) rather than hold
      negative cash, repays when it can, returns cash beyond its buffer.
    """

    kind = "hyperscaler"

    def __init__(self, model, agent_id, profile, column):
        super().__init__(model, agent_id, profile, column)
        self.third_party_start = np.zeros(1)  #: (S,) other customers' watts at the start, set by the model
        self._rents: dict[int, np.ndarray] = {}
        self._third_party: dict[int, np.ndarray] = {}  #: other customers' watts by month (start set once)
        self._own_labs: list[int] | None = None  #: ledger columns of the labs it owns
        self._programme: np.ndarray | None = None  #: (S,) its build programme's order rate, W/month

    @property
    def rent_markup(self) -> np.ndarray:
        """Markup of its rent over the annual cost of a watt of its starting hardware at the cost of capital at
        which its rent was observed (``rent_cost_of_capital``; −1: its ``cost_of_capital``): a scenario's dearer
        capital then raises its rent."""
        p = self.profile
        reference = np.where(np.asarray(p["rent_cost_of_capital"]) < 0, p["cost_of_capital"], p["rent_cost_of_capital"])
        starting = self.world.hardware[p["hardware"]]
        return p["cloud_rent_usd_per_w_year"] / self.annual_cost_usd_per_w_year(starting, reference) - 1.0

    def rent_usd_per_w_year(self, t: int) -> np.ndarray:
        """(S,) asking rent for a watt leased from month ``t`` (do not modify the result)."""
        if t not in self._rents:
            self._rents[t] = (self.annual_cost_usd_per_w_year(self.newest_hardware(t))
                              * (1.0 + self.rent_markup))
        return self._rents[t]

    def third_party_watts(self, step: int) -> np.ndarray:
        """(S,) watts other cloud customers rent in month ``step``: their demand at the start, grown at
        ``third_party_growth_per_year`` whose log rate halves every ``third_party_growth_halflife_years``
        (0: compounding for ever), as the serving-stack gains (``kernel.serving_multiplier``). Do not
        modify the result."""
        if step not in self._third_party:
            p = self.profile
            if not np.any(p["third_party_growth_halflife_years"]):  # (results made before the half-life kept)
                growth = kernel.grown(p["third_party_growth_per_year"], step * DT_YEARS)
            else:
                growth = kernel.serving_multiplier(1.0, p["third_party_growth_per_year"],
                                                   p["third_party_growth_halflife_years"], step * DT_YEARS)
            self._third_party[step] = self.third_party_start * growth
        return self._third_party[step]

    def revenue_at_risk_usd(self, consumer_served: np.ndarray, step: int) -> np.ndarray:
        """Business revenue lost this month, shape (S,): ``ai_substitution`` of it times the share of
        consumer AI tokens (``consumer_served``, (S, P) by provider) served by chatbots other than
        those of the labs it owns."""
        if self._own_labs is None:
            cfg = self.world.config
            self._own_labs = [self.world.column(lab) for lab in self.world.lab_ids
                              if cfg["labs"][lab]["owner"] == self.agent_id]
        total = consumer_served.sum(axis=1)
        rival_share = kernel.safe_divide(total - consumer_served[:, self._own_labs].sum(axis=1), total)
        return self.business_revenue_usd(step) * self.profile["ai_substitution"] * rival_share

    def business_revenue_usd(self, step: int) -> np.ndarray:
        p = self.profile
        return p["business_revenue_usd_per_year"] / 12 * kernel.grown(p["business_growth_per_year"], step / 12)

    def capacity_asks(self, obs: Observation) -> tuple[LeaseAsk, ...]:
        """Spot offers at its rent: the watts it will have spare over the whole term of a lease signed now
        (``spare_then`` from ``world.lease_lead_months`` on), so a spot lease never takes watts promised to a
        contract that starts later; and, for ``world.short_lease_term_months``, the further watts spare that
        long but not for its full term (``short_ask``)."""
        start = obs.step + self.world.config["world"]["lease_lead_months"]
        full = self.spare_then(start)
        rent = self.rent_usd_per_w_year(obs.step).copy()
        return (LeaseAsk(self.column, full, rent, self.profile["lease_term_months"]),
                *self.short_ask(full, rent, lambda months: self.spare_then(start, months)))

    def held_watts(self, step: int) -> np.ndarray:
        """(S,) the watts set against its need: those it will own (it lets them, it does not operate them)."""
        return self.owned_then(step)

    def needed_watts(self, step: int) -> np.ndarray:
        """(S,) watts it needs at ``step``: what it has let then (contracts, commitments and renewals
        counted) plus other cloud customers' watts."""
        return self.model.leases.nominal_watts(step, self.column, "lessor") + self.third_party_watts(step)

    def plan_capacity(self, obs: Observation) -> CapacityPlan:
        """Builds for what it has let and other customers' growth (its programme), and the watts it can
        still build to suit labs this year, (S,) (the clearing adds what it will have spare, ``spare_then``).

        It orders the larger of the gap at the end of its lead time (what it has let there plus other
        customers, less what it will own) and a quarter of its programme (``programme_w_per_month``),
        within its power, where a new watt pays at its cost of capital."""
        t, c = obs.step, self.column
        every = self.world.config["world"]["plan_every_months"]
        horizon = t + self.profile["build_lead_months"]
        owned = self.owned_then(horizon)
        gap = np.maximum(self.needed_watts(horizon) - owned, 0.0)
        pays = self.build_pays(self.rent_usd_per_w_year(t), t)
        budget = self.power_budget(t)
        programme = self.programme_w_per_month(t, horizon, owned, every)
        order = np.where(pays, np.minimum(np.maximum(gap, programme * every), budget), 0.0)
        return CapacityPlan(c, self.order_build(order, t),
                            next_cluster_watts=np.maximum(gap, self.world.config["world"]["next_cluster_floor_share"]
                                                          * obs.owned_watts[:, c]),
                            can_build_to_suit_watts=np.where(pays, budget - order, 0.0))

    def programme_w_per_month(self, t: int, horizon: int, owned: np.ndarray, every: int) -> np.ndarray:
        """(S,) its build programme's order rate, W/month, revised at a plan in month ``t``.

        Its first year's orders are its capex guidance (``pipeline_w_per_year``, booked at the start).
        After it, the rate moves toward the one that meets its need a year past its lead time
        (``needed_watts``: let plus other customers) from what it will own at the end of its lead,
        ordered over that year, by ``every``/``capex_adjustment_months`` of the difference at each plan
        (partial adjustment: capex guided a year ahead and revised each quarter, as adjustment costs
        make it; 0 months: no programme beyond the gap at the horizon)."""
        p = self.profile
        if self._programme is None:
            self._programme = np.broadcast_to(np.asarray(p["pipeline_w_per_year"], float) / 12.0,
                                              (self.model.n_scenarios,)).copy()
        adjust = np.asarray(p["capex_adjustment_months"], float)
        if t <= PIPELINE_LAST_ORDER or not np.any(adjust > 0):
            return np.zeros(self.model.n_scenarios)
        wanted = np.maximum(self.needed_watts(horizon + 12) - owned, 0.0) / 12.0
        share = np.where(adjust > 0, np.minimum(every / np.where(adjust > 0, adjust, 1.0), 1.0), 1.0)
        self._programme = np.where(adjust > 0, self._programme + share * (wanted - self._programme), 0.0)
        return self._programme

    def replacement_share(self, retire_step: int, retiring: np.ndarray) -> np.ndarray:
        """(S,) share of its ``retiring`` watts it replaces: what it needs without them at their retirement or at
        any point of a lease term after it (start, middle, end), over them, in [0, 1]: watts promised to a
        contract that starts soon after a vintage retires are rebuilt, not let twice."""
        term = self.profile["lease_term_months"]
        short = fewest_over(lambda step: self.held_watts(step) - self.needed_watts(step), retire_step, term)
        return np.clip(kernel.safe_divide(-short, retiring), 0.0, 1.0)

    def spare_then(self, start: int, term: int | None = None) -> np.ndarray:
        """(S,) watts it will own and neither have let nor need for other customers from ``start`` through a
        lease of ``term`` months (its lease term by default), at its start, middle and end: a vintage retiring
        unreplaced within it cannot be let, nor can watts promised to a contract that starts later."""
        term = self.profile["lease_term_months"] if term is None else term
        return fewest_over(lambda step: np.maximum(self.owned_then(step) - self.needed_watts(step), 0.0), start, term)

    def build_to_suit(self, lab_column: int, lab_id: str, watts: np.ndarray,
                      t: int) -> tuple[tuple[BuildOrder, ...], NewLease | None]:
        """A lab's capacity contract: ``watts`` (S,) let from the end of its build lead time, from what it
        will have spare then (``spare_then``: its programme's watts) and, for the rest, built now."""
        if not np.any(watts > 0):
            return (), None
        p = self.profile
        build = np.maximum(watts - self.spare_then(t + p["build_lead_months"]), 0.0)
        return self.order_build(build, t), NewLease(self.column, lab_column, watts, t + p["build_lead_months"],
                                                    p["lease_term_months"], self.rent_usd_per_w_year(t),
                                                    f"{lab_id} contract", renew=True)

    def commit_capacity(self, lab_column: int, lab_id: str, commitment_usd: np.ndarray, months: int,
                        t: int) -> tuple[np.ndarray, NewLease | None]:
        """A lease to the lab worth ``commitment_usd`` over ``months`` at its rent, as far as its spare
        watts over those months go (``spare_then``); the watts leased, shape (S,), and the lease (None where it
        has none to spare)."""
        c = self.column
        rent = self.rent_usd_per_w_year(t)
        wanted = kernel.safe_divide(commitment_usd, rent * months / 12)
        watts = np.minimum(wanted, self.spare_then(t + 1, months))
        if not np.any(watts > 0):
            return watts, None
        return watts, NewLease(c, lab_column, watts, t + 1, months, rent, f"{lab_id} commitment", renew=False)

    def settle(self, obs: Observation) -> CashSettlement:
        return self.settle_cash(self.profile["cash_buffer_months"])
