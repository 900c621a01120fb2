"""Frontier labs: OpenAI, Anthropic, xAI, Google's Gemini unit (profiles from config)."""

from __future__ import annotations

import numpy as np

from wattyear.agents.base import EconomicAgent
from wattyear.agents.builder import CapacityOwner, fewest_over
from wattyear.sim import capital_market, investment, kernel, lease_market, pricing
from wattyear.sim.records import CapacityPlan, Distress, FreeTierRouting, LeaseAsk, LeaseBid, Observation, Payout, \
    Prices, Raise, TrainingStep
from wattyear.sim.schema import FundingSource
from wattyear.sim.units import DT_YEARS, month_index, per_token

#: the largest price rise a rate-limited lab would consider to bring demand down to
#: its capacity (a bound for the Kreps–Scheinkman solve, not a typical value; an assumption)
MAX_CAPACITY_PRICE_MULTIPLIER = 4.0

#: months averaged at each end of the year over which a lab measures its demand growth (an assumption)
SMOOTHING_MONTHS = 3

#: a lab whose cash covers fewer months of burn than this after raising is in distress: it stops
#: its builds under way and lets leases lapse (an assumption: about one quarter)
DISTRESS_MONTHS = 3



def yearly_growth(history: np.ndarray, step: int, cap) -> np.ndarray:
    """(S,) yearly growth of a (S, months) history (newest last) over up to its last 12 months, with
    ``SMOOTHING_MONTHS`` averages at both ends (a quality release or a rival's outage moves demand in a
    step, not a year's growth), clipped to [0, ``cap``]: owners plan for growth, not for a shrinking
    market (a dip does not sell clusters). 0 in month 0.

    >>> yearly_growth(np.array([[1.0] * 3 + [2.0] * 12]), 20, 5.0).round(6).tolist()
    [1.0]
    """
    back = min(step, history.shape[1] - SMOOTHING_MONTHS)
    if back <= 0:
        return np.zeros(history.shape[0])
    now = history[:, -SMOOTHING_MONTHS:].mean(axis=1)
    then = history[:, -SMOOTHING_MONTHS - back:history.shape[1] - back].mean(axis=1)
    ratio = kernel.safe_divide(now, then)
    growth = np.where(ratio > 0, np.maximum(ratio, 1e-12) ** (12.0 / back) - 1.0, 0.0)
    return np.clip(growth, 0.0, cap)


class FrontierLab(CapacityOwner, EconomicAgent):
    """A lab that trains models, serves tokens, prices them and races for compute.

    Decisions each month, each whole in its method (equations in ``docs/model.md``):

    * ``training_share`` and ``train``: the training plan. A run needs g× the
      compute of the last over ``run_months``, capped at ``max_training_share``
      of its watts; the compute its training watts give it a month goes toward
      the run; on completion quality rises by κ·ln g (plus noise).
    * ``set_prices``: per priced segment, part of the way toward its
      Bertrand–Nash best response to rivals' current prices under logit demand
      (the Lerner rule with its own-price elasticity), raised toward the
      capacity-clearing price when it is rate-limited (Kreps–Scheinkman).
    * ``plan_capacity``: the race for compute. Watts needed at the end of the
      build lead time = forecast demand served at reachable utilisation plus
      its training share; the gap is built (within secured power, if a new
      watt's NPV at its cost of capital is positive and it can fund it) or
      contracted from hyperscalers (built to suit, take-or-pay).
    * ``capacity_bid`` / ``capacity_asks``: the spot lease market — rate-limited
      labs bid for the watts that would serve the paid tokens they turned away,
      less those already signed for that arrive within the lease lead time;
      idle labs offer idle owned watts at cost × (1 + markup).
    * ``renewal_share``: at the end of a lease's term it renews the share of
      the watts its capacity plan still needs; a lab that has failed or is
      short of runway (``lets_leases_lapse``) lets them all lapse.
    * ``raise_capital``: when cash covers fewer than ``runway_months`` of burn,
      a round of up to ``raise_months`` of burn, no larger than
      ``round_fraction`` of its valuation and no sooner than
      ``months_between_rounds`` after the last; a lab that ends a month with
      negative cash fails. Cash beyond ``cash_buffer_months`` of outlays is
      returned to its owners (``settle``, then ``payout``).
    """

    kind = "lab"

    def __init__(self, model, agent_id, profile, column, lab_index):
        super().__init__(model, agent_id, profile, column)
        self.lab_index = lab_index  #: row in the (S, L) lab arrays of the state
        self._burn_key: tuple = ()
        self._burn = np.zeros(0)

    # ------------------------------------------------------------ training
    def training_share(self, operated_by_hardware: np.ndarray, training_efficiency: np.ndarray) -> np.ndarray:
        """Share of its operated watts on training this month, shape (S,).

        The next run needs g × the last run's compute (reference watt-years)
        over ``run_months``; its watts are that rate over the fleet's training
        efficiency, capped at ``max_training_share``. A failed lab trains nothing.
        """
        st, i = self.model.state, self.lab_index
        watts = operated_by_hardware.sum(axis=1)
        efficiency = kernel.safe_divide((operated_by_hardware * training_efficiency).sum(axis=1), watts)
        share = kernel.training_share(self.next_run_rate(), efficiency, watts, self.training_cap(self.model.steps - 1))
        return np.where((watts > 0) & ~st.failed[:, i], share, 0.0)

    def next_run_rate(self) -> np.ndarray:
        """(S,) reference watt-years a year the next run needs: g × the last run over ``run_months``."""
        p = self.profile
        return self.model.state.last_run_compute[:, self.lab_index] * p["generation_compute_multiple"] / (p["run_months"] / 12)

    def training_cap(self, step: int) -> np.ndarray:
        """(S,) most of its watts it puts on training in month ``step``: ``max_training_share`` moving
        toward ``long_run_training_share`` with ``world.training_shift_halflife_years``
        (inference grows to take most of the compute; a negative long-run share: no shift)."""
        p = self.profile
        half = self.world.config["world"]["training_shift_halflife_years"]
        longrun, most = p["long_run_training_share"], p["max_training_share"]
        shifted = longrun + (most - longrun) * kernel.halved(step * DT_YEARS, half)
        return np.where(longrun < 0, most, shifted)

    def train(self, obs: Observation) -> TrainingStep:
        """This month's training: the compute of its training watts (reference watt-years, the watts
        of each hardware times its training efficiency) goes toward the next run; where the run has
        its compute, quality rises by κ·ln g plus noise, drawn from the scenario's stream of run
        outcomes only where a run finished, as a single run would."""
        st, p, i, c = self.model.state, self.profile, self.lab_index, self.column
        compute = (obs.operated_by_hardware[:, :, c] * self.world.training_efficiency).sum(axis=1)
        run = st.run_compute[:, i] + compute * obs.training_share[:, c] * DT_YEARS
        needed = st.last_run_compute[:, i] * p["generation_compute_multiple"]
        done = run >= needed
        if not np.any(done):  # (most months: the run goes on, nothing else changes)
            return TrainingStep(c, i, run, None, None, done)
        noise = np.zeros(done.shape)
        for scenario in np.flatnonzero(done):
            noise[scenario] = p["quality_noise_sigma"][scenario] * self.model.run_generators[scenario].standard_normal()
        gain = p["quality_per_ln_compute"] * np.log(p["generation_compute_multiple"]) + noise
        return TrainingStep(c, i, np.where(done, run - needed, run), np.where(done, needed, st.last_run_compute[:, i]),
                            st.quality[:, c] + np.where(done, np.maximum(gain, 0.0), 0.0), done)

    # ------------------------------------------------------------ prices
    def set_prices(self, obs: Observation) -> Prices:
        """Move the price of each segment priced per token or by contract part of the way toward its best
        response; plans keep their monthly fees (the $20 plan has held since 2023: labs compete on what a
        plan includes, and a lab's plan fees change only by scenario).

        Best response (Lerner, nested logit): p* = c·η/(η − 1),
        η = β_p·(1/λ − (1/λ − 1)·s_(j|g) − s) + ε + (β_p/λ)·x (``pricing.own_price_elasticity``; x the
        share of its customers' tokens they route to open weights),
        markup capped at ``max_markup``. When customers asked more compute than
        it could serve, the price m·p that would bring demand down to capacity
        (Σ_k D_k·m^(−η_k) = K) is the capacity-constrained answer; the lab
        passes ``capacity_pricing`` of the excess over p* into its list price
        and rations the rest. Then p' = p + α·(target − p).
        """
        st, world, p, c = self.model.state, self.world, self.profile, self.column
        priced = world.segment_priced & ~world.segment_by_plan  # (1, K): plans keep their fees
        eta = pricing.own_price_elasticity(world.segment_beta_price, obs.own_share[:, :, c],
                                          world.segment_price_elasticity, obs.nest_share[:, :, c],
                                          world.segment_nest_scale, obs.open_task_share[:, :, c])
        best = pricing.best_response_price(obs.marginal_cost_usd_per_mtok[:, :, c], eta, p["max_markup"][:, None])
        price = st.price[:, :, c]
        multiplier = pricing.capacity_price_multiplier(obs.asked_compute[:, :, c], np.where(priced, eta, 0.0),
                                                      obs.serving_capacity[:, c], MAX_CAPACITY_PRICE_MULTIPLIER)
        clearing = price * multiplier[:, None]
        target = best + p["capacity_pricing"][:, None] * np.maximum(clearing - best, 0.0) * (multiplier[:, None] > 1.0)
        new = price + p["price_adjustment"][:, None] * (target - price)
        return Prices(c, np.where(priced, new, price), np.where(priced, target - best, 0.0))

    # ------------------------------------------------------------ free tier
    def free_tier_routing(self, obs: Observation) -> tuple[FreeTierRouting, ...]:
        """The model a lab owned by a business AI threatens gives its free users (Gemini and Search).

        Its owner loses V = business revenue × ``ai_substitution`` a month for each unit of consumer token
        share rival chatbots hold (``Hyperscaler.revenue_at_risk_usd``), so each free user its chatbot
        keeps is worth Search defended. In each free consumer segment the lab moves its routing ω (compute
        per free token, 1 = its flagship; quality θ·ln(ω) below the flagship's, θ =
        ``world.routing_quality_per_ln_compute``) part of the way (``price_adjustment``) toward
        ``kernel.search_defence_routing``: the ω where the Search a better free model defends equals what
        it costs, with its share s of free users, k = β_q·θ, and the cost
        of serving every consumer token at its flagship. Clipped to [its configured routing, 1]: the
        configured routing is the cheapest mix it would serve. A lab with no such owner keeps its
        configured routing (returns nothing)."""
        world, p = self.world, self.profile
        owner = p["owner"]
        if not owner:
            return ()
        hyper = self.model.by_id[owner]
        value = hyper.business_revenue_usd(obs.step) * hyper.profile["ai_substitution"]
        if not np.any(value > 0):
            return ()
        st, c = self.model.state, self.column
        theta = world.config["world"]["routing_quality_per_ln_compute"]
        consumer = world.consumer_segments
        # summed slice by slice: the same bits for a scenario whatever the ensemble around it
        consumer_tokens = kernel.sum_last(kernel.sum_axis1(np.ascontiguousarray(obs.served_tokens[:, consumer, :])))
        decisions = []
        for k in np.flatnonzero(consumer & ~world.segment_priced[0]):
            now = st.routing[:, k, c]
            flagship_cost = per_token(kernel.safe_divide(obs.marginal_cost_usd_per_mtok[:, k, c], now)) * consumer_tokens
            target = kernel.search_defence_routing(value, world.segment_beta_quality[:, k] * theta,
                                                   obs.own_share[:, k, c], flagship_cost)
            target = np.clip(target, world.segment_routing[:, k, c], 1.0)
            decisions.append(FreeTierRouting(c, int(k), now + p["price_adjustment"] * (target - now)))
        return tuple(decisions)

    def builds_its_own(self) -> np.ndarray:
        """(S,) bool: it has power of its own to build on (``power_secured_w_per_year`` > 0); a lab without
        leases its watts, and its next cluster costs it rent, not capex."""
        return np.broadcast_to(np.asarray(self.profile["power_secured_w_per_year"], float) > 0,
                               (self.model.n_scenarios,))

    def ad_revenue_usd(self, step: int, free_users_served: np.ndarray) -> np.ndarray:
        """(S,) this month's ads in its free tier: ``free_users_served`` (S,) × the ad revenue per free user,
        which rises linearly from 0 in ``ads_from_month`` to ``ads_usd_per_free_user_month`` over
        ``ads_ramp_years`` (advertisers' money, from outside the token market)."""
        p = self.profile
        since = step - month_index(p["ads_from_month"], self.world.config["run"]["start"])
        ramp = np.asarray(p["ads_ramp_years"], float) * 12.0
        matured = np.where(ramp > 0, np.clip(kernel.safe_divide(since + 1.0, ramp), 0.0, 1.0), 1.0)
        return free_users_served * p["ads_usd_per_free_user_month"] * matured * (since >= 0)

    # ------------------------------------------------------------ capacity
    def demand_growth(self, obs: Observation) -> np.ndarray:
        """Yearly growth of the compute its first-choice customers want, over up to the last 12 months, (S,).

        First choices, not all it was asked: customers who spilled over from a
        rate-limited rival are not a market to build for. Three-month averages
        at both ends, so a step (a release) is not read as a year's growth.

        Clipped to [0, ``world.max_forecast_growth_per_year``]: owners plan
        for growth, not for a shrinking market (a dip does not sell clusters).
        """
        return yearly_growth(self.model.state.first_choice_history[:, :, self.column], obs.step,
                             self.world.config["world"]["max_forecast_growth_per_year"])

    def plan_capacity(self, obs: Observation) -> CapacityPlan:
        """What the race needs: its own builds, the watts to contract from hyperscalers and the
        most it would pay for them a year, $/W-yr (what a new serving watt earns it), each (S,).

        Target at t + lead (in watts of the newest hardware it builds):

        Forecast demand: its first-choice customers' compute, at its level of
        the last ``SMOOTHING_MONTHS``, grown at ``demand_growth`` over the lead.

        * free tiers at forecast demand (they are how labs win payers and defend
          share: the usage-mix problem is that their compute must be bought);
        * paying demand at forecast × the newsvendor cover exp(σ·Φ⁻¹(1 − c/m))
          (``investment.newsvendor_cover``): a watt costing c a year is worth holding
          while the chance it is used exceeds c/m, where m is what a used watt
          earns over its energy, scaled down by how much looser the market will
          be at delivery (``model.market_tightness``: rivals' order books are
          public) and σ is ``world.demand_forecast_sigma_per_year`` over the lead;
        * the watts its next training run needs (``training_need``).

        The target is set at the cost of the watt it would add: the cheaper of
        a build (its equivalent annual cost at the lab's cost of capital, for a
        lab with power of its own) and the cheapest rent. The gap to what it
        will have then (owned, leased in, committed) is built where building is
        the cheaper, within secured power; the rest, up to the target at rent
        (smaller where rent is dearer), is contracted. All within what the lab can fund: cash plus the round
        investors would take, less a runway of burn and capex already committed.
        """
        st, p, c, world, t = self.model.state, self.profile, self.column, self.world, obs.step
        w = world.config["world"]
        lead = p["build_lead_months"]
        hw = self.newest_hardware(t)
        tpwy_new = world.hardware.new_watt_tpwy(hw, t + lead) * world.model_efficiency[:, c]
        per_watt_month = tpwy_new * DT_YEARS * obs.serving_reach[:, c]
        growth = self.demand_growth(obs)
        per_forecast_watt = kernel.safe_divide(kernel.grown(growth, lead / 12), per_watt_month)
        free = ~world.segment_priced[0]
        # from the level of the last SMOOTHING_MONTHS, split as this month's: a month's jump (a release, a
        # rival's outage) is not a level to build for
        first = obs.first_choice_compute[:, :, c]
        level = kernel.safe_divide(st.first_choice_history[:, -SMOOTHING_MONTHS:, c].mean(axis=1), first.sum(axis=1))
        free_need = first[:, free].sum(axis=1) * level * per_forecast_watt
        paid_need = first[:, ~free].sum(axis=1) * level * per_forecast_watt
        # its watts in watts of the newest hardware it plans with (a lab leasing another family's faster
        # hardware, or running older vintages, has more or fewer tokens a watt than a new watt of its own)
        new_now = world.hardware.new_watt_tpwy(hw, t) * world.model_efficiency[:, c]
        like_new = np.where(obs.watts[:, c] > 0, kernel.safe_divide(obs.tpwy[:, c], new_now), 1.0)
        planned = self.planned_watts(t + lead) * like_new
        # what a new serving watt earns a year over the energy it draws at reachable load, in the market
        # it will be delivered into
        margin = (obs.revenue_per_paid_compute_token[:, c] * obs.tpwy[:, c] * obs.serving_reach[:, c]
                  - kernel.energy_usd(1.0, world.energy_usd_per_w_year, obs.serving_reach[:, c],
                                      w["idle_power_fraction"], years=1.0))
        margin = margin * np.minimum(self.model.market_tightness(obs, lead), 1.0)
        rent = self.model.cheapest_contract_rent(t)
        build_cost = self.build_cost_usd_per_w_year(t)  # inf for a lab with no power of its own
        # the watt it would add: the cheaper of a build and a lease (with neither open, priced as a build)
        cheapest = np.minimum(build_cost, rent)
        cheapest = np.where(np.isfinite(cheapest), cheapest, self.build_cost_usd_per_w_year(t, anyway=True))
        sigma = w["demand_forecast_sigma_per_year"] * np.sqrt(lead / 12)
        failed = st.failed[:, self.lab_index]

        def target(cost):
            serving = free_need + paid_need * investment.newsvendor_cover(cost, margin, sigma)
            return np.where(failed, 0.0, serving + self.training_need(serving, hw))

        wanted = target(cheapest)
        budget = self.fundable_usd(obs)
        own = np.where(build_cost < rent, np.minimum(np.maximum(wanted - planned, 0.0), self.power_budget(t)), 0.0)
        own = np.minimum(own, np.maximum(budget, 0.0) / hw["capex_usd_per_w"])
        builds = self.order_build(own, t)
        budget = budget - own * hw["capex_usd_per_w"]
        contract = np.minimum(np.maximum(target(rent) - planned - own, 0.0),
                              kernel.safe_divide(np.maximum(budget, 0.0), rent))
        gap = np.maximum(wanted - planned, 0.0)
        floor = w["next_cluster_floor_share"] * obs.watts[:, c]
        return CapacityPlan(c, builds, next_cluster_watts=np.maximum(gap, floor),
                            contract_watts=np.maximum(contract, 0.0),
                            contract_value_usd_per_w_year=np.maximum(margin, 0.0),
                            target_watts=kernel.safe_divide(wanted, like_new))

    def training_need(self, serving_watts: np.ndarray, hardware: dict) -> np.ndarray:
        """Watts of ``hardware`` the next training run needs, (S,): g × the last run's
        compute over ``run_months``, at most ``max_training_share`` of the whole fleet
        (the race: a lab that cannot keep up trains longer and falls behind)."""
        p = self.profile
        rate = self.next_run_rate()
        share = self.training_cap(self.model.steps - 1 + p["build_lead_months"])
        cap = share / (1.0 - share) * serving_watts
        return np.minimum(rate / hardware["training_efficiency"], cap)

    def capacity_bid(self, obs: Observation) -> LeaseBid:
        """Spot market: watts wanted and the $/W-yr it would pay, each shape (S,).

        The watts that would have served the paid tokens it turned away, up to
        what a watt-year of them earns it, less the watts it has already signed
        for that arrive by the time a new lease would (``world.lease_lead_months``).
        """
        c = self.column
        watts = lease_market.shortfall_watts(obs.rejected_paid_tokens[:, c], obs.tpwy[:, c], obs.serving_reach[:, c])
        price = lease_market.willingness_to_pay(obs.paid_price_usd_per_token[:, c], obs.tpwy[:, c],
                                                obs.serving_reach[:, c])
        alive = ~self.model.state.failed[:, self.lab_index]
        pending = self.model.leases.pending_in(obs.step, within=self.world.config["world"]["lease_lead_months"])
        return LeaseBid(c, np.maximum(np.where(alive, watts, 0.0) - pending[:, c], 0.0), price)

    def lets_leases_lapse(self, t: int) -> np.ndarray:
        """(S,) bool: it lets its leases lapse at their renewal in month ``t``: it has failed, or is short of
        runway (at the start: its cash is negative)."""
        short = self.model.state.cash[:, self.column] < 0 if t == 0 else self.in_distress()
        return self.model.state.failed[:, self.lab_index] | short

    def needed_watts(self, step: int) -> np.ndarray:
        """(S,) watts its last capacity plan wants at the end of its lead time (inf before its first plan)."""
        return self.model.state.target_watts[:, self.column].copy()

    def renewal_share(self, t: int) -> np.ndarray:
        """(S,) share of the watts of its leases ending in month ``t`` it renews: what its last capacity plan
        wants at the end of its lead time (``target_watts``) less the fewest watts it will hold without them
        between now and then (now, half-way, at the end), over the expiring watts, within [0, 1]; none
        where it lets its leases lapse (``lets_leases_lapse``).
        A lessee sheds the watts it no longer needs at the end of their term (no penalty is due then)."""
        c = self.column
        expiring = self.model.leases.expiring_watts(t, c)
        if not np.any(expiring > 0):  # (most months: nothing of its ends)
            return np.where(self.lets_leases_lapse(t), 0.0, 1.0)
        # the watts it will hold without them from now to the end of its lead time, at their fewest: watts
        # still on their way do not serve the months before they arrive
        lead = self.profile["build_lead_months"]
        without = np.minimum.reduce([self.planned_watts(step) for step in (t, t + lead // 2, t + lead)]) - expiring
        wanted = self.needed_watts(t) - without
        keep = np.clip(kernel.safe_divide(wanted, expiring), 0.0, 1.0)
        keep = np.where(np.isinf(wanted), 1.0, keep)  # no plan yet: it renews what it has
        return np.where(self.lets_leases_lapse(t), 0.0, keep)

    def capacity_asks(self, obs: Observation) -> tuple[LeaseAsk, ...]:
        """Spot market: idle owned watts offered at its owned cost per W-yr × (1 + ``lease_markup``), each (S,).

        Idle watts are those not needed to serve this month's tokens at the
        reachable utilisation; only watts it owns and has not let can be let, and
        only those it will still own, not let, at the start, middle and end of
        the lease term (a vintage retiring within it cannot be let for it). Idle
        watts it holds for ``world.short_lease_term_months`` but not for its whole
        term (a vintage in its last year) are offered for that shorter term.
        """
        c, p = self.column, self.profile
        per_watt = obs.tpwy[:, c] * DT_YEARS * obs.reachable[:, c]
        needed = kernel.safe_divide(obs.served_compute[:, c], per_watt)
        idle = np.maximum(obs.watts[:, c] - needed, 0.0)
        free_owned = np.maximum(obs.owned_watts[:, c] - obs.leased_out_watts[:, c], 0.0)
        offered = np.minimum(idle * p["idle_offered"], free_owned)
        start = obs.step + self.world.config["world"]["lease_lead_months"]

        def spare_for(months):  # the idle watts it will still own, and not have let, over the months from start
            if not np.any(offered > 0):
                return offered
            return np.minimum(offered, fewest_over(
                lambda step: np.maximum(self.owned_then(step) - self.model.leases.nominal_watts(step, c, "lessor"), 0.0),
                start, months))

        full = spare_for(p["lease_term_months"])
        price = obs.owned_cost_per_watt_year[:, c] * (1 + p["lease_markup"])
        return (LeaseAsk(c, full, price, p["lease_term_months"]), *self.short_ask(full, price, spare_for))

    # ------------------------------------------------------------ finance
    def valuation_usd(self, obs: Observation) -> np.ndarray:
        """What investors would pay for the lab, (S,): revenue multiple × forward revenue.

        The multiple starts at ``revenue_multiple`` (its latest round) and
        reverts to ``world.mature_revenue_multiple``; forward revenue is the
        run-rate times one plus its growth over the last 12 months.
        """
        w = self.world.config["world"]
        history = self.model.state.revenue_history[:, :, self.column]
        back = min(obs.step, history.shape[1] - 1)
        growth = (kernel.safe_divide(history[:, -1], history[:, -1 - back]) ** (12.0 / back) - 1.0
                  if back else np.zeros(history.shape[0]))
        multiple = capital_market.revenue_multiple(self.profile["revenue_multiple"], w["mature_revenue_multiple"],
                                           w["multiple_halflife_years"], obs.step * DT_YEARS)
        return capital_market.valuation_usd(12.0 * obs.revenue_usd[:, self.column], growth, multiple)

    def has_parent(self, t: int) -> bool:
        """A parent company outside the model owns it in month ``t`` (``parent``, from ``parent_from_month``)."""
        p = self.profile
        return bool(p["parent"]) and month_index(p["parent_from_month"], self.world.start) <= t

    def parent_inflow_usd(self, t: int) -> np.ndarray:
        """(S,) what its parent sets aside for it in month ``t``: ``parent_funding_share`` of a month of the
        parent's cash flow (growing at ``parent_cash_flow_growth_per_year`` from the takeover), and in the
        month of the parent's IPO ``parent_ipo_share`` of its proceeds."""
        p, n = self.profile, self.model.n_scenarios
        if not self.has_parent(t):
            return np.zeros(n)
        since = t - month_index(p["parent_from_month"], self.world.start)
        monthly = (p["parent_funding_share"] * p["parent_cash_flow_usd_per_year"] / 12.0
                   * kernel.grown(p["parent_cash_flow_growth_per_year"], since / 12))
        ipo = p["parent_ipo_usd"] * p["parent_ipo_share"] * (month_index(p["parent_ipo_month"], self.world.start) == t)
        return np.broadcast_to(monthly + ipo, (n,)).astype(float)

    def round_cap_usd(self, obs: Observation) -> np.ndarray:
        """The largest round it could raise this month, (S,); unbounded for a lab a hyperscaler owns
        (its parent funds it and records any borrowing as debt); what its parent has set aside for it for a
        lab a parent company outside the model owns."""
        if self.profile["owner"]:
            return np.full(obs.cash_usd.shape[0], np.inf)
        if self.has_parent(obs.step):
            return self.model.state.parent_purse[:, self.lab_index].copy()
        st, p = self.model.state, self.profile
        allowed = obs.step - st.last_round_step[:, self.lab_index] >= p["months_between_rounds"]
        return np.where(allowed, self.valuation_usd(obs) * p["round_fraction"], 0.0)

    def burn_usd(self, step: int) -> np.ndarray:
        """Monthly burn at ``step``, (S,): the operating cash outflow of the last three months
        plus a month of the capex committed for the next year."""
        st, c, fleet = self.model.state, self.column, self.model.fleet
        key = (step, len(fleet.owner), fleet._edits, self.model.months_remembered)
        if self._burn_key != key:
            committed = fleet.capex_committed_usd(step, 12)[:, c] / 12
            months = min(step + 1, 3)  # the months since the start, at most three
            self._burn = capital_market.monthly_burn(st.ocf_history[:, -months:, c, None])[:, 0] + committed
            self._burn_key = key
        return self._burn.copy()

    def in_distress(self) -> np.ndarray:
        """(S,) cash covers fewer than ``DISTRESS_MONTHS`` of burn (and it has not failed)."""
        st = self.model.state
        return ((st.cash[:, self.column] < DISTRESS_MONTHS * self.burn_usd(self.model.steps - 1))
                & ~st.failed[:, self.lab_index])

    def fundable_usd(self, obs: Observation) -> np.ndarray:
        """Money it could put into new capacity now, (S,): cash and the round it could
        raise, less a runway of burn and the capex already committed for a year."""
        if self.profile["owner"]:
            return np.full(obs.cash_usd.shape[0], np.inf)
        c, p = self.column, self.profile
        committed = self.model.fleet.capex_committed_usd(obs.step, 12)[:, c]
        # the burn includes a month of committed capex; the rest of the year's commitment is set aside too
        return (obs.cash_usd[:, c] + self.round_cap_usd(obs) - p["runway_months"] * self.burn_usd(obs.step)
                - committed * (1 - p["runway_months"] / 12))

    def raise_capital(self, obs: Observation) -> tuple[Raise, ...]:
        """Raise outside money if the runway is short: a round of up to ``raise_months`` of burn,
        within ``round_fraction`` of its valuation, split over its open sources (investors of last
        resort where all are closed); one record per source. A lab a parent company owns draws on what
        its parent has set aside for it instead (one record, source ``parent``). The capital market books both sides
        (a cloud partner's money comes out of the partner's cash, and the committed share is spent
        back as a lease of its watts)."""
        st, p, c, t = self.model.state, self.profile, self.column, obs.step
        need = capital_market.raise_needed(st.cash[:, c], self.burn_usd(obs.step), p["runway_months"], p["raise_months"])
        need = np.where(st.failed[:, self.lab_index], 0.0, need)
        if not np.any(need > 0):
            return ()
        amount = capital_market.round_size_usd(need, self.round_cap_usd(obs), 1.0)
        if not np.any(amount > 0):
            return ()
        if self.has_parent(t):  # its parent puts in what it has set aside, and nobody else does
            return (Raise(t, self.agent_id, c, self.lab_index, str(FundingSource.PARENT), "", amount, 0.0, 1, amount),)
        entries = self.world.funding[self.agent_id]
        open_now = np.array([month_index(e["from_month"], self.world.start) <= t for e in entries])
        shares = capital_market.source_shares(np.stack([np.broadcast_to(e["share"], amount.shape)
                                                        for e in entries]), open_now)  # (E, S)
        closed = ~np.any(shares > 0, axis=0)
        if np.any(closed):  # every source closed (or of no share): investors of last resort
            entries = [*entries, dict(entries[0], source=FundingSource.INVESTORS, partner="", cloud_commitment=0.0)]
            shares = np.concatenate([shares, closed[None, :] * 1.0])
        return tuple(Raise(t, self.agent_id, c, self.lab_index, str(entry["source"]), entry["partner"], amount * share,
                           entry["cloud_commitment"], entry["commitment_months"], amount)
                     for entry, share in zip(entries, shares) if np.any(share > 0))

    def settle(self, obs: Observation) -> Distress:
        """After raising: where it stops its builds and where it fails.

        A lab whose cash covers fewer than ``DISTRESS_MONTHS`` of burn after its
        round stops its builds under way (each finished at the size paid for).
        A lab whose cash is negative fails and leaves the market for good: its
        leases end (the watts go back to their owners), its own watts are
        written off, its unpaid bills are written off by its creditors
        (recorded), and its customers choose among the rest.
        """
        st, c, i = self.model.state, self.column, self.lab_index
        return Distress(c, i, self.in_distress(), (st.cash[:, c] < 0) & ~st.failed[:, i])

    def payout(self, obs: Observation) -> Payout:
        """Cash above ``cash_buffer_months`` of its outlays, paid out once its operations bring cash
        in (not in a month it raised), to its parent for a lab a hyperscaler owns."""
        st, p, c = self.model.state, self.profile, self.column
        excess = capital_market.idle_cash_usd(st.cash[:, c], self.cash_buffer_usd(p["cash_buffer_months"]),
                                              st.ocf_history[:, :, c].sum(axis=1))
        excess = np.where(st.raised[:, c] > 0, 0.0, excess)
        return Payout(c, excess, self.world.column(p["owner"]) if p["owner"] else None)

