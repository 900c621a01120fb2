"""WattyearModel: the Mesa model that steps the AI industry month by month.

Step order (one month):

1. demand segments grow (adoption, usage, random shock);
2. supply: replacements ordered, leases rolled over (a lessee short of cash lets
   them lapse); vintages in service, leases active, each lab's training share,
   tokens capacity of every fleet;
3. the open-weights publisher releases if due; the fringe prices at cost-plus;
4. token market: logit choice, capacity-constrained water-filling in compute;
5. accounting: revenue, costs, profit and cash for every agent (the kernel);
6. every agent observes the month (``agents.observation.Observation``);
7. labs train (quality) and move prices toward their best responses; the
   fringe enters or exits;
8. spot lease market (leases start after the lease lead time);
9. capacity plans (every ``world.plan_every_months``): labs build or contract
   what the race needs, hyperscalers build for what they let and for
   contracts; the publisher invests each quarter;
10. capital market: raises bounded by valuation, failures, debt, payouts;
11. self-funding ratios; metrics are recorded.

``docs/model.md`` states each equation and decision rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np

from wattyear.agents import DemandSegment, FrontierLab, Hyperscaler, OpenWeightsFringe, OpenWeightsPublisher
from wattyear.agents.observation import Observation
from wattyear.sim import clearing, guard, kernel, token_market
from wattyear.sim.accounts import book_month
from wattyear.sim.capital_market import FundingBook
from wattyear.sim.batch import stack, unstack
from wattyear.sim.config import FRINGE_ID, PUBLISHER_ID, load_config, resolve
from wattyear.sim.fleet import Fleet, LeaseBook, starting_cohorts
from wattyear.sim.observe import TokenMonth, observe
from wattyear.sim.state import WorldState
from wattyear.sim.supply import Supply
from wattyear.sim.token_month import TokenMarketMonth
from wattyear.sim.units import DT_YEARS, month_index, step_date



#: the starting build programme (``pipeline_w_per_year``) keeps ordering through the first year: the
#: capex guidance it stands for is for the year's orders, not only for builds already under way
PIPELINE_LAST_ORDER = 11

#: damped iterations that find the starting market shares with habits at rest (converges to ~1e-9 in the
#: baseline; more change nothing that matters)
STARTING_SHARE_ITERATIONS = 60


class WattyearModel(Supply, TokenMarketMonth, mesa.Model):
    """The AI-industry market model: built from a config here, stepped here month by month; the supply
    side's methods come from ``sim.supply.Supply``, the token market's from
    ``sim.token_month.TokenMarketMonth``.

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
        **overrides: dotted config paths, e.g. ``**{"labs.anthropic.watts": 2e9}``,
            validated like the file (this is how ``mesa.batch_run`` varies them).

    Every per-scenario parameter (``sim.schema.Field.varies``) is read by the
    rules as an array over the scenario axis, so a single run is a batch of one.
    """

    def __init__(self, config: dict | str | Path | list[dict] | None = None, *, rng: Any = None,
                 seeds: list[int] | None = None, **overrides: Any):
        if isinstance(config, (list, tuple)):
            configs = [resolve(c, overrides=overrides) if overrides else c for c in config]
            if seeds is None:
                seeds = [c["run"]["seed"] for c in configs]
            if len(seeds) != len(configs):
                raise ValueError(f"{len(configs)} configs need {len(configs)} seeds, got {len(seeds)}")
        else:
            if config is None or isinstance(config, (str, Path)):
                cfg = load_config(config, overrides=overrides)
            else:
                cfg = resolve(config, overrides=overrides) if overrides else config
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
        #: the batch's config: per-scenario parameters are (S,) arrays (``sim.batch``), the rest plain values
        self.config = cfg
        self.horizon = cfg["run"]["months"]
        self.start = cfg["run"]["start"]
        self.last_metrics: dict[str, np.ndarray] = {}
        self.last_market: dict[str, np.ndarray] = {}
        self.history: list[tuple[dict, dict]] = []
        #: (months, S) best live lab quality of each month so far (a release copies a past frontier)
        self._frontier_history = np.zeros((self.horizon, len(self.generators)))
        self._newest: dict[tuple[str, int], str] = {}
        self._multipliers: dict[int, np.ndarray] = {}
        self.months_remembered = 0
        self._draws: np.ndarray | None = None  #: (S, months, K) demand-shock draws (``demand_draws``)
        self._draws_first = 1
        self._build(cfg)
        #: (S, A) each agent's cash at the end of the month before (the guard checks it moves by its flows)
        self._cash_before = np.stack([np.broadcast_to(np.asarray(a.profile.get("cash_usd", 0.0), float),
                                                      (self.n_scenarios,)) for a in self.ledger_agents], axis=1)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "month": lambda m: m.steps,
                "industry_revenue_usd": lambda m: float(m.last_metrics["revenue_usd"][0].sum()),
                "unserved_share": lambda m: m.unserved_share,
                "open_weights_price_usd_per_mtok": lambda m: m.open_weights_price,
            },
            agenttype_reporters={
                FrontierLab: {
                    "agent": "agent_id", "watts": "watts", "revenue_per_token": "revenue_per_token",
                    "revenue_per_watt_year": "revenue_per_watt_year", "cost_per_watt_year": "cost_per_watt_year",
                    "utilization": "utilization", "rate_limited_share": "rate_limited_share",
                    "operating_profit_usd": "operating_profit_usd", "cash_usd": "cash_usd", "quality": "quality",
                    "self_funding_ratio": "self_funding_ratio", "outside_capital_usd": "outside_capital_usd",
                },
            },
        )

    # ------------------------------------------------------------------ setup
    def _build(self, cfg: dict) -> None:
        s = self.n_scenarios
        # per-scenario numbers, one column each: (S, X)
        def rows(values) -> np.ndarray:
            return np.stack([np.broadcast_to(np.asarray(v, float), (s,)) for v in values], axis=1)

        self.hardware_ids = list(cfg["hardware"])
        hw = cfg["hardware"]
        self.tokens_per_joule = rows([hw[h]["tokens_per_joule"] for h in self.hardware_ids])  # (S, H)
        self.training_efficiency = rows([hw[h]["training_efficiency"] for h in self.hardware_ids])  # (S, H)
        lab_ids, hyper_ids, seg_ids = list(cfg["labs"]), list(cfg["hyperscalers"]), list(cfg["segments"])
        n_labs = len(lab_ids)
        # ledger columns: labs, fringe, hyperscalers, publisher; providers are the first n_labs + 1
        self.labs = [FrontierLab(self, lid, cfg["labs"][lid], i, i) for i, lid in enumerate(lab_ids)]
        self.fringe = OpenWeightsFringe(self, FRINGE_ID, cfg["fringe"], n_labs)
        self.hyperscalers = [Hyperscaler(self, hid, cfg["hyperscalers"][hid], n_labs + 1 + i)
                             for i, hid in enumerate(hyper_ids)]
        self.publisher = OpenWeightsPublisher(self, PUBLISHER_ID, cfg["open_weights"], n_labs + 1 + len(hyper_ids))
        self.ledger_agents = [*self.labs, self.fringe, *self.hyperscalers, self.publisher]
        self.by_id = {a.agent_id: a for a in self.ledger_agents}
        n_agents, n_prov = len(self.ledger_agents), n_labs + 1
        self.n_providers = n_prov
        self.agent_ids = [a.agent_id for a in self.ledger_agents]
        self.agent_kinds = [a.kind for a in self.ledger_agents]

        # segments and their customer classes (demand cells)
        self.segments, start = [], 0
        for k, sid in enumerate(seg_ids):
            n_classes = cfg["segments"][sid]["size_classes"]
            seg = DemandSegment(self, sid, cfg["segments"][sid], k, slice(start, start + n_classes))
            self.segments.append(seg)
            start += n_classes
        n_cells = start
        self.cell_segment = np.concatenate([np.full(seg.cells.stop - seg.cells.start, seg.k)
                                            for seg in self.segments])
        #: first cell of each segment (segments are contiguous runs of cells)
        self.segment_starts = np.array([seg.cells.start for seg in self.segments])
        seg_param = lambda key: rows([cfg["segments"][sid][key] for sid in seg_ids])  # noqa: E731  (S, K)
        self.segment_beta_quality = seg_param("beta_quality")
        self.segment_beta_price = seg_param("beta_price")
        self.segment_priced = (np.array([cfg["segments"][sid]["pricing"] != "free" for sid in seg_ids]))[None, :]
        cs = self.cell_segment
        self.cell_inertia = np.ascontiguousarray(seg_param("inertia")[:, cs, None])
        self.cell_outside = np.ascontiguousarray(seg_param("outside_utility")[:, cs])  # (S, N)
        self.segment_peak = seg_param("peak_to_average")  # (S, K)
        affinity = np.zeros((s, len(seg_ids), n_prov))
        for lab in self.labs:
            for sid, v in lab.profile["affinity"].items():
                affinity[:, seg_ids.index(sid), lab.column] = v
        for sid, v in cfg["fringe"]["affinity"].items():
            affinity[:, seg_ids.index(sid), self.fringe.column] = v
        self.segment_affinity = affinity  # (S, K, P)

        # per-agent constants
        self.model_efficiency = np.ones((s, n_agents))
        for lab in self.labs:
            self.model_efficiency[:, lab.column] = lab.profile["model_efficiency"]
        self.model_efficiency[:, self.fringe.column] = cfg["fringe"]["model_efficiency"]
        self.fringe_hardware = self.hardware_ids.index(cfg["fringe"]["hardware"])
        #: (S, H) capital cost a year of a watt of each hardware (depreciation and site opex)
        self.capital_cost_usd_per_w_year = (rows([hw[h]["capex_usd_per_w"] / hw[h]["life_years"]
                                                  for h in self.hardware_ids])
                                            + cfg["world"]["site_opex_usd_per_w_year"][:, None])
        routing = np.ones((s, len(seg_ids), n_prov))
        for lab in self.labs:
            for sid, v in lab.profile["compute_per_token"].items():
                routing[:, seg_ids.index(sid), lab.column] = v
        self.segment_routing = routing  # (S, K, P)
        self.segment_price_elasticity = seg_param("price_elasticity")  # (S, K)
        w = cfg["world"]
        #: (S,) energy cost of an IT watt running a year
        self.energy_usd_per_w_year = kernel.energy_usd_per_watt_year(w["energy_usd_per_mwh"], w["pue"])

        # fleets and leases
        self.fleet = Fleet(len(self.hardware_ids), n_agents, watts=np.zeros((s, 0)))
        age = w["starting_fleet_age_months"]
        for agent in [*self.labs, *self.hyperscalers, self.publisher]:
            for watts, begins in starting_cohorts(agent.profile["watts"], age):
                self._add_vintage(agent.column, agent.profile["hardware"], watts, begins)
            for v in agent.profile.get("fleet", []):  # planned vintages are paid over the owner's build lead time
                begins = month_index(v["in_service"], self.start)
                self._add_vintage(agent.column, v["hardware"], v["watts"], begins,
                                  order_step=begins - agent.profile["build_lead_months"] if begins > 0 else None)
        for agent in [*self.labs, *self.hyperscalers]:  # the build programme under way: orders month by month
            lead, rate = agent.profile["build_lead_months"], agent.profile["pipeline_w_per_year"]
            if np.any(rate > 0):  # rows of no watts where a scenario has none: they add exactly nothing
                hardware = self.newest_hardware(agent.family(), 0)
                for order in range(1 - lead, PIPELINE_LAST_ORDER + 1):
                    self.add_build(agent.column, hardware, rate / 12, order_step=order, lead_months=lead)
        self.leases = LeaseBook(len(self.hardware_ids), n_agents, watts=np.zeros((s, 0)),
                                price_usd_per_w_year=np.zeros((s, 0)))
        for lease in cfg["leases"]:
            self.leases.add(self.by_id[lease["lessor"]].column, self.by_id[lease["lessee"]].column,
                            lease["watts"], month_index(lease["start"], self.start), lease["months"],
                            lease["price_usd_per_w_year"], lease["note"], renew=lease["renew"])
        for deal in cfg["commitments"]:  # take-or-pay: the lessor builds to suit, the lessee pays from the start
            lessor, begins = self.by_id[deal["lessor"]], month_index(deal["start"], self.start)
            lead = lessor.profile["build_lead_months"]
            hardware = self.newest_hardware(lessor.family(), max(begins - lead, 0))
            self._add_vintage(lessor.column, hardware, deal["watts"], begins, order_step=begins - lead)
            self.leases.add(lessor.column, self.by_id[deal["lessee"]].column, deal["watts"], begins,
                            deal["months"], deal["price_usd_per_w_year"], deal["note"] or "commitment",
                            renew=True)

        # state arrays
        quality = np.zeros((s, n_prov))
        price = np.zeros((s, len(seg_ids), n_prov))
        for lab in self.labs:
            quality[:, lab.column] = lab.profile["quality"]
            for sid, v in lab.profile["price_usd_per_mtok"].items():
                price[:, seg_ids.index(sid), lab.column] = v
        quality[:, self.fringe.column] = cfg["open_weights"]["quality_fraction"] * quality[:, :n_labs].max(axis=1)
        self.start_quality = quality.copy()
        price *= self.segment_priced[:, :, None]
        #: (S, K, P) the prices usage per customer is measured against (the fringe's is set below)
        self.start_price = price.copy()
        self.state = WorldState(
            cash=rows([a.profile["cash_usd"] if "cash_usd" in a.profile else 0.0 for a in self.ledger_agents]),
            quality=quality,
            price=price,
            prev_share=np.zeros((s, n_cells, n_prov)),
            run_compute=rows([lab.profile["run_progress"] * lab.profile["last_run_compute_watt_years"]
                              * lab.profile["generation_compute_multiple"] for lab in self.labs]),
            last_run_compute=rows([lab.profile["last_run_compute_watt_years"] for lab in self.labs]),
            customers=rows([cfg["segments"][sid]["customers"] for sid in seg_ids]),
            tokens_per_customer=rows([cfg["segments"][sid]["tokens_per_customer_per_month"] for sid in seg_ids]),
            demand_shock=np.zeros((s, len(seg_ids))),
            fringe_watts=np.array(cfg["fringe"]["watts"], dtype=float),
            serving_multiplier=np.array(w["serving_multiplier"], dtype=float),
            outside_capital=np.zeros((s, n_agents)),
            raised=np.zeros((s, n_agents)),
            invested=np.zeros((s, n_agents)),
            returned=np.zeros((s, n_agents)),
            written_off=np.zeros((s, n_agents)),
            debt=np.zeros((s, n_agents)),
            ocf_history=np.zeros((s, 12, n_agents)),
            replacement_capex_history=np.zeros((s, 12, n_agents)),
            outlays_history=np.zeros((s, 12, n_agents)),
            revenue_history=np.zeros((s, 13, n_agents)),
            first_choice_history=np.zeros((s, 15, n_prov)),
            failed=np.zeros((s, n_labs), dtype=bool),
            generations=np.zeros((s, n_labs), dtype=int),
            last_round_step=np.full((s, n_labs), -10**6),
            next_cluster_watts=np.zeros((s, n_agents)),
            shadow_price=np.zeros((s, len(seg_ids), n_prov)),
        )
        self.funding = FundingBook()
        # starting prices of the fringe
        self.fringe.set_price(self._supply(0)["tpwy"][:, self.fringe.column], np.ones(s))
        self.start_price[:, :, self.fringe.column] = self.state.price[:, :, self.fringe.column]
        owned0 = self.fleet.owned_watts(0).sum(axis=1)
        let0 = self.leases.nominal_watts(0, None, "lessor")
        for h in self.hyperscalers:
            h.third_party_start = (np.maximum(owned0[:, h.column] - let0[:, h.column], 0.0)
                                   * h.profile["third_party_utilization"])
        # starting shares: habits at rest, the fixed point s = logit(u + inertia·s) reached from no habit
        # (damped; a start that is not a fixed point would move shares in the first months for no reason)
        for _ in range(STARTING_SHARE_ITERATIONS):
            shares = token_market.logit_shares(self._utilities(), self.cell_outside)
            self.state.prev_share = 0.5 * (self.state.prev_share + shares)

    # --------------------------------------------------------------- helpers
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

    @property
    def open_weights_price(self) -> float:
        priced = np.flatnonzero(self.segment_priced[0])
        return float(self.state.price[0, priced[0], self.fringe.column]) if priced.size else 0.0

    @property
    def unserved_share(self) -> float:
        m = self.last_market
        return float(m["unserved"][0].sum() / max(m["demand"][0].sum(), 1e-300)) if m else 0.0

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One month, in the order of the module docstring."""
        t = self.steps - 1  # month index: 0 is the start month
        st = self.state
        if t > 0:
            for seg in self.segments:
                seg.grow()
        st.serving_multiplier[:] = self.serving_multiplier_at(t)
        self._renew_fleet(t)
        supply = self._supply(t)
        release_cost = self.publisher.maybe_release(t)
        phi_segment = self.compute_per_token()  # (S, K, P): qualities are set for the month (release included)
        self.fringe.set_price(supply["tpwy"][:, self.fringe.column], phi_segment[:, 0, self.fringe.column])
        tokens = self._clear_token_market(supply, phi_segment)
        metrics, market_rec = book_month(self, t, supply, tokens, release_cost)
        obs = observe(self, t, supply, tokens, metrics)
        self._remember(obs, tokens)

        for lab in self.labs:  # training, then next month's prices
            compute = (supply["operated"][:, :, lab.column] * self.training_efficiency).sum(axis=1)
            lab.train(compute * supply["training_share"][:, lab.column] * DT_YEARS)
            lab.set_prices(obs)
        self.fringe.enter_or_exit(obs)
        lease_record = clearing.clear_spot_leases(self, obs)
        self.publisher.plan_capacity(obs)  # on its own quarterly cadence
        if t % self.config["world"]["plan_every_months"] == 0:
            lease_record.update(clearing.plan_capacity(self, obs))
        else:
            lease_record["contracted_watts"] = np.zeros(obs.watts.shape)
        st.raised[:], st.invested[:], st.returned[:], st.written_off[:] = 0.0, 0.0, 0.0, 0.0
        debt_before = st.debt.copy()
        for record in clearing.clear_capital_market(self, obs):
            self.funding.add(**record)

        metrics.update(lease_record)
        metrics.update(clearing.self_funding(self, t))
        metrics.update({
            "training_share": supply["training_share"],
            "cash_usd": st.cash.copy(), "raised_usd": st.raised.copy(), "invested_usd": st.invested.copy(),
            "returned_usd": st.returned.copy(), "written_off_usd": st.written_off.copy(),
            "borrowed_usd": st.debt - debt_before, "debt_usd": st.debt.copy(),
            "outside_capital_usd": st.outside_capital.copy(),
            "failed": np.concatenate([st.failed, np.zeros((st.failed.shape[0], metrics["watts"].shape[1]
                                                           - st.failed.shape[1]), dtype=bool)], axis=1) * 1.0,
            "watts_under_construction": self.fleet.under_construction(t),
            "next_cluster_watts": st.next_cluster_watts.copy(),
            "shadow_price": st.shadow_price.copy(),
        })
        market_rec["capacity_shadow_price_usd_per_mtok"] = metrics.pop("shadow_price")
        guard.check_month(self, t, metrics, market_rec, tokens, self._cash_before)
        self._cash_before = metrics["cash_usd"]
        self.last_metrics, self.last_market = metrics, market_rec
        self.history.append((metrics, market_rec))
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def _remember(self, obs: Observation, tokens: TokenMonth) -> None:
        """Carry what next month's choices and decisions depend on (state, not the output log)."""
        st = self.state
        # habits form on the share of each class's customers served (tokens over each provider's usage)
        st.prev_share = kernel.safe_divide(kernel.safe_divide(tokens.cleared.served, tokens.usage),
                                           tokens.demand[..., None])
        # histories not yet a year long are padded with the first month: no growth before the start is assumed
        first = obs.step == 0
        st.first_choice_history = self._push(st.first_choice_history, obs.first_choice_compute.sum(axis=1), first)
        st.revenue_history = self._push(st.revenue_history, obs.revenue_usd, first)
        st.ocf_history = np.roll(st.ocf_history, -1, axis=1)
        st.ocf_history[:, -1, :] = obs.operating_cash_flow_usd
        st.outlays_history = self._push(st.outlays_history, obs.outlays_usd, first)
        st.replacement_capex_history = np.roll(st.replacement_capex_history, -1, axis=1)
        st.replacement_capex_history[:, -1, :] = self.fleet.capex_due_usd(obs.step, replacement_only=True)
        if self.months_remembered == len(self._frontier_history):  # stepped past the horizon
            self._frontier_history = np.concatenate([self._frontier_history, np.zeros_like(self._frontier_history)])
        self._frontier_history[self.months_remembered] = self._frontier_now()
        self.months_remembered += 1  # the histories above moved on

    @staticmethod
    def _push(history: np.ndarray, newest: np.ndarray, fill: bool) -> np.ndarray:
        """A (S, months, X) history with ``newest`` appended (oldest dropped), or filled with it."""
        if fill:
            return np.repeat(newest[:, None, :], history.shape[1], axis=1)
        history = np.roll(history, -1, axis=1)
        history[:, -1, :] = newest
        return history

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
