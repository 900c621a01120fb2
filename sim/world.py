"""The ``World``: everything about a run that does not change while it steps, built once from the
stacked config.

PyPSA keeps one static table per component beside the time series of what
changes; the ``World`` is that static table for wattyear. It holds the ledger's
columns (labs, the open-weights fringe, hyperscalers, the publisher, in that
order), the segments' customer classes (demand cells), every per-scenario
parameter array the month's rules read (shape (S, …)), and the hardware
catalogue: which generation is on sale when, the serving stack's multiplier and
a new watt's tokens per watt-year. It knows nothing of agents, state or Mesa.

Shapes: S scenarios, A ledger agents, P providers (labs then the fringe: the
first P ledger columns), L labs, K segments, N demand cells, H hardware.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from wattyear.sim import kernel
from wattyear.sim.config_checks import FRINGE_ID, PUBLISHER_ID
from wattyear.sim.schema import FUNDING, FundingSource, Pricing
from wattyear.sim.units import DT_YEARS, SECONDS_PER_YEAR, month_index


#: a lab with no funding table raises from investors, every other field at its schema default
DEFAULT_FUNDING = {**{k: f.default for k, f in FUNDING.items() if not f.required},
                   "source": FundingSource.INVESTORS, "share": 1.0}


class HardwareCatalogue:
    """The hardware on sale and what a watt of it yields, month by month (answers are cached: the
    catalogue is the same for every month's question, and asked often)."""

    def __init__(self, config: dict, start: str, n_scenarios: int):
        self._hardware = config["hardware"]
        self._world = config["world"]
        self._start = start
        self._n_scenarios = n_scenarios
        self.ids = tuple(self._hardware)
        self._rows = {h: i for i, h in enumerate(self.ids)}
        self._newest: dict[tuple[str, int], str] = {}
        self._multipliers: dict[int, np.ndarray] = {}

    def __getitem__(self, hardware_id: str) -> dict:
        """The config's table of ``hardware_id`` (per-scenario numbers are (S,) arrays)."""
        return self._hardware[hardware_id]

    def index(self, hardware_id: str) -> int:
        """Its row in the (S, H) hardware arrays."""
        return self._rows[hardware_id]

    def family(self, hardware_id: str) -> str:
        return self._hardware[hardware_id]["family"]

    def newest(self, family: str, t: int) -> str:
        """The latest generation of ``family`` on sale in month ``t`` (ties: the one listed later in the
        config). Ties go to the one listed last: the choice sets the fleet's rows, so it must not
        depend on numbers that differ between scenarios."""
        key = (family, t)
        if key not in self._newest:
            hw = self._hardware
            on_sale = [h for h in self.ids
                       if hw[h]["family"] == family and month_index(hw[h]["available_from"], self._start) <= t]
            if not on_sale:  # (validation keeps every owner's family on sale from the start)
                raise ValueError(f"no generation of hardware family {family!r} is on sale in month {t}")
            self._newest[key] = max(on_sale, key=lambda h: (month_index(hw[h]["available_from"], self._start),
                                                            self.ids.index(h)))
        return self._newest[key]

    def serving_multiplier(self, step: int) -> np.ndarray:
        """(S,) m(t) of the serving stack in month ``step`` (do not modify the result)."""
        if step not in self._multipliers:
            w = self._world
            self._multipliers[step] = kernel.serving_multiplier(
                w["serving_multiplier"], w["serving_multiplier_growth_per_year"],
                w["serving_multiplier_halflife_years"], np.full(self._n_scenarios, step * DT_YEARS))
        return self._multipliers[step]

    def new_watt_tpwy(self, hardware: dict, step: int) -> np.ndarray:
        """Flagship tokens a watt of ``hardware`` yields a year at full load in month ``step``."""
        return hardware["tokens_per_joule"] * SECONDS_PER_YEAR * self.serving_multiplier(step)


@dataclass(frozen=True)
class World:
    """The static side of a run (fields are never reassigned; their arrays are read-only once built)."""

    config: dict  #: the stacked config: per-scenario numbers are (S,) arrays (``sim.batch``)
    n_scenarios: int
    seeds: tuple  #: (S,) each scenario's seed (the entropy of its generator)
    start: str  #: the first month, ``YYYY-MM``
    horizon: int  #: months the run steps
    hardware: HardwareCatalogue
    # the ledger
    agent_ids: tuple[str, ...]  #: (A,) ledger columns' ids
    agent_kinds: tuple[str, ...]  #: (A,) ``lab``, ``fringe``, ``hyperscaler``, ``open_weights``
    lab_ids: tuple[str, ...]
    hyperscaler_ids: tuple[str, ...]
    n_providers: int  #: P: the labs and the fringe (ledger columns 0 … P − 1)
    fringe_column: int
    publisher_column: int
    columns: dict  #: agent id → ledger column
    funding: dict  #: lab id → its funding sources (``[[labs.X.funding]]``, or investors alone)
    # the segments and their customer classes
    segment_ids: tuple[str, ...]
    segment_cells: tuple[slice, ...]  #: each segment's rows of the (S, N, P) market arrays
    cell_segment: np.ndarray  #: (N,) segment of each cell
    segment_starts: np.ndarray  #: (K,) first cell of each segment (segments are contiguous runs of cells)
    segment_priced: np.ndarray  #: (1, K) bool: not a free segment
    segment_by_plan: np.ndarray  #: (1, K) bool: sold by the month (prices are $ a subscriber-month)
    consumer_segments: np.ndarray  #: (K,) bool: free or subscription (a chatbot answer: Search at risk)
    segment_beta_quality: np.ndarray  #: (S, K)
    segment_beta_price: np.ndarray  #: (S, K)
    segment_price_elasticity: np.ndarray  #: (S, K)
    segment_nest_scale: np.ndarray  #: (S, K) λ = 1 − σ of the nested logit
    segment_task_affinity: np.ndarray  #: (S, K) appeal of open weights for a closed lab's customer's task
    nest_of: np.ndarray  #: (P,) each provider's nest: 0 the closed labs, 1 the open-weights fringe
    cell_nest_scale: np.ndarray  #: (S, N) λ of each customer class
    segment_peak: np.ndarray  #: (S, K) peak-to-average load
    segment_affinity: np.ndarray  #: (S, K, P)
    segment_routing: np.ndarray  #: (S, K, P) compute per token of each provider's model mix
    cell_inertia: np.ndarray  #: (S, N, 1)
    cell_outside: np.ndarray  #: (S, N) utility of the outside option
    # per agent and hardware
    tokens_per_joule: np.ndarray  #: (S, H)
    training_efficiency: np.ndarray  #: (S, H)
    capital_cost_usd_per_w_year: np.ndarray  #: (S, H) depreciation and site opex of a watt a year
    model_efficiency: np.ndarray  #: (S, A) tokens of its own models per flagship token
    overhead_growth: np.ndarray  #: (S, L) each lab's yearly overhead growth (``overhead_growth_per_year``)
    fringe_hardware: int  #: the fringe's hardware row
    energy_usd_per_w_year: np.ndarray  #: (S,) energy cost of an IT watt running a year
    # the starting market, against which quality and usage are measured
    start_quality: np.ndarray  #: (S, P)
    #: (S, K, P) $/Mtok, or $ a subscriber-month in a subscription segment (the tiers' blended fee); the
    #: fringe's column is its first cost-plus price
    start_price: np.ndarray
    #: (S, K) the price usage per customer is measured against: the starting customer-share-weighted
    #: geometric mean of the closed labs' list prices (0 in free segments; set by the model with the habits)
    reference_price: np.ndarray

    def freeze(self) -> "World":
        """Make every array read-only (after the model has set the fringe's starting price)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        return self

    @property
    def n_agents(self) -> int:
        return len(self.agent_ids)

    @property
    def n_labs(self) -> int:
        return len(self.lab_ids)

    def column(self, agent_id: str) -> int:
        """The ledger column of ``agent_id``."""
        return self.columns[agent_id]

    def profiles(self) -> list[dict]:
        """The config table of every ledger column, in ledger order (a lab's, the fringe's, a
        hyperscaler's, the publisher's ``open_weights``)."""
        cfg = self.config
        return [*(cfg["labs"][i] for i in self.lab_ids), cfg["fringe"],
                *(cfg["hyperscalers"][i] for i in self.hyperscaler_ids), cfg["open_weights"]]


def per_scenario_columns(values, n_scenarios: int) -> np.ndarray:
    """(S, X) array of X per-scenario numbers (each a scalar or an (S,) array), one column each.

    >>> per_scenario_columns([1.0, np.array([2.0, 3.0])], 2).tolist()
    [[1.0, 2.0], [1.0, 3.0]]
    """
    return np.stack([np.broadcast_to(np.asarray(v, float), (n_scenarios,)) for v in values], axis=1)


def build_world(cfg: dict, seeds: tuple) -> World:
    """The ``World`` of a stacked, validated config with one scenario per seed.

    Ledger columns: labs in config order, the fringe, hyperscalers, the publisher.
    """
    s = len(seeds)
    rows = lambda values: per_scenario_columns(values, s)  # noqa: E731

    hw = cfg["hardware"]
    hardware_ids = list(hw)
    lab_ids, hyper_ids, seg_ids = list(cfg["labs"]), list(cfg["hyperscalers"]), list(cfg["segments"])
    n_labs = len(lab_ids)
    n_prov = n_labs + 1
    fringe = n_labs
    agent_ids = (*lab_ids, FRINGE_ID, *hyper_ids, PUBLISHER_ID)
    agent_kinds = ("lab",) * n_labs + ("fringe",) + ("hyperscaler",) * len(hyper_ids) + ("open_weights",)
    n_agents = len(agent_ids)

    cells, start = [], 0
    for sid in seg_ids:
        n_classes = cfg["segments"][sid]["size_classes"]
        cells.append(slice(start, start + n_classes))
        start += n_classes
    cell_segment = np.concatenate([np.full(c.stop - c.start, k) for k, c in enumerate(cells)])
    seg_param = lambda key: rows([cfg["segments"][sid][key] for sid in seg_ids])  # noqa: E731  (S, K)

    affinity = np.zeros((s, len(seg_ids), n_prov))
    routing = np.ones((s, len(seg_ids), n_prov))
    model_efficiency = np.ones((s, n_agents))
    quality = np.zeros((s, n_prov))
    price = np.zeros((s, len(seg_ids), n_prov))
    for column, lid in enumerate(lab_ids):
        lab = cfg["labs"][lid]
        for sid, v in lab["affinity"].items():
            affinity[:, seg_ids.index(sid), column] = v
        model_efficiency[:, column] = lab["model_efficiency"]
        for sid, v in lab["compute_per_token"].items():
            routing[:, seg_ids.index(sid), column] = v
        quality[:, column] = lab["quality"]
        for sid, v in lab["price_usd_per_mtok"].items():
            price[:, seg_ids.index(sid), column] = v
        for sid, fee in lab["subscription_usd_per_month"].items():  # the tiers' blended fee a subscriber pays
            seg = cfg["segments"][sid]
            price[:, seg_ids.index(sid), column] = ((1 - seg["premium_share"]) * fee
                                                    + seg["premium_share"] * seg["premium_fee_usd_per_month"])
    for sid, v in cfg["fringe"]["affinity"].items():
        affinity[:, seg_ids.index(sid), fringe] = v
    model_efficiency[:, fringe] = cfg["fringe"]["model_efficiency"]
    # the fringe serves open weights at q × the frontier (the publisher's release rule, at the start)
    quality[:, fringe] = kernel.release_quality(cfg["open_weights"]["quality_fraction"], quality[:, :n_labs].max(axis=1))
    priced = (np.array([cfg["segments"][sid]["pricing"] != Pricing.FREE for sid in seg_ids]))[None, :]
    price *= priced[:, :, None]
    w = cfg["world"]
    return World(
        config=cfg, n_scenarios=s, seeds=tuple(seeds), start=cfg["run"]["start"], horizon=cfg["run"]["months"],
        hardware=HardwareCatalogue(cfg, cfg["run"]["start"], s),
        agent_ids=agent_ids, agent_kinds=agent_kinds, lab_ids=tuple(lab_ids), hyperscaler_ids=tuple(hyper_ids),
        n_providers=n_prov, fringe_column=fringe, publisher_column=n_agents - 1,
        columns={a: i for i, a in enumerate(agent_ids)},
        funding={lid: tuple(cfg["labs"][lid]["funding"] or [DEFAULT_FUNDING]) for lid in lab_ids},
        segment_ids=tuple(seg_ids), segment_cells=tuple(cells), cell_segment=cell_segment,
        segment_starts=np.array([c.start for c in cells]), segment_priced=priced,
        segment_by_plan=np.array([[cfg["segments"][sid]["pricing"] == Pricing.SUBSCRIPTION for sid in seg_ids]]),
        consumer_segments=np.array([cfg["segments"][sid]["pricing"] in (Pricing.FREE, Pricing.SUBSCRIPTION)
                                    for sid in seg_ids]),
        segment_beta_quality=seg_param("beta_quality"), segment_beta_price=seg_param("beta_price"),
        segment_price_elasticity=seg_param("price_elasticity"), segment_peak=seg_param("peak_to_average"),
        segment_nest_scale=1.0 - seg_param("nest_parameter"), nest_of=np.array([0] * n_labs + [1]),
        segment_task_affinity=seg_param("open_task_affinity"),
        cell_nest_scale=np.ascontiguousarray(1.0 - seg_param("nest_parameter")[:, cell_segment]),
        segment_affinity=affinity, segment_routing=routing,
        cell_inertia=np.ascontiguousarray(seg_param("inertia")[:, cell_segment, None]),
        cell_outside=np.ascontiguousarray(seg_param("outside_utility")[:, cell_segment]),
        tokens_per_joule=rows([hw[h]["tokens_per_joule"] for h in hardware_ids]),
        training_efficiency=rows([hw[h]["training_efficiency"] for h in hardware_ids]),
        capital_cost_usd_per_w_year=(rows([hw[h]["capex_usd_per_w"] / hw[h]["life_years"] for h in hardware_ids])
                                     + w["site_opex_usd_per_w_year"][:, None]),
        model_efficiency=model_efficiency,
        overhead_growth=rows([cfg["labs"][lid]["overhead_growth_per_year"] for lid in lab_ids]),
        fringe_hardware=hardware_ids.index(cfg["fringe"]["hardware"]),
        energy_usd_per_w_year=kernel.energy_usd_per_watt_year(w["energy_usd_per_mwh"], w["pue"]),
        start_quality=quality, start_price=price, reference_price=np.zeros((s, len(seg_ids))),
    )

