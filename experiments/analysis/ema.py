"""wattyear as an EMA Workbench model: exploratory modelling and scenario discovery.

The EMA Workbench (``pip install 'wattyear[ema]'``) samples uncertain inputs,
runs a model over them and finds the regions of input space where an outcome
of interest happens (PRIM, CART). This module makes wattyear such a model:

- ``uncertainties(paths)``: EMA parameters for dotted config paths, with the
  cited ranges of ``configs/bounds.toml`` (``IntegerParameter`` for integer
  fields, ``RealParameter`` otherwise);
- ``ema_name(path)`` / ``dotted_path(name)``: EMA passes parameters as keyword
  arguments, so each dotted path travels under an identifier
  (``open_weights.quality_fraction`` ↔ ``open_weights__quality_fraction``);
- ``OUTCOMES`` / ``outcome_names(rpt_month)``: the scalar outcomes per lab;
- ``model(base, paths=..., months=..., replicates=..., seed=...)``: a ready
  ``ema_workbench.Model``;
- ``for_prim(experiments)``: the experiments table as PRIM and CART want it.

    >>> from wattyear.experiments.analysis import ema
    >>> m = ema.model(paths=["open_weights.quality_fraction", "open_weights.lag_months"], months=12)
    >>> from ema_workbench import perform_experiments   # after ema.model(), which silences its import warning
    >>> experiments, outcomes = perform_experiments(m, scenarios=2, uncertainty_sampling_kwargs={"rng": 1})
    >>> sorted(for_prim(experiments).columns)
    ['open_weights.lag_months', 'open_weights.quality_fraction']
    >>> outcomes["anthropic_crossing_month"].shape
    (2,)

Outcomes (one value per experiment: the median over its replicates):

- ``<lab>_crossing_month``: months from the run's start (``run.start``, 2026-01
  in the baseline) to the first month the lab's self-funding ratio is ≥ 1
  (0 = the first month). A lab that never reaches 1 within the horizon is
  **censored at the horizon** (120 for the 120-month baseline, months 0-119: the first month after the
  run): read the horizon as "not within the horizon", not as a date. Over replicates the outcome is the
  Kaplan–Meier median (``experiments.analysis.survival``): the first month by which half the replicates
  have crossed, or the horizon when fewer than half cross, never an average with a censored value;
- ``<lab>_final_margin``: operating margin (a fraction, operating profit over
  revenue) in the last month;
- ``<lab>_outside_capital_bn``: outside capital raised since the start, in
  billions of dollars, at the end of the run;
- ``<lab>_rpt_<YYYY_MM>``: revenue per token in dollars per million tokens in
  that month (default 2030-12); NaN if the month is not within the horizon.
"""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from wattyear.sim.config import CONFIG_DIR, ConfigError, Problem, field_at

#: the labs of the baseline config; ``model()`` uses the labs of its base config
LABS = ("openai", "anthropic", "xai", "gemini")
#: the kinds of outcome per lab, in the order ``outcome_names`` lists them
OUTCOME_KINDS = ("crossing_month", "final_margin", "outside_capital_bn", "rpt")
#: default month of the revenue-per-token outcome
RPT_MONTH = "2030-12"
#: the columns EMA adds to an experiments table besides the sampled parameters
EMA_COLUMNS = ("scenario", "policy", "model")

_SEP = "__"


# ------------------------------------------------------------ optional import

def _ema():
    """The ``ema_workbench`` package, or ConfigError saying how to install it (imported quietly: it
    warns on import when ipyparallel is missing, which wattyear never uses)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ipyparallel.*")
            import ema_workbench
    except ImportError:
        raise ConfigError([Problem("ema", "ema_workbench", "EMA Workbench installed: pip install 'wattyear[ema]'",
                                   "not installed")]) from None
    return ema_workbench


# ------------------------------------------------------------------ names

def ema_name(path: str) -> str:
    """The identifier a dotted parameter path travels under in EMA (dots become ``__``).

    >>> ema_name("open_weights.quality_fraction")
    'open_weights__quality_fraction'
    >>> dotted_path(ema_name("labs.openai.generation_compute_multiple"))
    'labs.openai.generation_compute_multiple'
    """
    parts = path.split(".")
    bad = [p for p in parts if not p or _SEP in p or p.startswith("_") or p.endswith("_")]
    name = _SEP.join(parts)
    if bad or not name.isidentifier():
        raise ConfigError([Problem("ema", path, "a dotted path whose parts are identifiers (letters, digits, single "
                                   "underscores inside) so that it maps to an EMA name and back", path)])
    return name


def dotted_path(name: str) -> str:
    """The dotted parameter path of an EMA name (``__`` becomes a dot); the inverse of ``ema_name``.
    A name without ``__`` (``"scenario"``) comes back as it is.

    >>> dotted_path("open_weights__lag_months")
    'open_weights.lag_months'
    """
    return name.replace(_SEP, ".")


# ----------------------------------------------------------------- bounds

def bounds(path: Path | None = None) -> dict[str, tuple[float, float]]:
    """The cited ranges of ``configs/bounds.toml``: ``{dotted path: (low, high)}``, in file order.

    >>> bounds()["open_weights.lag_months"]
    (3, 10)
    """
    with open(path or CONFIG_DIR / "bounds.toml", "rb") as fh:
        table = tomllib.load(fh).get("bounds", {})
    return {key: (entry["low"], entry["high"]) for key, entry in table.items()}


def _ranges(paths: Iterable[str] | None, ranges: dict[str, Sequence[float]] | None) -> dict[str, tuple]:
    """{path: (low, high)} for the given paths (default: every path of bounds.toml); ConfigError naming
    each path that is not a known parameter or has no range."""
    cited = bounds()
    extra = {k: tuple(v) for k, v in (ranges or {}).items()}
    chosen = list(paths) if paths is not None else list(cited) + [k for k in extra if k not in cited]
    problems, out = [], {}
    for path in chosen:
        f = field_at(path)
        if f is None or f.kind not in ("int", "float"):
            problems.append(Problem("ema", path, "a numeric parameter's dotted path (see docs/parameters.md)",
                                    "unknown parameter" if f is None else f"a {f.kind} field"))
            continue
        rng = extra.get(path, cited.get(path))
        if rng is None:
            problems.append(Problem("ema", path, "a range in configs/bounds.toml (or in ranges=)", "no range"))
            continue
        if len(rng) != 2 or not rng[0] < rng[1]:
            problems.append(Problem("ema", path, "a range (low, high) with low < high", rng))
            continue
        out[path] = (int(rng[0]), int(rng[1])) if f.kind == "int" else (float(rng[0]), float(rng[1]))
    if problems:
        raise ConfigError(problems)
    for path in out:
        ema_name(path)  # a path EMA cannot carry is refused here, before any run
    return out


def uncertainties(paths: list[str] | None = None, *, ranges: dict[str, Sequence[float]] | None = None) -> list:
    """EMA parameters for dotted config paths (default: every parameter of ``configs/bounds.toml``),
    named by ``ema_name``, ranged by bounds.toml (or by ``ranges``, ``{path: (low, high)}``, which
    takes precedence and may add paths bounds.toml lacks): ``IntegerParameter`` for integer fields,
    ``RealParameter`` otherwise. Unknown paths raise ConfigError naming them.

    >>> [(u.__class__.__name__, u.name, u.lower_bound, u.upper_bound)
    ...  for u in uncertainties(["open_weights.lag_months", "world.pue"])]
    [('IntegerParameter', 'open_weights__lag_months', 3, 10), ('RealParameter', 'world__pue', 1.1, 1.58)]
    """
    ema = _ema()
    out = []
    for path, (low, high) in _ranges(paths, ranges).items():
        kind = ema.IntegerParameter if field_at(path).kind == "int" else ema.RealParameter
        out.append(kind(ema_name(path), low, high))
    return out


# ---------------------------------------------------------------- outcomes

def _month_tag(month: str) -> str:
    """``"2030-12"`` → ``"2030_12"``; ConfigError unless a strict YYYY-MM."""
    try:
        stamp = pd.Timestamp(f"{month}-01") if len(month) == 7 and month[4] == "-" else None
    except (ValueError, TypeError):
        stamp = None
    if stamp is None:
        raise ConfigError([Problem("ema", "rpt_month", "a month as YYYY-MM", month)])
    return f"{stamp.year:04d}_{stamp.month:02d}"


def outcome_names(rpt_month: str = RPT_MONTH, labs: Sequence[str] = LABS) -> list[str]:
    """The outcome names, four per lab (see the module's docstring for units and censoring).

    >>> outcome_names(labs=["anthropic"])
    ['anthropic_crossing_month', 'anthropic_final_margin', 'anthropic_outside_capital_bn', 'anthropic_rpt_2030_12']
    """
    tag = _month_tag(rpt_month)
    return [f"{lab}_{kind}" if kind != "rpt" else f"{lab}_rpt_{tag}" for lab in labs for kind in OUTCOME_KINDS]


#: the outcomes of the baseline's labs with the default revenue-per-token month
OUTCOMES = outcome_names()


def outcome_values(metrics: pd.DataFrame, *, rpt_month: str = RPT_MONTH, labs: Sequence[str] | None = None,
                   months: int | None = None) -> dict[str, float]:
    """The outcomes of one run, from its ``metrics`` table (``RunResult.metrics``, or one scenario's
    rows of an ensemble's). ``months`` is the horizon (default: the run's number of months); a lab
    that never self-funds gets ``months`` (the first month after the run).

    >>> import wattyear
    >>> values = outcome_values(wattyear.run(months=6).metrics, rpt_month="2026-03")
    >>> values["anthropic_crossing_month"], round(values["anthropic_rpt_2026_03"], 3) > 0
    (6.0, True)
    """
    rows = metrics[metrics["kind"] == "lab"]
    labs = list(labs) if labs is not None else list(dict.fromkeys(rows["agent"]))
    horizon = int(months if months is not None else rows["step"].nunique())
    when = pd.Timestamp(f"{rpt_month}-01")
    tag = _month_tag(rpt_month)
    from wattyear.sim.capital_market import crossing_step

    out: dict[str, float] = {}
    for lab in labs:
        g = rows[rows["agent"] == lab].sort_values("step")
        if g.empty:
            raise ValueError(f"no lab {lab!r} in the metrics (labs: {sorted(set(rows['agent']))})")
        hit = crossing_step(g["self_funding_ratio"].to_numpy(),
                            g["raised_usd"].to_numpy() if "raised_usd" in g else None)
        last = g.iloc[-1]
        at = g.loc[g["date"] == when, "revenue_usd_per_mtok"]
        out[f"{lab}_crossing_month"] = float(horizon if hit is None else hit)
        out[f"{lab}_final_margin"] = float(last["operating_margin"])
        out[f"{lab}_outside_capital_bn"] = float(last["outside_capital_usd"]) / 1e9
        out[f"{lab}_rpt_{tag}"] = float(at.iloc[0]) * 1.0 if len(at) else float("nan")
    return out


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The run seeds of the replicates: ``numpy.random.SeedSequence(seed).spawn(replicates)``, each
    child's first 64-bit word halved into a non-negative 63-bit integer (as the sweeps do).

    >>> replicate_seeds(0, 2) == replicate_seeds(0, 3)[:2]
    True
    """
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
            for child in np.random.SeedSequence(seed).spawn(replicates)]


class Experiment:
    """The function EMA calls per experiment: keyword arguments by EMA name → overrides → one
    ``wattyear.run_ensemble`` of the replicate seeds → the median of each outcome over replicates.

    A module-level class, so a model built on it pickles (``MultiprocessingEvaluator`` works).
    Integer parameters are rounded (``int(round(x))``) before they become overrides. A crossing month's
    median over replicates is ``crossing_median``: some replicate's month, or the horizon (not reached).
    """

    def __init__(self, base: Any, paths: Sequence[str], *, months: int | None, seeds: Sequence[int],
                 rpt_month: str, labs: Sequence[str]):
        self.base = base
        self.paths = list(paths)
        self.kinds = {path: field_at(path).kind for path in self.paths}
        self.months = months
        self.seeds = list(seeds)
        self.rpt_month = rpt_month
        self.labs = list(labs)

    def overrides(self, **params) -> dict[str, Any]:
        """The overrides for EMA's keyword arguments (dotted paths, integers rounded)."""
        names = {ema_name(p): p for p in self.paths}
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(f"unexpected parameters {unknown}; this model takes {sorted(names)}")
        out = {}
        for name, value in params.items():
            path = names[name]
            out[path] = int(round(float(value))) if self.kinds[path] == "int" else float(value)
        return out

    def replicate_outcomes(self, **params) -> pd.DataFrame:
        """One row per replicate (its seed the index), one column per outcome."""
        import wattyear

        ens = wattyear.run_ensemble(self.base, overrides=self.overrides(**params), seeds=self.seeds,
                                    months=self.months)
        horizon = int(ens.metrics["step"].max()) + 1
        rows = [outcome_values(frame, rpt_month=self.rpt_month, labs=self.labs, months=horizon)
                for _, frame in ens.metrics.groupby("scenario", sort=True)]
        return pd.DataFrame(rows, index=pd.Index(self.seeds, name="seed"))

    def __call__(self, **params) -> dict[str, float]:
        table = self.replicate_outcomes(**params)
        horizon = int(self.months) if self.months is not None else None
        return {name: crossing_median(table[name].to_numpy(), horizon) if name.endswith("_crossing_month")
                else float(np.median(table[name].to_numpy())) for name in table.columns}


def crossing_median(months: np.ndarray, horizon: int | None = None) -> float:
    """The Kaplan–Meier median of replicates' crossing months, each censored at ``horizon`` (default: the
    largest value, which is the horizon wherever some replicate does not cross): the first month by which
    half the replicates have crossed, or ``horizon`` when fewer than half do. With one horizon for all
    replicates this is the lower middle replicate's month, never an average with a censored value (so
    taking the largest value as the horizon changes nothing: the median is the ⌈n/2⌉-th smallest either way).

    >>> crossing_median(np.array([22.0, 24.0]), 24), crossing_median(np.array([5.0, 24.0, 24.0]), 24)
    (22.0, 24.0)
    """
    from wattyear.experiments.analysis.survival import survival_table, median_crossing

    horizon = float(np.max(months)) if horizon is None else float(horizon)
    crossed = np.where(months < horizon, months, np.nan)
    median = median_crossing(survival_table(crossed, horizon - 1))
    return horizon if median is None else median


def model(base: str | Path | dict = "baseline", *, paths: list[str] | None = None, months: int | None = None,
          replicates: int = 1, seed: int = 0, rpt_month: str = RPT_MONTH, name: str = "wattyear",
          ranges: dict[str, Sequence[float]] | None = None):
    """A ready ``ema_workbench.Model`` of wattyear.

    ``base``: the config the overrides apply to (a packaged name, a TOML file or a dict);
    ``paths``: the uncertain parameters (default: all of ``configs/bounds.toml``; ``ranges`` as in
    ``uncertainties``); ``months``: the horizon (default: the config's ``run.months``);
    ``replicates`` seeds per experiment, the same for every experiment (common random numbers:
    ``replicate_seeds(seed, replicates)``), run together as one ensemble; each outcome is their
    median. Outcomes: ``outcome_names(rpt_month, labs of base)`` as ``ScalarOutcome``s (see the
    module's docstring: crossing months are censored at the horizon). Everything is checked
    before any run: unknown paths, or overrides the base config refuses, raise ConfigError.

    >>> m = model(paths=["world.pue"], months=6, replicates=3)
    >>> [u.name for u in m.uncertainties], len(m.outcomes), m.function.seeds == replicate_seeds(0, 3)
    (['world__pue'], 16, True)
    >>> m.function(world__pue=1.2)["anthropic_crossing_month"]  # never within 6 months: censored at 6
    6.0
    """
    ema = _ema()
    if not isinstance(replicates, int) or replicates < 1:
        raise ConfigError([Problem("ema", "replicates", "an integer ≥ 1", replicates)])
    if not name.isidentifier():
        raise ConfigError([Problem("ema", "name", "a Python identifier (EMA Workbench 3 requires one)", name)])
    chosen = _ranges(paths, ranges)
    import wattyear

    # every override the model may send, at both ends of its range, checked now rather than mid-study
    for end in (0, 1):
        extra = {p: r[end] for p, r in chosen.items()}
        if months is not None:
            extra["run.months"] = months
        cfg = wattyear.load_config(base, overrides=extra)
    labs = list(cfg["labs"])
    fn = Experiment(base, list(chosen), months=months, seeds=replicate_seeds(seed, replicates), rpt_month=rpt_month,
                    labs=labs)
    m = ema.Model(name, function=fn)
    m.uncertainties = uncertainties(list(chosen), ranges=ranges)
    m.outcomes = [ema.ScalarOutcome(n) for n in outcome_names(rpt_month, labs)]
    return m


# ------------------------------------------------------------------ analysis

def for_prim(experiments: pd.DataFrame, model=None, *, dotted: bool = True) -> pd.DataFrame:
    """The experiments table of ``perform_experiments`` ready for PRIM or CART: only the uncertainty
    columns (those of ``model`` if given, else every column but EMA's ``scenario``, ``policy`` and
    ``model``), each numeric one as float64 (PRIM peels only float and int64 columns, and under
    pandas 3 sampled integers may come as other dtypes), **renamed to dotted paths** (so boxes read
    ``open_weights.lag_months``); ``dotted=False`` keeps the EMA names.

    >>> table = pd.DataFrame({"world__pue": [1.2, 1.3], "open_weights__lag_months": [3, 4],
    ...                       "scenario": [0, 1], "policy": ["None"] * 2, "model": ["wattyear"] * 2})
    >>> for_prim(table).dtypes.to_dict()
    {'world.pue': dtype('float64'), 'open_weights.lag_months': dtype('float64')}
    """
    if model is not None:
        keep = [u.name for u in model.uncertainties]
    else:
        keep = [c for c in experiments.columns if c not in EMA_COLUMNS]
    x = experiments.loc[:, keep].copy()
    for column in x.columns:
        if pd.api.types.is_numeric_dtype(x[column]) and not pd.api.types.is_bool_dtype(x[column]):
            x[column] = x[column].astype(np.float64)
    x = x.reset_index(drop=True)
    if dotted:
        x.columns = [dotted_path(c) for c in x.columns]
    return x


__all__ = ["LABS", "OUTCOMES", "OUTCOME_KINDS", "RPT_MONTH", "EMA_COLUMNS", "ema_name", "dotted_path", "bounds",
           "uncertainties", "outcome_names", "outcome_values", "replicate_seeds", "Experiment", "model", "for_prim"]
