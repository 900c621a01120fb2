"""WattyearModel: the Mesa model that steps the AI industry month by month.

A month is a one-way pipeline of records (``sim.records``); the model builds
the ``World`` (``sim.world``), the agents and the state, and passes each
month's records from room to room:

1. demand segments grow (adoption, usage, a random shock): ``SegmentGrowth``;
2. supply (``sim.supply``): replacements ordered, leases rolled over (a lab that
   has failed or is short of runway lets them lapse); vintages in service,
   leases active, each lab's training share, tokens capacity: ``SupplyMonth``;
3. the open-weights publisher releases if due (``Release``); the fringe prices
   at cost-plus (``FringePrice``);
4. the token market (``sim.token_month``): logit choice, capacity-constrained
   water-filling in compute: ``TokenMonth``;
5. the books (``sim.accounts``): revenue, costs, profit and cash flow of every
   agent, from the token month and what hyperscalers and the publisher earn
   outside it (``OutsideIncome``): ``Accounts``;
6. every agent observes the month (``sim.observe``): ``Observation``;
7. labs train (``TrainingStep``) and move prices toward their best responses
   (``Prices``); the fringe enters or exits (``FringeEntry``);
8. the spot lease market (bids and asks; leases start after the lease lead);
9. capacity plans (every ``world.plan_every_months``; the publisher each
   quarter): builds, contracts built to suit (``CapacityPlan``);
10. the capital market: raises bounded by valuation, distress and failures,
    payouts, debt (``Raise``, ``Distress``, ``Payout``, ``CashSettlement``);
11. self-funding ratios (``SelfFunding``); the month is checked and recorded
    (``Books``, ``MarketMonth``, ``MonthRecord``).

Agents decide; the markets (``sim.clearing``) apply their decisions. This is
the only sim module that knows the agent classes. ``docs/model.md`` states each
equation and decision rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import mesa
import numpy as np

from wattyear.agents import DemandSegment, FrontierLab, Hyperscaler, OpenWeightsFringe, OpenWeightsPublisher
from wattyear.agents import lab as lab_agents
from wattyear.sim import clearing, guard, investment, kernel, supply as supply_side, token_market
from wattyear.sim.accounts import book_month, market_month
from wattyear.sim.batch import stack, unstack
from wattyear.sim.capital_market import FundingBook, SelfFundingStreak
from wattyear.sim.config import FRINGE_ID, PUBLISHER_ID, ResolvedConfig, load_config, resolve
from wattyear.sim.observe import observe
from wattyear.sim.records import Books, MarketMonth, MonthRecord, Observation, OutsideIncome, TokenMonth
from wattyear.sim.state import remember, starting_state
from wattyear.sim.token_month import choice_weights, clear_token_market, compute_per_token, paid_usd_per_mtok, \
    reference_price, utilities
from wattyear.sim.units import per_token, step_date
from wattyear.sim.world import World, build_world

#: damped iterations that find the starting market shares with habits at rest (converges to ~1e-9 in the
#: baseline; more change nothing that matters)
STARTING_SHARE_ITERATIONS = 60

#: what Mesa's DataCollector records of each lab every month: the month's books at scenario 0 …
LAB_REPORTS = ("watts", "revenue_usd_per_mtok", "revenue_usd_per_watt_year", "cost_usd_per_watt_year", "utilization",
               "rate_limited_share", "operating_profit_usd", "cash_usd", "self_funding_ratio", "outside_capital_usd")


def _books_reporter(name: str):
    return lambda agent: float(getattr(agent.model.last_books, name)[0, agent.column])


class WattyearModel(mesa.Model):
    """The AI-industry market model.

    Args:
        config: a validated config dict, a path to a TOML file, or None for the
            baseline; or a list of validated config dicts, one per scenario,
            stepped together as one ensemble (they must share structure:
            ``sim.batch.stack``; every number may differ).
        rng: seed (or generator) of the model's random generator; default the
            config's ``run.seed``.
        seeds: step an ensemble: one scenario per seed, each with its own
            generator ``numpy.random.default_rng(seed)``, through the same
            arrays (the leading scenario axis). Scenario i matches a single run
            of its config with ``rng=seeds[i]``. With one config, every seed
            runs it; with a list, one seed per config (default: each config's
            ``run.seed``). Without either, one scenario drawing from ``rng``.
        keep_months: the months whose records ``history`` keeps (default: every month). A study that
            keeps summaries passes its kept months, so the model's memory stops growing with the
            horizon; the sustained self-funding crossing (``crossing_step``) is followed month by
            month whatever is kept.
        **overrides: dotted config paths, e.g. ``**{"labs.anthropic.watts": 2e9}``,
            validated like the file (this is how ``mesa.batch_run`` varies them).

    Every per-scenario parameter (``sim.schema.Field.varies``) is read by the
    rules as an array over the scenario axis, so a single run is a batch of one.
    """

    def __init__(self, config: dict | str | Path | list[dict] | None = None, *, rng: Any = None,
                 seeds: list[int] | None = None, keep_months: Iterable[int] | None = None, **overrides: Any):
        if isinstance(config, (list, tuple)):
            configs = [resolve(c, overrides=overrides) if overrides or not isinstance(c, ResolvedConfig) else c
                       for c in config]
            if seeds is None:
                seeds = [c["run"]["seed"] for c in configs]
            if len(seeds) != len(configs):
                raise ValueError(f"{len(configs)} configs need {len(configs)} seeds, got {len(seeds)}")
        else:
            if config is None or isinstance(config, (str, Path)):
                cfg = load_config(config, overrides=overrides)
            else:
                # a dict that did not come from resolve() is checked like a file (mesa.batch_run and direct
                # API use pass dicts)
                cfg = (resolve(config, source="<dict>", overrides=overrides)
                       if overrides or not isinstance(config, ResolvedConfig) else config)
            configs = [cfg] * (1 if seeds is None else len(seeds))
        cfg = stack(configs)
        seed = configs[0]["run"]["seed"] if rng is None else rng
        if seeds is not None:
            seed = int(seeds[0])
        super().__init__(rng=seed)
        #: one generator per scenario; all randomness is drawn from these
        self.generators = [self.rng] if seeds is None else [np.random.default_rng(int(x)) for x in seeds]
        #: a second stream per scenario for the outcomes of training runs, spawned from the same seed, so
        #: a what-if that moves a run's date does not shift every later demand shock (common random numbers)
        self.run_generators = [np.random.default_rng(g.bit_generator.seed_seq.spawn(1)[0]) for g in self.generators]
        self.n_scenarios = len(self.generators)
        #: the static side of the run; its config is the batch's: per-scenario parameters are (S,) arrays
        self.world: World = build_world(cfg, tuple(g.bit_generator.seed_seq.entropy for g in self.generators))
        #: the months' records, in order: every month, or those of ``keep_months`` (each knows its ``step``)
        self.history: list[MonthRecord] = []
        self.keep_months = None if keep_months is None else frozenset(int(t) for t in keep_months)
        self.last_books: Books | None = None  #: the last month's books (None before the first step)
        self.last_market: MarketMonth | None = None
        #: (months, S) best live lab quality of each month so far (a release copies a past frontier)
        self._frontier_history = np.zeros((self.horizon, self.n_scenarios))
        self.months_remembered = 0
        self._draws: np.ndarray | None = None  #: (S, months, K) demand-shock draws (``demand_draws``)
        self._draws_first = 1
        self._build(cfg)
        #: (S, A) each agent's cash at the end of the month before (the guard checks it moves by its flows)
        self._cash_before = self.state.cash.copy()
        #: (S, A) each agent's sustained self-funding crossing month so far (``capital_market.crossing_steps``
        #: of every month's SFR and raises, followed online: ``SelfFundingStreak``), NaN while none
        self._streak = SelfFundingStreak(self._cash_before.shape)
        self._tightness: dict = {}  #: (step, lead) → (S,) market tightness (``market_tightness``)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "month": lambda m: m.steps,
                "industry_revenue_usd": lambda m: float(m.last_books.revenue_usd[0].sum()),
                "unserved_share": lambda m: m.unserved_share,
                "open_weights_price_usd_per_mtok": lambda m: m.open_weights_price,
            },
            agenttype_reporters={FrontierLab: {  # (in the order they have always had)
                "agent": "agent_id", **{name: _books_reporter(name) for name in LAB_REPORTS[:8]},
                "quality": lambda lab: float(lab.model.state.quality[0, lab.column]),  # next month's
                **{name: _books_reporter(name) for name in LAB_REPORTS[8:]},
            }},
        )

    # ------------------------------------------------------------------ setup
    def _build(self, cfg: dict) -> None:
        """Agents, fleets and leases as configured, the state, the fringe's first price and the
        starting market shares."""
        world, s = self.world, self.n_scenarios
        self.labs = [FrontierLab(self, lid, cfg["labs"][lid], world.column(lid), i)
                     for i, lid in enumerate(world.lab_ids)]
        self.fringe = OpenWeightsFringe(self, FRINGE_ID, cfg["fringe"], world.fringe_column)
        self.hyperscalers = [Hyperscaler(self, hid, cfg["hyperscalers"][hid], world.column(hid))
                             for hid in world.hyperscaler_ids]
        self.publisher = OpenWeightsPublisher(self, PUBLISHER_ID, cfg["open_weights"], world.publisher_column)
        self.ledger_agents = [*self.labs, self.fringe, *self.hyperscalers, self.publisher]
        self.by_id = {a.agent_id: a for a in self.ledger_agents}
        self.segments = [DemandSegment(self, sid, cfg["segments"][sid], k, world.segment_cells[k])
                         for k, sid in enumerate(world.segment_ids)]
        self.fleet, self.leases = supply_side.starting_books(world)
        self.state = starting_state(world)
        self.funding = FundingBook()
        # the fringe's first price: cost-plus on the watts it starts with; usage is measured against it
        st, fringe = self.state, world.fringe_column
        supply = supply_side.supply_month(world, self.fleet, self.leases, st.fringe_watts, st.fringe_mix,
                                          st.serving_multiplier, 0)
        clearing.apply_fringe_price(st, fringe, self.fringe.set_price(supply.tpwy[:, fringe], np.ones(s)))
        world.start_price[:, :, fringe] = st.price[:, :, fringe]
        owned0 = self.fleet.owned_watts(0).sum(axis=1)
        let0 = self.leases.nominal_watts(0, None, "lessor")
        for h in self.hyperscalers:
            h.third_party_start = (np.maximum(owned0[:, h.column] - let0[:, h.column], 0.0)
                                   * h.profile["third_party_utilization"])
            h._third_party.clear()  # (nothing asked before the start is known: no stale month kept)
        # starting shares: habits at rest, the fixed point s = logit(u + inertia·s) reached from no habit
        # (damped; a start that is not a fixed point would move shares in the first months for no reason)
        for _ in range(STARTING_SHARE_ITERATIONS):
            shares = token_market.nested_shares(choice_weights(world, utilities(world, st)))[0]
            st.prev_share = 0.5 * (st.prev_share + shares)
        world.reference_price[...] = reference_price(world, st.prev_share,
                                                     np.concatenate([seg.class_weight for seg in self.segments]))
        world.freeze()

    # --------------------------------------------------------------- views
    @property
    def config(self) -> dict:
        """The batch's config (``World.config``)."""
        return self.world.config

    @property
    def horizon(self) -> int:
        return self.world.horizon

    @property
    def months_run(self) -> int:
        """Months stepped so far (``history`` holds each of them unless ``keep_months`` chose some)."""
        return self.months_remembered

    @property
    def crossing_step(self) -> np.ndarray:
        """(S, A) each agent's sustained self-funding crossing month (``capital_market.crossing_steps``
        over every month run), NaN where there is none yet: the same whichever months ``history`` keeps."""
        return self._streak.crossing.copy()

    @property
    def start(self) -> str:
        return self.world.start

    def frontier_quality_at(self, step) -> np.ndarray:
        """(S,) best live lab quality at ``step`` (an int, or (S,) ints: one month per scenario);
        this month's where not yet recorded."""
        recorded = self.months_remembered
        steps = np.broadcast_to(np.asarray(step), (self.n_scenarios,))
        past = self._frontier_history[np.clip(steps, 0, max(recorded - 1, 0)), np.arange(self.n_scenarios)]
        return np.where((steps < recorded) & (recorded > 0), past, self._frontier_now())

    def _frontier_now(self) -> np.ndarray:
        labs = self.state.quality[:, : len(self.labs)]
        return np.where(self.state.failed, -np.inf, labs).max(axis=1, initial=0.0)

    def market_tightness(self, obs: Observation, lead_months: int) -> np.ndarray:
        """(S,) how much tighter (> 1) or looser (< 1) the token market will be ``lead_months`` from now than
        it is (``investment.market_tightness``): the compute all providers' first-choice customers want (the
        tasks closed labs' customers route to open weights counted as the fringe's), grown at
        its yearly growth of the last year (``yearly_growth``, within the forecast cap), over the labs'
        capacity in place and on order then (their order books are public: builds, contracts and leases
        signed), at their tokens per watt now times the serving-stack gain by then; the fringe's capacity
        counted as it is (it rents as it goes). Before a year of history (month < 12) the market is taken
        to stay as tight as it is (1): a growth read off a padded history would set today's demand against
        every programme signed for the years ahead. Every lab sees the order books as they stood before
        the month's plans (``prepare_tightness``: labs plan at once)."""
        if obs.step < 12:
            return np.ones(self.n_scenarios)
        key = (obs.step, lead_months)
        if key not in self._tightness:
            world, t = self.world, obs.step
            demand = self.state.first_choice_history.sum(axis=2)  # (S, 15): all providers' first choices
            growth = lab_agents.yearly_growth(demand, t, world.config["world"]["max_forecast_growth_per_year"])
            gain = world.hardware.serving_multiplier(t + lead_months) / world.hardware.serving_multiplier(t)
            now = obs.watts[:, :world.n_providers] * obs.tpwy[:, :world.n_providers]
            then = now.copy()
            for lab in self.labs:
                then[:, lab.column] = lab.planned_watts(t + lead_months) * obs.tpwy[:, lab.column] * gain
            self._tightness = {k: v for k, v in self._tightness.items() if k[0] == t}  # (earlier months: done)
            self._tightness[key] = investment.market_tightness(kernel.grown(growth, lead_months / 12),
                                                           now.sum(axis=1), then.sum(axis=1))
        return self._tightness[key]

    def prepare_tightness(self, obs: Observation) -> None:
        """The market's tightness at each lab's lead time, from the order books before anyone plans."""
        for lead in sorted({lab.profile["build_lead_months"] for lab in self.labs}):
            self.market_tightness(obs, lead)

    def cheapest_contract_rent(self, t: int) -> np.ndarray:
        """(S,) the lowest rent a hyperscaler asks for capacity built to suit from month ``t``, $/W-yr."""
        if not self.hyperscalers:
            return np.full(self.n_scenarios, np.inf)
        return np.min(np.stack([h.rent_usd_per_w_year(t) for h in self.hyperscalers]), axis=0)

    @property
    def open_weights_price(self) -> float:
        """The fringe's price per token, $/Mtok (in the first segment priced per token or by contract)."""
        priced = np.flatnonzero(self.world.segment_priced[0] & ~self.world.segment_by_plan[0])
        return float(self.state.price[0, priced[0], self.fringe.column]) if priced.size else 0.0

    @property
    def unserved_share(self) -> float:
        m = self.last_market
        return float(m.unserved[0].sum() / max(m.demand[0].sum(), 1e-300)) if m is not None else 0.0

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One month, in the order of the module docstring."""
        t = self.steps - 1  # month index: 0 is the start month
        world, st, fringe = self.world, self.state, self.world.fringe_column
        if t > 0:
            # every segment grows from last month's customers (a paid segment from last month's free users)
            for growth in [seg.grow(t, self.demand_draws(t)) for seg in self.segments]:
                clearing.apply_growth(st, growth)
        st.serving_multiplier[:] = world.hardware.serving_multiplier(t)
        self._renew_fleet(t)
        supply = supply_side.supply_month(world, self.fleet, self.leases, st.fringe_watts, st.fringe_mix,
                                          st.serving_multiplier, t,
                                          training_share=self._training_shares)
        release = self.publisher.release(t)
        clearing.apply_release(st, fringe, release)
        # (S, K, P): qualities are set for the month (release included); the fringe's models have the size of
        # the frontier size_class_lag_months ago
        phi = compute_per_token(world, st, self.frontier_quality_at(t - world.config["fringe"]["size_class_lag_months"]))
        clearing.apply_fringe_price(st, fringe, self.fringe.set_price(supply.tpwy[:, fringe], phi[:, 0, fringe]))
        tokens = clear_token_market(world, st, supply, phi, *self._cell_demand())
        accounts = book_month(world, st, self.fleet, t, supply, tokens, self._outside_income(t, tokens), release.cost_usd)
        st.cash += accounts.cash_flow_usd
        price_charged, routing_used = st.price.copy(), st.routing.copy()
        obs = observe(world, st, self.leases, t, supply, tokens, accounts)
        self._remember(obs, tokens)

        for lab in self.labs:  # training, then next month's prices and free-tier model
            clearing.apply_training(st, lab.train(obs))
            clearing.apply_prices(st, lab.set_prices(obs))
            for routing in lab.free_tier_routing(obs):
                clearing.apply_routing(st, routing)
        clearing.apply_fringe_entry(st, self.fringe.enter_or_exit(obs))
        spot = clearing.clear_spot_leases(self, obs)
        clearing.apply_plan(self, self.publisher.plan_capacity(obs))  # on its own quarterly cadence
        contracted = (clearing.plan_capacity(self, obs) if t % world.config["world"]["plan_every_months"] == 0
                      else np.zeros(obs.watts.shape))
        capital = clearing.capital_month(self, obs)
        books = Books.assemble(accounts, clearing.lease_month(spot, contracted), clearing.self_funding(self, t),
                               supply, capital)
        market = market_month(world, tokens, price_charged, st.shadow_price.copy(), obs.marginal_cost_usd_per_mtok,
                              routing_used)
        guard.check_month(world, t, books, market, tokens, self._cash_before)
        self._cash_before = books.cash_usd
        self._streak.update(t, books.self_funding_ratio, books.raised_usd)
        if self.keep_months is None or t in self.keep_months:
            self.history.append(MonthRecord(t, books, market))
        self.last_books, self.last_market = books, market
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def _renew_fleet(self, t: int) -> None:
        """Replacements of retiring vintages, of the share each owner still needs (``replacement_share``);
        lease roll-overs at the lessor's rent of the day, of the share of its expiring watts each lab still
        needs (``FrontierLab.renewal_share``)."""
        self.fleet.forget_before(t)
        self.leases.forget_before(t)
        supply_side.replace_retiring(self.world, self.fleet, t, keep=self._replacement_shares)
        keep = np.ones(self.state.cash.shape)
        for lab in self.labs:
            keep[:, lab.column] = lab.renewal_share(t)
        rents = np.full(self.state.cash.shape, np.nan)  # (S, A): only hyperscalers list a rent
        for h in self.hyperscalers:
            rents[:, h.column] = h.rent_usd_per_w_year(t)
        self.leases.renew_expiring(t, keep=keep, rent_now=rents)

    def _replacement_shares(self, retire_step: int) -> np.ndarray:
        """(S, A) share of its watts retiring in month ``retire_step`` each owner replaces (1: the publisher,
        whose fleet ranks ads)."""
        keep = np.ones(self.state.cash.shape)
        retiring = self.fleet.retiring_between(retire_step, retire_step)
        for owner in (*self.labs, *self.hyperscalers):
            keep[:, owner.column] = owner.replacement_share(retire_step, retiring[:, owner.column])
        return keep

    def _training_shares(self, operated: np.ndarray) -> np.ndarray:
        """(S, A) each lab's share of its operated watts on training this month (its plan)."""
        training = np.zeros(operated.shape[::2])
        for lab in self.labs:
            training[:, lab.column] = lab.training_share(operated[:, :, lab.column], self.world.training_efficiency)
        return training

    def _cell_demand(self) -> tuple[np.ndarray, np.ndarray]:
        """(customers, tokens wanted at the segments' reference prices) of every customer class, (S, N) each."""
        customers, demand = zip(*(seg.cell_demand() for seg in self.segments))
        return np.concatenate(customers, axis=1), np.concatenate(demand, axis=1)

    def _outside_income(self, t: int, tokens: TokenMonth) -> OutsideIncome:
        """What hyperscalers and the publisher earn outside the token market this month, and the large
        customers each segment counts, as the agents report them."""
        world = self.world
        s, n_agents, n_prov = self.n_scenarios, world.n_agents, world.n_providers
        business, at_risk, third_party, rent, ads, large = (np.zeros((s, n_agents)) for _ in range(6))
        consumer_served = (tokens.served * world.consumer_segments[None, :, None]).sum(axis=1)  # (S, P)
        for h in self.hyperscalers:
            at_risk[:, h.column] = h.revenue_at_risk_usd(consumer_served, t)
            business[:, h.column] = h.business_revenue_usd(t) - at_risk[:, h.column]
            third_party[:, h.column] = h.third_party_watts(t)
            rent[:, h.column] = h.rent_usd_per_w_year(t)
        ads[:, world.publisher_column] = self.publisher.ad_revenue_usd(t)
        free = ~world.segment_priced[0]  # (K,)
        for lab in self.labs:  # a lab's ads in its free tier, per free user it served
            ads[:, lab.column] = lab.ad_revenue_usd(t, tokens.served_customers[:, free, lab.column].sum(axis=1))
        price = per_token(paid_usd_per_mtok(world, tokens, self.state.price))  # what a token cost its buyer
        for seg in self.segments:
            large[:, :n_prov] += seg.large_customers(tokens.cleared.served, price, tokens.customers)
        return OutsideIncome(business, at_risk, third_party, rent, ads, large)

    def _remember(self, obs: Observation, tokens: TokenMonth) -> None:
        """Carry what next month's choices and decisions depend on (``sim.state.remember``), and the
        month's frontier (a release copies a past one)."""
        remember(self.state, obs, tokens, self.fleet.capex_due_usd(obs.step, replacement_only=True),
                 self.world.overhead_growth)
        if self.months_remembered == len(self._frontier_history):  # stepped past the horizon
            self._frontier_history = np.concatenate([self._frontier_history, np.zeros_like(self._frontier_history)])
        self._frontier_history[self.months_remembered] = self._frontier_now()
        self.months_remembered += 1  # the histories above moved on

    def scenario_config(self, scenario: int = 0) -> dict:
        """The plain validated config scenario ``scenario`` ran (numbers as Python values, its seed)."""
        cfg = unstack(self.config, scenario)
        cfg["run"]["seed"] = int(self.generators[scenario].bit_generator.seed_seq.entropy)
        return cfg

    def demand_draws(self, t: int) -> np.ndarray:
        """(S, K) standard normals of month ``t``'s demand shocks, one per segment, from each
        scenario's generator.

        Each generator draws the whole horizon's shocks at once, month after month and segment
        after segment within a month: the same numbers, in the same order, as one draw per
        segment each month would give (the Generator fills arrays draw by draw), in one call per
        scenario instead of one per scenario, segment and month. Months 1 … horizon − 1 draw
        (month 0 has no shock); a model stepped past its horizon draws a month at a time.
        """
        k = len(self.segments)
        first = 1 if self._draws is None else self._draws_first + self._draws.shape[1]
        if self._draws is None or t >= first:
            months = max(self.horizon - first, 1)
            self._draws = np.stack([g.standard_normal(months * k).reshape(months, k) for g in self.generators])
            self._draws_first = first
        return self._draws[:, t - self._draws_first]

    def run(self) -> "WattyearModel":
        """Step to the horizon and return self."""
        while self.running:
            self.step()
        return self

    def date(self, step: int):
        return step_date(self.start, step)
