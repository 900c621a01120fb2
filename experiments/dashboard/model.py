"""The dashboard's model and numbers, without the page (``experiments.dashboard.app`` draws them).

* ``KNOBS`` and ``dashboard_config``: the page's sliders and switches as changes to a config, validated
  like a file (a knob left at its default leaves the config as it was loaded).
* ``DashboardModel``: a ``WattyearModel`` built from those knobs by keyword, which is how Mesa's SolaraViz
  rebuilds a model on Reset; stepping is serialised by a lock, so the page's Step, Play and "Run to
  horizon" never step it at once.
* ``series``: the arrays each panel plots, read from the model's own history (no DataFrames per frame).
* ``reference``: the config as loaded run to the horizon, or a band over draws from a posterior, stepped
  as one ensemble with a progress callback, for the side-by-side comparison.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from wattyear.sim.config import ConfigError, Problem, load_config, relabel, resolve
from wattyear.sim.config_files import find_config, read_toml
from wattyear.sim.paths import set_at, value_at
from wattyear.sim.model import WattyearModel

#: where the Colossus switch takes its lease from: the packaged what-if, so the two always agree
COLOSSUS_CONFIG = "colossus_lease"
#: the switch's lease: lessor and lessee
COLOSSUS = ("xai", "anthropic")
#: the self-funding threshold drawn on the ratio's panel (``self_funding_ratio`` ≥ 1: operations could pay)
SELF_FUNDING_THRESHOLD = 1.0
GW = 1e9


@dataclass(frozen=True)
class Knob:
    """One control of the page: a keyword of ``DashboardModel``."""

    name: str
    label: str
    kind: str  # "float" | "int" | "bool"
    min: float = 0.0
    max: float = 1.0
    step: float = 1.0
    #: the config path whose loaded value is the default (None: a multiplier or switch with a fixed default)
    path: str | None = None
    default: Any = None
    help: str = ""


#: the page's knobs besides the per-lab power sliders (``power_knobs``); ranges stay inside the schema's
KNOBS = (
    Knob("open_weights_quality", "Open-weights quality (× frontier)", "float", 0.5, 1.0, 0.01,
         path="open_weights.quality_fraction",
         help="q of the next open-weights release, as a fraction of the frontier it copies"),
    Knob("release_every_months", "Open-weights release every (months)", "int", 1, 24, 1,
         path="open_weights.release_every_months", help="Meta's release cadence"),
    Knob("colossus_lease", "Colossus 1 leased to Anthropic", "bool", default=False,
         help=f"adds the [[leases]] of the packaged {COLOSSUS_CONFIG!r} what-if (300 MW from May 2026)"),
    Knob("energy_usd_per_mwh", "Energy price ($/MWh)", "float", 20.0, 250.0, 2.5, path="world.energy_usd_per_mwh",
         help="electricity paid by every data centre"),
    Knob("price_sensitivity", "Price sensitivity (× β_price)", "float", 0.25, 3.0, 0.05, default=1.0,
         help="multiplies every priced segment's logit price coefficient"),
    Knob("demand_growth", "Demand growth (× usage growth)", "float", 0.0, 3.0, 0.05, default=1.0,
         help="multiplies every segment's growth of tokens per customer"),
    Knob("months", "Horizon (months)", "int", 12, 120, 6, path="run.months"),
    Knob("seed", "Seed", "int", 0, 1000, 1, path="run.seed"),
)
#: bounds of the per-lab power slider (GW a year)
POWER_RANGE = (0.0, 10.0, 0.25)


def power_knobs(cfg: dict) -> tuple[Knob, ...]:
    """One slider per lab: the new power it secures each year for builds of its own
    (``labs.<id>.power_secured_w_per_year``, shown in GW/yr; OpenAI and Anthropic start at 0 and grow through
    partners' leases and contracts)."""
    lo, hi, step = POWER_RANGE
    return tuple(Knob(f"power_{lab}", f"{profile.get('name', lab)}: power for own builds (GW/yr)", "float",
                      lo, hi, step, path=f"labs.{lab}.power_secured_w_per_year",
                      help="new watts it can power each year for its own builds")
                 for lab, profile in cfg["labs"].items())


def knobs_for(cfg: dict) -> tuple[Knob, ...]:
    return (*KNOBS, *power_knobs(cfg))


def knob_default(knob: Knob, cfg: dict) -> Any:
    """The knob's value that leaves ``cfg`` as it is."""
    if knob.name == "colossus_lease":
        return has_colossus_lease(cfg)
    if knob.path is None:
        return knob.default
    node = value_at(cfg, knob.path)
    if knob.name.startswith("power_"):
        return float(node) / GW
    return int(node) if knob.kind == "int" else float(node)


def defaults(cfg: dict) -> dict[str, Any]:
    return {k.name: knob_default(k, cfg) for k in knobs_for(cfg)}


def has_colossus_lease(cfg: dict) -> bool:
    return any((lease["lessor"], lease["lessee"]) == COLOSSUS for lease in cfg.get("leases", []))


def colossus_leases() -> list[dict]:
    """The Colossus leases of the packaged what-if (its own ``[[leases]]``, not the baseline's it extends)."""
    raw = read_toml(find_config(COLOSSUS_CONFIG))
    return [dict(lease) for lease in raw.get("leases", []) if (lease["lessor"], lease["lessee"]) == COLOSSUS]


def dashboard_config(cfg: dict, source: str = "dashboard", **knobs: Any) -> dict:
    """``cfg`` (validated) with the knobs applied, validated again; unknown knobs are refused by name."""
    known = {k.name: k for k in knobs_for(cfg)}
    unknown = sorted(set(knobs) - set(known))
    if unknown:
        raise ConfigError([Problem(source, name, f"one of {', '.join(known)}", "an unknown knob")
                           for name in unknown])
    values = dict(defaults(cfg))
    values.update({k: v for k, v in knobs.items() if v is not None})
    raw = copy.deepcopy(cfg)
    for knob in KNOBS:
        if knob.path is not None:
            set_at(raw, knob.path, int(values[knob.name]) if knob.kind == "int" else float(values[knob.name]))
    for seg in raw["segments"].values():
        seg["beta_price"] = seg["beta_price"] * float(values["price_sensitivity"])
        seg["usage_growth_per_year"] = seg["usage_growth_per_year"] * float(values["demand_growth"])
    wants, has = bool(values["colossus_lease"]), has_colossus_lease(raw)
    if wants and not has:
        raw["leases"] = [*raw.get("leases", []), *colossus_leases()]
    elif has and not wants:
        raw["leases"] = [lease for lease in raw["leases"] if (lease["lessor"], lease["lessee"]) != COLOSSUS]
    start = defaults(cfg)
    for lab, profile in raw["labs"].items():
        if values[f"power_{lab}"] != start[f"power_{lab}"]:  # (GW → W and back need not round-trip)
            profile["power_secured_w_per_year"] = float(values[f"power_{lab}"]) * GW
    return resolve(raw, source)


class DashboardModel(WattyearModel):
    """The market model, built from a config and the page's knobs (keywords of ``KNOBS`` and
    ``power_<lab>``); a knob left out keeps the config's value.

    ``config`` is a path, a packaged config name or a validated dict (default: the baseline). ``scenario``
    is what SolaraViz's Reset passes (Mesa's default ``Scenario``); it is ignored: the config and the knobs
    are this model's scenario, and its generator is seeded by the ``seed`` knob.
    """

    def __init__(self, config: str | Path | dict | None = None, *, rng: Any = None, scenario: Any = None,
                 **knobs: Any):
        base = config if isinstance(config, dict) else load_config(config)
        self.knobs = {**defaults(base), **{k: v for k, v in knobs.items() if v is not None}}
        self.base_config = base
        cfg = dashboard_config(base, **knobs)
        self._lock = threading.Lock()
        super().__init__(cfg, rng=rng)

    def step(self) -> None:
        """One month; a no-op past the horizon (the page's Play, Step and "Run to horizon" share it)."""
        with self._lock:
            if self.running:
                super().step()

    @property
    def months_done(self) -> int:
        return len(self.history)


# ---------------------------------------------------------------- what the panels plot
@dataclass
class Series:
    """One scenario's (or a band's) panels as arrays over months: per lab (T, L), per segment × provider
    (T, K, P). A band holds the 5th, 50th and 95th percentiles on a leading axis of 3."""

    months: np.ndarray  # (T,) month index
    dates: list[str]  # (T,) "YYYY-MM"
    labs: list[str]
    lab_names: list[str]
    segments: list[str]
    segment_names: list[str]
    providers: list[str]
    lab: dict[str, np.ndarray] = field(default_factory=dict)
    market: dict[str, np.ndarray] = field(default_factory=dict)

    def at(self, key: str, month: int) -> np.ndarray | None:
        """Per lab values of ``key`` in ``month`` (index), or None past the end."""
        arr = self.lab[key]
        return arr[..., month, :] if month < arr.shape[-2] else None


#: per lab panels: metric → display scale (tokens per watt-year in millions, revenue per token in $/Mtok)
LAB_METRICS = {
    "mtok_per_watt_year": 1.0,
    "revenue_usd_per_mtok": 1.0,
    "revenue_usd_per_watt_year": 1.0,
    "cost_usd_per_watt_year": 1.0,
    "self_funding_ratio": 1.0,
    "owned_watts": 1e-9,
    "leased_in_watts": 1e-9,
    "watts": 1e-9,
    "operating_margin": 1.0,
    "cash_usd": 1e-9,
    "outside_capital_usd": 1e-9,
}


def series(model: WattyearModel, months: int | None = None) -> Series:
    """The panels of a model's history so far (scenario 0; with several scenarios, the 5/50/95 band).

    Reads a snapshot of the history (a slice is a copy, taken at once), so a thread stepping the model
    meanwhile never gives panels of two lengths."""
    history = model.history[:months] if months is not None else model.history[:]
    n_labs = len(model.labs)
    out = Series(months=np.arange(len(history)), dates=[model.date(t).strftime("%Y-%m") for t in
                                                         range(len(history))],
                 labs=[lab.agent_id for lab in model.labs], lab_names=[lab.name for lab in model.labs],
                 segments=[s.agent_id for s in model.segments], segment_names=[s.name for s in model.segments],
                 providers=list(model.world.agent_ids[: model.world.n_providers]))
    if not history:
        return out
    band = model.n_scenarios > 1
    for key, scale in LAB_METRICS.items():
        arr = np.stack([getattr(r.books, key)[:, :n_labs] for r in history], axis=1) * scale  # (S, T, L)
        out.lab[key] = np.percentile(arr, [5, 50, 95], axis=0) if band else arr[0]
    price = np.stack([r.market.price_usd_per_mtok for r in history], axis=1)  # (S, T, K, P)
    served = np.stack([r.market.served_tokens for r in history], axis=1)
    usage = np.stack([r.market.usage for r in history], axis=1)
    demand = np.stack([r.market.demand for r in history], axis=1)[..., None]
    share = np.divide(served / np.where(usage > 0, usage, 1.0), demand, out=np.zeros_like(served),
                      where=demand > 0)
    for key, arr in (("price_usd_per_mtok", price), ("share", share)):
        out.market[key] = np.percentile(arr, [5, 50, 95], axis=0) if band else arr[0]
    return out


# ---------------------------------------------------------------- references
@dataclass
class Reference:
    """What the running scenario is set beside: a label and its panels (a band if ``band``)."""

    label: str
    series: Series
    band: bool


def reference(config: dict, *, posterior: str | Path | None = None, draws: int = 40,
              progress: Callable[[int, int], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> Reference | None:
    """``config`` run to its horizon; with ``posterior``, ``draws`` parameter sets from it laid over
    ``config`` (a seed each: the config's seed + 0, 1, …), stepped as one ensemble: the 5–95% band.

    The posterior's parameters are applied to this config, whatever config they were fitted on: the band is
    this world with the fitted parameters' uncertainty, on this world's calendar. A parameter this config
    does not have is a ``ConfigError`` naming it. ``progress(done, total)`` is called each month;
    ``cancelled()`` returning True stops early (None is returned)."""
    if posterior is None:
        model, label = WattyearModel(config), "as configured"
    else:
        from wattyear.experiments.calibration.posterior import draws as posterior_draws

        _, overrides = posterior_draws(posterior, draws)
        source = f"{posterior} (posterior)"
        configs = [_with_draw(config, source, o) for o in overrides]
        seed = config["run"]["seed"]
        model = WattyearModel(configs, seeds=[seed + i for i in range(draws)])
        label = f"with {Path(posterior).name} posterior parameters, 5–95% of {draws} draws"
    total = model.horizon
    while model.running:
        if cancelled is not None and cancelled():
            return None
        model.step()
        if progress is not None:
            progress(len(model.history), total)
    return Reference(label, series(model), band=posterior is not None)


def check_posterior(config: dict, posterior: str | Path) -> None:
    """Refuse a posterior folder whose draws cannot be read or laid over ``config`` (before the page
    starts: in the page it would only be found when the band is chosen)."""
    from wattyear.experiments.calibration.posterior import draws as posterior_draws

    try:
        _, overrides = posterior_draws(posterior, 1)
    except ConfigError:
        raise
    except Exception as exc:  # a damaged parquet or json: name the folder
        raise ConfigError([Problem(str(posterior), "(posterior)", "a posterior folder written by wattyear "
                                   "calibrate --posterior", f"unreadable ({type(exc).__name__}: {exc})")]) from None
    _with_draw(config, f"{posterior} (posterior)", overrides[0])


def _with_draw(config: dict, source: str, overrides: dict) -> dict:
    try:
        return resolve(config, source, overrides=overrides)
    except ConfigError as exc:  # blame the posterior, not --set
        raise relabel(exc, source) from None


# ---------------------------------------------------------------- the month's table
#: the table's columns: (metric key in ``Series.lab`` or a segment price, header, format)
TABLE_COLUMNS = (
    ("owned_watts", "Owned GW", "{:.2f}"),
    ("leased_in_watts", "Leased-in GW", "{:.2f}"),
    ("mtok_per_watt_year", "TPWY (M tok/W-yr)", "{:.1f}"),
    ("revenue_usd_per_mtok", "RPT ($/Mtok)", "{:.3g}"),
    ("revenue_usd_per_watt_year", "RPWY ($/W-yr)", "{:.1f}"),
    ("cost_usd_per_watt_year", "CPWY ($/W-yr)", "{:.1f}"),
    ("self_funding_ratio", "SFR", "{:.2f}"),
)


def month_table(s: Series, month: int | None = None) -> list[dict[str, Any]]:
    """One row per lab for ``month`` (default: the last one shown): the table's values, unformatted, and
    each priced segment's list price (key ``price_<segment>``)."""
    if not s.lab:
        return []
    month = len(s.months) - 1 if month is None else month
    rows = []
    for i, lab in enumerate(s.labs):
        row: dict[str, Any] = {"lab": lab, "name": s.lab_names[i]}
        for key, _, _ in TABLE_COLUMNS:
            row[key] = float(s.lab[key][month, i])
        for k, seg in enumerate(s.segments):
            row[f"price_{seg}"] = float(s.market["price_usd_per_mtok"][month, k, i])
        rows.append(row)
    return rows
