"""Calibration: the baseline against public figures, and a fit of its free behavioural parameters.

Targets are public figures from ``configs/sources.csv`` (values read from the
file, never retyped). Each target has a model measure, the month it is read
in, and the relative error the calibration promises for it. A few free
behavioural parameters (affinities, a size dispersion) are fitted to some of the
targets with ``scipy.optimize.least_squares`` on log ratios; the fit is
deterministic (fixed seed, no random restarts), so it reproduces exactly.

``wattyear calibrate`` evaluates the baseline and writes the Markdown report;
``--fit`` runs the fit first and ``--apply`` writes the fitted values into the
config file, on their lines, citing the targets they were fitted to.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import optimize

from wattyear.sim.config import CONFIG_DIR, ConfigError, Problem, resolve, value_at
from wattyear.sim.model import WattyearModel

SOURCES = CONFIG_DIR / "sources.csv"
#: months simulated to measure the targets (figures are from late 2025 to April 2026)
PROBE_MONTHS = 4
MINUTES_PER_MONTH = 30.4375 * 24 * 60


def figures(path: Path = SOURCES) -> dict[str, dict]:
    """Rows of the sources table by key, with ``value`` as a float."""
    with path.open(newline="") as fh:
        return {row["key"]: dict(row, value=float(row["value"])) for row in csv.DictReader(fh)}


class Probe:
    """Read model quantities for targets: scenario 0 of a finished short run."""

    def __init__(self, model: WattyearModel):
        self.model = model
        self.segments = [s.agent_id for s in model.segments]

    def metric(self, name: str, agent: str, month: int = 0) -> float:
        return float(getattr(self.model.history[month].books, name)[0, self.model.by_id[agent].column])

    def market(self, name: str, month: int = 0) -> np.ndarray:
        return getattr(self.model.history[month].market, name)[0]

    def served(self, agent: str, segments: tuple[str, ...], month: int = 0) -> float:
        p = self.model.by_id[agent].column
        rows = [self.segments.index(s) for s in segments]
        return float(self.market("served_tokens", month)[rows, p].sum())

    def users(self, agent: str, segments: tuple[str, ...], month: int = 0) -> float:
        """Customers of a provider: the customers whose tokens it served in each segment."""
        p = self.model.by_id[agent].column
        return float(sum(self.market("served_customers", month)[self.segments.index(s), p] for s in segments))

    def spend(self, segment: str, month: int = 0) -> float:
        return float(self.market("spend_usd", month)[self.segments.index(segment)].sum())

    def run_rate(self, agent: str, month: int = 0) -> float:
        return 12 * self.metric("token_revenue_usd", agent, month)


@dataclass(frozen=True)
class Target:
    """A public figure the model should reproduce.

    ``keys``: one key (a point) or two (a low and a high end of a range) of
    sources.csv. ``tolerance``: the promised relative error for a point (a
    range is matched when the model lies inside it, widened by the tolerance).
    """

    name: str
    keys: tuple[str, ...]
    measure: Callable[[Probe], float]
    unit: str
    scale: float = 1.0
    tolerance: float = 0.25
    fitted: bool = False
    note: str = ""
    #: a figure dated after the world's start: what the model forecasts is checked against what happened,
    #: never fitted to (the information date), and a miss is a finding rather than a broken calibration
    after_start: bool = False

    def figure(self, table: dict) -> tuple[float, float]:
        values = [table[k]["value"] for k in self.keys]
        return (values[0], values[0]) if len(values) == 1 else (min(values), max(values))

    def error(self, value: float, table: dict) -> float:
        """Relative error: to the point, or to the nearest end of the range (0 inside)."""
        low, high = self.figure(table)
        if low <= value <= high:
            return 0.0
        edge = low if value < low else high
        return (value - edge) / edge

    def ok(self, value: float, table: dict) -> bool:
        return abs(self.error(value, table)) <= self.tolerance


TARGETS = (
    Target("OpenAI revenue run-rate, Jan 2026", ("openai_arr_2025_usd",),
           lambda p: p.run_rate("openai"), "$B/yr", 1e-9, fitted=True),
    Target("Anthropic revenue run-rate, Jan 2026", ("anthropic_run_rate_2025_end_usd",),
           lambda p: p.run_rate("anthropic"), "$B/yr", 1e-9,
           note="rate-limited at the start, its revenue is its serving capacity times its prices: its "
                "enterprise appeal is not identified by it (set in the config above the capacity it has)"),
    Target("xAI revenue, 2025", ("xai_revenue_2025_low_usd", "xai_revenue_2025_high_usd"),
           lambda p: p.run_rate("xai"), "$B/yr", 1e-9,
           note="reports disagree ($0.34B to $3.2B, the high one may include X)"),
    Target("OpenAI compute", ("openai_compute_capacity_2025_gw",),
           lambda p: p.metric("watts", "openai") / 1e9, "GW", note="an input (leases), checked"),
    Target("ChatGPT weekly users, Oct 2025", ("chatgpt_wau_2025_10",),
           lambda p: p.users("openai", ("consumer_free", "consumer_paid")), "M", 1e-6, fitted=True,
           note="model users are monthly customers x OpenAI's share of their tokens, in January 2026"),
    Target("ChatGPT weekly users, Feb 2026", ("chatgpt_wau_2026_02",),
           lambda p: p.users("openai", ("consumer_free", "consumer_paid"), 1), "M", 1e-6,
           note="checked, not fitted: dated after the start (2026-01)", after_start=True),
    Target("ChatGPT paying consumers, early 2026", ("chatgpt_plus_subscribers_2026", "chatgpt_paid_subscribers_2026_02"),
           lambda p: p.users("openai", ("consumer_paid",), 1), "M", 1e-6,
           note="checked, not fitted: dated after the start (2026-01)", after_start=True),
    Target("Anthropic business customers, late 2025", ("anthropic_business_customers_2025_10",),
           lambda p: p.users("anthropic", ("enterprise",)), "K", 1e-3, tolerance=1.0,
           note="the figure is '300K+': up to twice it counts as a match"),
    Target("Anthropic customers over $1M a year, Apr 2026", ("anthropic_customers_1m_plus_2026_04",),
           lambda p: p.metric("customers_over_1m", "anthropic", 3), "", tolerance=0.5,
           note="emerges from the lognormal enterprise sizes; '1,000+'; checked, not fitted: dated after the "
                "start (2026-01)", after_start=True),
    Target("OpenAI API tokens, late 2025", ("openai_api_tokens_per_minute_2025_10",),
           lambda p: p.served("openai", ("api", "enterprise")) / MINUTES_PER_MONTH, "B/min", 1e-9, fitted=True,
           tolerance=0.5),
    Target("Open-weights share of developer tokens", ("openrouter_open_weights_token_share_peak",),
           lambda p: p.served("open_weights_fringe", ("api",)) / max(p.market("served_tokens")[p.segments.index("api")].sum(),
                                                                      1e-300),
           "share", fitted=True, tolerance=0.35,
           note="OpenRouter's peak share of tokens served; routers over-represent open weights"),
    Target("Consumer AI subscription market", ("consumer_ai_subscription_market_usd_per_yr",),
           lambda p: 12 * p.spend("consumer_paid"), "$B/yr", 1e-9),
    Target("xAI loss, 2025", ("xai_net_loss_2025_usd",),
           lambda p: -12 * p.metric("operating_profit_usd", "xai"), "$B/yr", 1e-9, tolerance=0.35,
           note="model operating loss at the start vs reported net loss"),
    Target("Cost per watt-year, Hopper-class owner (xAI)", ("ai_dc_annual_tco_per_mw_usd", "ai_dc_annual_tco_per_mw_h100_usd"),
           lambda p: p.metric("cost_usd_per_watt_year", "xai") * 1e6, "$/W-yr", 1e-6),
    Target("Anthropic gross margin, 2025", ("anthropic_gross_margin_2025",),
           lambda p: p.metric("gross_margin", "anthropic", 0), "share", tolerance=0.35,
           note="token revenue less the cost of serving watts (rent, depreciation, site opex, energy), in January 2026: the 2025 figure against the month closest to it"),
    Target("Google tokens a month (all surfaces)", ("google_tokens_per_month_2025_06",),
           lambda p: p.served("gemini", tuple(p.segments)), "T/month", 1e-12, tolerance=0.5, fitted=True,
           note="a mid-2025 figure; Google's count includes Search AI Overviews"),
)


@dataclass(frozen=True)
class FreeParameter:
    """A behavioural parameter the fit may move, within bounds; ``target`` is the
    figure it mainly informs (all fitted targets are fitted jointly)."""

    path: str
    low: float
    high: float
    target: str


FREE = (
    FreeParameter("labs.openai.affinity.consumer_free", -2.0, 5.0, "ChatGPT weekly users, Oct 2025"),
    FreeParameter("labs.openai.affinity.consumer_paid", -2.0, 5.0, "OpenAI revenue run-rate, Jan 2026"),
    FreeParameter("labs.openai.affinity.api", -3.0, 5.0, "OpenAI API tokens, late 2025"),
    FreeParameter("labs.gemini.affinity.consumer_free", -2.0, 5.0, "Google tokens a month (all surfaces)"),
    FreeParameter("fringe.affinity.api", -10.0, 4.0, "Open-weights share of developer tokens"),
)


#: the agents and segments the targets and free parameters name: the calibration is of the baseline's world
NEEDS = {"labs": ("openai", "anthropic", "xai", "gemini"),
         "segments": ("consumer_free", "consumer_paid", "enterprise", "api")}


def check_world(config: dict, source: str) -> None:
    """Refuse a config whose world lacks an agent or segment the public figures are about (the calibration
    compares OpenAI's revenue with OpenAI's, and so on)."""
    problems = [Problem(source, f"{table}.{name}", f"the {table[:-1]} {name!r}: calibrate compares the baseline's "
                        f"agents and segments with public figures about them", "no such entry")
                for table, names in NEEDS.items() for name in names if name not in config[table]]
    if problems:
        raise ConfigError(problems)


def probe(config: dict, overrides: dict | None = None) -> Probe:
    """Run the first ``PROBE_MONTHS`` months of a config (with overrides)."""
    cfg = resolve(config, overrides={**(overrides or {}), "run.months": PROBE_MONTHS})
    return Probe(WattyearModel(cfg).run())


def measure_all(config: dict, overrides: dict | None = None) -> dict[str, float]:
    p = probe(config, overrides)
    return {t.name: t.measure(p) for t in TARGETS}


@dataclass
class FitResult:
    start: dict[str, float]
    fitted: dict[str, float]
    residuals: dict[str, float]  #: log(model / figure) of each fitted target (0 inside a range)
    cost: float
    evaluations: int
    message: str
    values: dict[str, float] = field(default_factory=dict)


def fit(config: dict, max_evaluations: int = 200) -> FitResult:
    """Fit the free parameters to the fitted targets: least squares on log ratios."""
    table = figures()
    fitted_targets = [t for t in TARGETS if t.fitted]
    x0 = np.array([float(np.clip(value_at(config, f.path), f.low, f.high)) for f in FREE])
    low = np.array([t.figure(table)[0] for t in fitted_targets])
    high = np.array([t.figure(table)[1] for t in fitted_targets])

    def residuals(x):
        """log(model / figure), or to the nearest end of a range (0 inside it)."""
        values = measure_all(config, {f.path: float(v) for f, v in zip(FREE, x)})
        model = np.array([max(values[t.name], 1e-30) for t in fitted_targets])
        return np.log(model) - np.log(np.clip(model, low, high))

    sol = optimize.least_squares(residuals, x0, bounds=([f.low for f in FREE], [f.high for f in FREE]),
                                 method="trf", diff_step=1e-3, x_scale=1.0, max_nfev=max_evaluations)
    best = {f.path: float(v) for f, v in zip(FREE, sol.x)}
    return FitResult(
        start={f.path: float(v) for f, v in zip(FREE, x0)},
        fitted=best,
        residuals={t.name: float(r) for t, r in zip(fitted_targets, sol.fun)},
        cost=float(sol.cost),
        evaluations=int(sol.nfev),
        message=str(sol.message),
        values=measure_all(config, best),
    )


#: the first line of a fitted copy of a packaged config (``wattyear calibrate --apply`` outside a checkout)
FITTED_HEADER = "# fitted by wattyear calibrate --apply:"


def apply_fit(config_path: Path, fitted: dict[str, float], digits: int = 3) -> None:
    """Write fitted values into a config file on their own lines, citing the fit."""
    config_path.write_text(fitted_text(config_path, fitted, digits))


def fitted_text(config_path: Path, fitted: dict[str, float], digits: int = 3) -> str:
    """A config file's text with fitted values on their own lines, citing the fit.

    Handles keys written as ``key = value`` inside their table, or inside an
    inline table on the parent's line (``affinity = { api = 0.6 }``) or in a
    ``[labs.x.affinity]`` table. A key the file itself does not write (one it
    takes from the config it ``extends``) raises ConfigError naming it.
    """
    from wattyear.sim.config import ConfigError, Problem

    text = config_path.read_text().splitlines()
    targets = {t.name: t for t in TARGETS}
    free = {f.path: f for f in FREE}
    missing = []
    for path, value in fitted.items():
        target = targets[free[path].target]
        comment = f"# fit: {', '.join(target.keys)} (wattyear calibrate --fit: {target.name})"
        try:
            text = _set_line(text, path, round(value, digits), comment)
        except KeyError:
            missing.append(path)
    if missing:
        raise ConfigError([Problem(str(config_path), key, "the fitted parameter written in this file (--apply "
                                   "writes only into the file that sets it, not into the config it extends)",
                                   "missing") for key in missing])
    return "\n".join(text) + "\n"


def _set_line(lines: list[str], path: str, value: float, comment: str) -> list[str]:
    *tables, key = path.split(".")
    header = "[" + ".".join(tables) + "]"
    parent_header = "[" + ".".join(tables[:-1]) + "]"
    current = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped.split("#")[0].strip()
            continue
        if current == header and re.match(rf"^{re.escape(key)}\s*=", stripped):
            lines[i] = f"{key} = {value:<10} {comment}"
            return lines
        if current == parent_header and re.match(rf"^{re.escape(tables[-1])}\s*=\s*\{{", stripped):
            # an inline table: replace just this entry and leave the line's comment
            lines[i] = re.sub(rf"(\b{re.escape(key)}\s*=\s*)[-+0-9.eE]+", rf"\g<1>{value}", line, count=1)
            return lines
    raise KeyError(f"{path} not found in the config file")


def report(config: dict, fit_result: FitResult | None = None, config_name: str = "configs/baseline.toml",
           applied: bool = False) -> str:
    """The calibration report, Markdown."""
    table = figures()
    values = measure_all(config)
    lines = [
        "# Calibration report",
        "",
        f"Generated by `wattyear calibrate` from `{config_name}` (seed {config['run']['seed']}); "
        f"targets are read in the first {PROBE_MONTHS} months of a run (January to April 2026).",
        "Figures come from `configs/sources.csv` (key, value, source). A range is matched when the model",
        "lies inside it; the error is then to its nearest end. *fitted*: a free parameter was fitted to it;",
        "*after the start*: a figure dated after the world's start, a forecast checked against what happened",
        "(never fitted: the information date).",
        "",
        "| target | figure (key) | model | error | promised | ok |",
        "|---|---|---|---|---|---|",
    ]
    for t in TARGETS:
        low, high = t.figure(table)
        fig = f"{low * t.scale:,.3g}" if low == high else f"{low * t.scale:,.3g} to {high * t.scale:,.3g}"
        value = values[t.name]
        err = t.error(value, table)
        tag = " *(fitted)*" if t.fitted else " *(after the start)*" if t.after_start else ""
        lines.append(f"| {t.name}{tag} | {fig} {t.unit} "
                     f"(`{'`, `'.join(t.keys)}`) | {value * t.scale:,.3g} {t.unit} | {err:+.0%} | "
                     f"±{t.tolerance:.0%} | {'yes' if t.ok(value, table) else '**no**'} |")
    notes = [f"- {t.name}: {t.note}" for t in TARGETS if t.note]
    lines += ["", "Notes:", *notes, ""]
    if fit_result is not None:
        lines += ["## Fit", "",
                  f"`scipy.optimize.least_squares` (trf, bounded) on log(model / figure), "
                  f"{fit_result.evaluations} evaluations, cost {fit_result.cost:.4g}: {fit_result.message}. "
                  + ("The fitted values are written in the config and measured above."
                     if applied else "Started from the config's values; the table above measures the config "
                     "as it is (`--apply` writes the fitted values into it)."), "",
                  "| parameter | bounds | start | fitted | fitted to |", "|---|---|---|---|---|"]
        for f in FREE:
            lines.append(f"| `{f.path}` | {f.low:g} to {f.high:g} | {fit_result.start[f.path]:.3g} | "
                         f"{fit_result.fitted[f.path]:.3g} | {f.target} |")
        lines += ["", "| fitted target | residual log(model/figure) |", "|---|---|"]
        lines += [f"| {name} | {r:+.3f} |" for name, r in fit_result.residuals.items()]
        lines.append("")
    lines += ["## What the model does not match, and why", "", *UNMATCHED, ""]
    return "\n".join(lines)


UNMATCHED = (
    "- **OpenAI's 2025 operating loss** (`openai_operating_loss_2025_ex_items_usd`, $8B ex-items; "
    "`openai_net_loss_2025_usd` $38.5B with a one-time charge): the model books all of OpenAI's compute "
    "(training included) as rent and depreciation, plus overhead, and gives a loss near $23B a year at the "
    "start, between the two reported figures, which differ in what they exclude.",
    "- **Anthropic's gross margin** (`anthropic_gross_margin_2025`, 50%): the model has no split between "
    "inference and training cost in its accounts; every operated watt costs the same, so a gross margin "
    "is not defined the same way.",
    "- **Microsoft's tokens** (`microsoft_tokens_march_2025`): most are OpenAI models served on Azure; "
    "the model books those tokens to OpenAI and pays Microsoft rent for the watts.",
    "- **Prices** at the start are inputs (list prices cited in the config), not outcomes; later prices "
    "are outcomes of the pricing rule and are not compared with the 2026 list prices (`gpt5_5_output_usd_per_mtok` "
    "shows frontier list prices rising again, which the rule does not produce while labs are idle).",
    "- **Capacity and hardware figures** (GW, tokens per joule, capex per watt, PUE, energy prices) are "
    "inputs cited line by line in the config; only OpenAI's compute is listed above as a check.",
)
