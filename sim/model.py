"""WattyearModel: the Mesa model that steps the AI industry month by month.

Step order (one month):

1. demand segments grow (adoption, usage, random shock);
2. supply: builds entering service, replacements ordered, leases rolled over;
   vintages in service, leases active, tokens capacity of every fleet;
3. the open-weights publisher releases if due; the fringe prices at cost-plus;
4. token market: logit choice, capacity-constrained water-filling;
5. accounting: revenue, costs, profit and cash for every agent (the kernel);
6. labs train (quality) and set next month's prices; the fringe enters or exits;
7. capacity market (new leases start after the lease lead time) and builds;
8. capital market: labs short of runway raise money;
9. self-funding ratios; metrics are recorded.

``docs/model.md`` states each equation and decision rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np

from agents import DemandSegment, FrontierLab, Hyperscaler, OpenWeightsFringe, OpenWeightsPublisher
from sim import clearing, kernel, token_market
from sim.accounts import book_month
from sim.capital_market import FundingBook
from sim.config import FRINGE_ID, PUBLISHER_ID, load_config, resolve
from sim.fleet import Fleet, LeaseBook, starting_cohorts
from sim.state import WorldState
from sim.units import DT_YEARS, TOKENS_PER_MTOK, month_index, step_date


#: months before retirement a replacement vintage is ordered: within the 12-24
#: month build leads of the specification, and long enough to spread its capex
#: (an assumption)
REPLACEMENT_LEAD_MONTHS = 12


class WattyearModel(mesa.Model):
    """The AI-industry market model.

    Args:
        config: a validated config dict, a path to a TOML file, or None for the
            baseline.
        rng: seed (or generator) of the model's random generator; default the
            config's ``run.seed``.
        seeds: step an ensemble: one scenario per seed, each with its own
            generator ``numpy.random.default_rng(seed)``, through the same
            arrays (the leading scenario axis). Scenario i matches a single run
            with ``rng=seeds[i]``. Without it, one scenario drawing from ``rng``.
        **overrides: dotted config paths, e.g. ``**{"labs.anthropic.watts": 2e9}``,
            validated like the file (this is how ``mesa.batch_run`` varies them).
    """

    def __init__(self, config: dict | str | Path | None = None, *, rng: Any = None,
                 seeds: list[int] | None = None, **overrides: Any):
        if config is None or isinstance(config, (str, Path)):
            cfg = load_config(config, overrides=overrides)
        else:
            cfg = resolve(config, overrides=overrides) if overrides else config
        seed = cfg["run"]["seed"] if rng is None else rng
        if seeds is not None:
            seed = int(seeds[0])
        super().__init__(rng=seed)
        #: one generator per scenario; all randomness is drawn from these
        self.generators = [self.rng] if seeds is None else [np.random.default_rng(int(x)) for x in seeds]
        self.n_scenarios = len(self.generators)
        self.config = cfg
        self.horizon = cfg["run"]["months"]
        self.start = cfg["run"]["start"]
        self.last_metrics: dict[str, np.ndarray] = {}
        self.last_market: dict[str, np.ndarray] = {}
        self.history: list[tuple[dict, dict]] = []
        self._frontier_history: list[np.ndarray] = []
        self._newest: dict[tuple[str, int], str] = {}
        self._build(cfg)
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
        rows = lambda values: np.tile(np.asarray(values, dtype=float), (s, 1))  # noqa: E731
        self.hardware_ids = list(cfg["hardware"])
        hw = cfg["hardware"]
        self.tokens_per_joule = np.array([hw[h]["tokens_per_joule"] for h in self.hardware_ids])
        self.training_efficiency = np.array([hw[h]["training_efficiency"] for h in self.hardware_ids])
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
        seg_param = lambda key: np.array([cfg["segments"][sid][key] for sid in seg_ids])  # noqa: E731
        self.segment_beta_quality = seg_param("beta_quality")[None, :]
        self.segment_beta_price = seg_param("beta_price")[None, :]
        self.segment_priced = (np.array([cfg["segments"][sid]["pricing"] != "free" for sid in seg_ids]))[None, :]
        cs = self.cell_segment
        self.cell_beta_quality = seg_param("beta_quality")[cs][:, None]
        self.cell_beta_price = seg_param("beta_price")[cs][:, None]
        self.cell_inertia = seg_param("inertia")[cs][:, None]
        self.cell_outside = seg_param("outside_utility")[cs]
        self.cell_peak = seg_param("peak_to_average")[cs]
        affinity = np.zeros((len(seg_ids), n_prov))
        for lab in self.labs:
            for sid, v in lab.profile["affinity"].items():
                affinity[seg_ids.index(sid), lab.column] = v
        for sid, v in cfg["fringe"]["affinity"].items():
            affinity[seg_ids.index(sid), self.fringe.column] = v
        self.segment_affinity = affinity  # (K, P)
        self.cell_affinity = affinity[cs]

        # per-agent constants
        self.model_efficiency = np.ones(n_agents)
        for lab in self.labs:
            self.model_efficiency[lab.column] = lab.profile["model_efficiency"]
        self.model_efficiency[self.fringe.column] = cfg["fringe"]["model_efficiency"]
        w = cfg["world"]
        self.energy_usd_per_w_year = float(kernel.energy_usd_per_watt_year(w["energy_usd_per_mwh"], w["pue"]))

        # fleets and leases
        self.fleet = Fleet(len(self.hardware_ids), n_agents, watts=np.zeros((s, 0)))
        age = w["starting_fleet_age_months"]
        for agent in [*self.labs, *self.hyperscalers, self.publisher]:
            for watts, begins in starting_cohorts(agent.profile["watts"], age):
                self._add_vintage(agent.column, agent.profile["hardware"], watts, begins)
            for v in agent.profile.get("fleet", []):
                self._add_vintage(agent.column, v["hardware"], v["watts"], month_index(v["in_service"], self.start))
        self.leases = LeaseBook(len(self.hardware_ids), n_agents, watts=np.zeros((s, 0)),
                                price_usd_per_w_year=np.zeros((s, 0)))
        for lease in cfg["leases"]:
            self.leases.add(self.by_id[lease["lessor"]].column, self.by_id[lease["lessee"]].column,
                            lease["watts"], month_index(lease["start"], self.start), lease["months"],
                            lease["price_usd_per_w_year"], lease["note"], renew=lease["renew"])

        # state arrays
        quality = np.zeros((s, n_prov))
        price = np.zeros((s, len(seg_ids), n_prov))
        for lab in self.labs:
            quality[:, lab.column] = lab.profile["quality"]
            for sid, v in lab.profile["price_usd_per_mtok"].items():
                price[:, seg_ids.index(sid), lab.column] = v
        quality[:, self.fringe.column] = cfg["open_weights"]["quality"]
        price *= self.segment_priced[:, :, None]
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
            fringe_watts=np.full(s, cfg["fringe"]["watts"]),
            serving_multiplier=np.full(s, w["serving_multiplier"]),
            largest_cluster=rows([a.profile.get("largest_cluster_watts", 0.0) for a in self.ledger_agents]),
            outside_capital=np.zeros((s, n_agents)),
            raised=np.zeros((s, n_agents)),
            invested=np.zeros((s, n_agents)),
            ocf_history=np.zeros((s, 12, n_agents)),
            unmet_bid_watts=np.zeros((s, n_labs)),
            unmet_bid_price=np.zeros((s, n_labs)),
            price_index=np.zeros((s, len(seg_ids))),
            price_index_start=np.zeros((s, len(seg_ids))),
        )
        self.funding = FundingBook()
        # starting prices of the fringe and starting shares (no inertia yet)
        self.fringe.set_price(self._supply(0)["tpwy"][:, self.fringe.column])
        self.state.prev_share = token_market.logit_shares(self._utilities(), self.cell_outside)
        self.state.price_index_start = self._price_index(self.state.prev_share)
        self.state.price_index = self.state.price_index_start.copy()

    def _add_vintage(self, column: int, hardware: str, watts, start_step: int, order_step: int | None = None):
        hw = self.config["hardware"][hardware]
        return self.fleet.add(column, self.hardware_ids.index(hardware), watts, start_step, hw["life_years"] * 12,
                              hw["capex_usd_per_w"], order_step=order_step)

    def newest_hardware(self, family: str, t: int) -> str:
        """The latest generation of ``family`` on sale in month ``t`` (ties: most tokens per joule)."""
        key = (family, t)
        if key not in self._newest:
            self._newest[key] = self._find_newest(family, t)
        return self._newest[key]

    def _find_newest(self, family: str, t: int) -> str:
        hw = self.config["hardware"]
        on_sale = [h for h in self.hardware_ids
                   if hw[h]["family"] == family and month_index(hw[h]["available_from"], self.start) <= t]
        if not on_sale:
            on_sale = [h for h in self.hardware_ids if hw[h]["family"] == family]
        return max(on_sale, key=lambda h: (month_index(hw[h]["available_from"], self.start),
                                           hw[h]["tokens_per_joule"]))

    def build_cost_usd_per_w_year(self, hardware: str) -> float:
        """Full cost of a new watt of ``hardware`` a year: depreciation, energy, site opex."""
        hw, w = self.config["hardware"][hardware], self.config["world"]
        return (float(kernel.depreciation_usd_per_watt_year(hw["capex_usd_per_w"], hw["life_years"]))
                + self.energy_usd_per_w_year + w["site_opex_usd_per_w_year"])

    def add_build(self, column: int, hardware: str, watts, order_step: int, lead_months: int) -> int:
        """Order a cluster: paid over ``lead_months``, in service after them."""
        return self._add_vintage(column, hardware, watts, order_step + lead_months, order_step=order_step)

    def _renew_fleet(self, t: int) -> None:
        """Builds entering service, replacements of retiring vintages, lease roll-overs."""
        for row in self.fleet.entering_service(t):
            owner = int(self.fleet.owner[row])
            self.state.largest_cluster[:, owner] = np.maximum(self.state.largest_cluster[:, owner],
                                                              self.fleet.watts[:, row])
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
                                  self.fleet.watts[:, row], retires, order_step=min(t, retires - 1))
        self.leases.renew_expiring(t)

    # --------------------------------------------------------------- helpers
    def frontier_quality_at(self, step: int) -> np.ndarray:
        """Best lab quality at ``step`` (clamped to the recorded history), shape (S,)."""
        if not self._frontier_history:
            return self.state.quality[:, : len(self.labs)].max(axis=1)
        idx = min(max(step, 0), len(self._frontier_history) - 1)
        return self._frontier_history[idx]

    def _supply(self, t: int) -> dict[str, np.ndarray]:
        """Watts and tokens capacity of every agent in month ``t``."""
        st = self.state
        owned = self.fleet.owned_watts(t)
        lease_flows = self.leases.flows(t, owned)
        leased_out, leased_in = lease_flows["leased_out"], lease_flows["leased_in"]
        # a lessor that lets all it owns can come out a rounding error below zero
        operated = np.maximum(owned - leased_out + leased_in, 0.0)
        fringe_hw = self.hardware_ids.index(self.config["fringe"]["hardware"])
        operated[:, fringe_hw, self.fringe.column] += st.fringe_watts
        capacity_year = kernel.tokens_capacity_per_year(operated, self.tokens_per_joule[:, None],
                                                        self.model_efficiency, st.serving_multiplier[:, None])
        watts = operated.sum(axis=1)
        return {"owned": owned, "leased_out": leased_out, "leased_in": leased_in, "operated": operated,
                "rent_paid_usd_per_year": lease_flows["rent_paid_usd_per_year"],
                "rent_received_usd_per_year": lease_flows["rent_received_usd_per_year"],
                "watts": watts, "capacity_year": capacity_year,
                "tpwy": kernel.tokens_per_watt_year(capacity_year, watts)}

    def _utilities(self) -> np.ndarray:
        st = self.state
        log_price = np.log(np.maximum(st.price[:, self.cell_segment, :], token_market.PRICE_FLOOR_USD_PER_MTOK))
        return token_market.utility(st.quality[:, None, :], log_price, self.cell_affinity, st.prev_share,
                              beta_quality=self.cell_beta_quality, beta_price=self.cell_beta_price,
                              inertia=self.cell_inertia)

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
        t = self.steps - 1  # month index: 0 is the start month
        st, cfg = self.state, self.config
        if t > 0:
            for seg in self.segments:
                seg.grow()
        growth = lambda rate: (1 + rate) ** (t * DT_YEARS)  # noqa: E731
        st.serving_multiplier[:] = cfg["world"]["serving_multiplier"] * growth(
            cfg["world"]["serving_multiplier_growth_per_year"])
        self._renew_fleet(t)
        supply = self._supply(t)
        release_cost = self.publisher.maybe_release(t)
        self.fringe.set_price(supply["tpwy"][:, self.fringe.column])

        # token market
        customers, demand = zip(*(seg.cell_demand() for seg in self.segments))
        customers, demand = np.concatenate(customers, axis=1), np.concatenate(demand, axis=1)
        u = self._utilities()
        first = demand[..., None] * token_market.logit_shares(u, self.cell_outside)
        peak = kernel.safe_divide((first * self.cell_peak[:, None]).sum(axis=1), first.sum(axis=1))
        peak = np.where(peak > 0, peak, 1.0)
        training = self._training_share(supply)
        serving_share = 1.0 - training[:, : self.n_providers]
        capacity_month = supply["capacity_year"][:, : self.n_providers] * DT_YEARS * serving_share / peak
        cleared = token_market.water_fill(demand, u, self.cell_outside, capacity_month)

        metrics, market_rec = book_month(self, t, supply, cleared, customers, demand, release_cost)
        self.last_metrics, self.last_market = metrics, market_rec
        self._frontier_history.append(st.quality[:, : len(self.labs)].max(axis=1).copy())

        # decisions for next month
        for lab in self.labs:
            compute = (supply["operated"][:, :, lab.column] * self.training_efficiency).sum(axis=1)
            lab.train(compute * training[:, lab.column] * DT_YEARS)
        reachable = serving_share / peak
        util = metrics["utilization"][:, : self.n_providers]
        idle = np.clip(kernel.safe_divide(reachable - util, reachable), 0.0, 1.0)
        marginal = kernel.safe_divide(self.energy_usd_per_w_year + cfg["world"]["site_opex_usd_per_w_year"],
                                      supply["tpwy"]) * TOKENS_PER_MTOK
        limited = market_rec["rate_limited_share"]
        for lab in self.labs:
            lab.set_prices(rate_limited_share=limited[:, :, lab.column], idle_share=idle[:, lab.column],
                           marginal_usd_per_mtok=marginal[:, lab.column])
        st.prev_share = kernel.safe_divide(cleared.served, demand[..., None])
        st.price_index = self._price_index(st.prev_share)
        self.fringe.enter_or_exit(metrics["utilization"][:, self.fringe.column])

        # capacity market (leases from next month), builds, capital market, self-funding
        ctx = self._decision_context(supply, metrics, cleared, reachable, peak)
        lease_record = clearing.clear_capacity_market(self, t, ctx)
        clearing.plan_builds(self, t, ctx, lease_record["bid_price"], st.unmet_bid_watts, st.unmet_bid_price)
        st.unmet_bid_watts = lease_record.pop("unmet_bid_watts")
        st.unmet_bid_price = lease_record.pop("bid_price")
        st.raised[:], st.invested[:] = 0.0, 0.0
        for record in clearing.clear_capital_market(self, t):
            self.funding.add(**record)
        st.ocf_history = np.roll(st.ocf_history, -1, axis=1)
        st.ocf_history[:, -1, :] = metrics["operating_cash_flow_usd"]
        metrics.update(lease_record)
        metrics["paid_rate_limited_share"] = ctx["paid_rate_limited_share"]
        metrics["training_share"] = training
        metrics.update(clearing.self_funding(self, t))
        metrics.update({
            "cash_usd": st.cash.copy(),
            "raised_usd": st.raised.copy(),
            "invested_usd": st.invested.copy(),
            "outside_capital_usd": st.outside_capital.copy(),
            "watts_under_construction": self.fleet.under_construction(t),
            "largest_cluster_watts": st.largest_cluster.copy(),
        })

        self.history.append((metrics, market_rec))
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False

    def _price_index(self, cell_shares: np.ndarray) -> np.ndarray:
        """(S, K) each segment's price, weighted by the shares of its cells' demand served."""
        weights = np.stack([kernel.sum_cells(cell_shares, seg.cells) / (seg.cells.stop - seg.cells.start)
                            for seg in self.segments], axis=1)
        return kernel.safe_divide((weights * self.state.price).sum(axis=-1), weights.sum(axis=-1))

    def _training_share(self, supply) -> np.ndarray:
        """(S, A) share of operated watts each lab puts on training this month.

        A run needs g × the last run's compute (reference watt-years) over
        ``run_months``; its watts are that rate over the fleet's training
        efficiency, capped at ``max_training_share`` of operated watts.
        """
        st = self.state
        share = np.zeros(supply["watts"].shape)
        for lab in self.labs:
            p, c = lab.profile, lab.column
            watts = supply["watts"][:, c]
            efficiency = kernel.safe_divide((supply["operated"][:, :, c] * self.training_efficiency).sum(axis=1),
                                            watts)
            rate = st.last_run_compute[:, lab.lab_index] * p["generation_compute_multiple"] / (p["run_months"] / 12)
            needed = kernel.safe_divide(rate, efficiency)
            share[:, c] = np.minimum(kernel.safe_divide(needed, watts), p["max_training_share"])
            share[:, c] = np.where(watts > 0, share[:, c], 0.0)
        return share

    def _decision_context(self, supply, metrics, clearing, reachable, peak) -> dict:
        """What agents see when they bid, ask and build: arrays (S, A)."""
        s, n_agents = metrics["watts"].shape
        n_prov = self.n_providers
        priced_cells = self.segment_priced[0][self.cell_segment]
        paid_asked = kernel.sum_cells(clearing.asked, priced_cells)
        paid_served = kernel.sum_cells(clearing.served, priced_cells)
        cell_price = self.state.price[:, self.cell_segment, :] / TOKENS_PER_MTOK
        rejected = clearing.asked - clearing.served
        rejected_value = kernel.sum_cells(rejected * cell_price, priced_cells)
        paid_rejected = kernel.sum_cells(rejected, priced_cells)
        widen = lambda x: np.concatenate([x, np.zeros((s, n_agents - n_prov))], axis=1)  # noqa: E731
        return {
            "watts": metrics["watts"], "owned_watts": metrics["owned_watts"],
            "leased_out_watts": metrics["leased_out_watts"] + self.leases.pending_out(self.steps - 1),
            "served_tokens": metrics["tokens_served"],
            "owned_cost_per_watt_year": metrics["owned_cost_per_watt_year"],
            "tpwy": supply["tpwy"],
            "reachable": widen(reachable),
            "serving_reach": widen(1.0 / peak),
            "rejected_paid_tokens": widen(paid_rejected),
            "paid_price_usd_per_token": widen(kernel.safe_divide(rejected_value, paid_rejected)),
            "paid_rate_limited_share": widen(kernel.safe_divide(paid_asked - paid_served, paid_asked)),
        }

    def run(self) -> "WattyearModel":
        """Step to the horizon and return self."""
        while self.running:
            self.step()
        return self

    def date(self, step: int):
        return step_date(self.start, step)
