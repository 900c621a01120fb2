"""Checking the model against observed outcomes: ``wattyear validate OUTCOMES.csv``.

An outcomes table (``calibration.outcomes``: its columns and metrics) has one
observed figure a row. The model's scenarios (a config's seeds, or draws from a posterior sample)
give each row a distribution: its median, the 50% and 90% intervals, the
ratio of the observed value to the median and whether the observed value
falls inside each interval. Overall: the median absolute log ratio and the
share of rows inside each interval (the coverage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.calibration.outcomes import check_rows, model_values, read_outcomes
from wattyear.sim.config import ConfigError, Problem, with_overrides
from wattyear.sim.problems import relabel
from wattyear.sim.units import month_index

@dataclass
class Validation:
    """Per row: the model's quantiles, the observed value, the ratio and the coverage; and overall."""

    rows: pd.DataFrame
    scenarios: int
    #: what the model's bands carry: seed noise, parameter uncertainty, a discrepancy term, the figures' own spread
    carries: str = "seed noise"

    @property
    def median_abs_log_ratio(self) -> float:
        """The median over rows of |log(observed / model median)|; a row whose sign the model gets wrong
        (or zero) counts as infinitely far, so it can only worsen the figure."""
        r = self.rows["ratio"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(r > 0, np.abs(np.log(np.where(r > 0, r, 1.0))), np.inf)
        return float(np.median(logs))

    @property
    def wrong_sign(self) -> int:
        """Rows whose model median has the other sign than the observed value (or is zero)."""
        return int((~(self.rows["ratio"] > 0)).sum())

    @property
    def coverage(self) -> dict[str, float]:
        return {"50%": float(self.rows["in_50"].mean()), "90%": float(self.rows["in_90"].mean())}

    def markdown(self, title: str) -> str:
        lines = [f"# {title}", "", f"{len(self.rows)} observed outcomes against {self.scenarios} model scenarios. "
                 f"The bands carry {self.carries}.",
                 "", f"- median absolute log ratio (observed / model median): **{self.median_abs_log_ratio:.3f}** "
                 f"(a factor of {math.exp(self.median_abs_log_ratio):.2f}; rows of the wrong sign count as "
                 f"infinitely far: {self.wrong_sign})",
                 f"- coverage of the 50% interval: **{self.coverage['50%']:.0%}**; of the 90% interval: "
                 f"**{self.coverage['90%']:.0%}**", "",
                 "| key | metric | agent | months | observed | model median | 50% interval | 90% interval | "
                 "observed / median | in 50% | in 90% |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows.itertuples():
            months = r.end if r.start == r.end else f"{r.start} to {r.end}"
            lines.append(f"| `{r.key}` | {r.metric} | {r.agent} | {months} | {r.value:.4g} | {r.median:.4g} | "
                         f"{r.q25:.3g} – {r.q75:.3g} | {r.q05:.3g} – {r.q95:.3g} | {r.ratio:.2f} | "
                         f"{'yes' if r.in_50 else 'no'} | {'yes' if r.in_90 else 'no'} |")
        return "\n".join(lines) + "\n"


#: draws of a discrepancy term per model scenario when its quantiles are taken
DISCREPANCY_DRAWS = 20
#: the largest |log factor| a discrepancy draw applies (keeps heavy-tailed draws finite; e^50 ≈ 5·10²¹)
MAX_LOG_FACTOR = 50.0


def with_discrepancy(values: np.ndarray, sigma, rng: np.random.Generator,
                     draws: int = DISCREPANCY_DRAWS, dof: float = math.inf, own=None) -> np.ndarray:
    """(rows, scenarios × draws) predictive values: each scenario's value × exp(σ·z + u·w). σ is the model
    discrepancy (one log-sd or one per row) and z ~ N(0, 1), or Student's t with ``dof`` degrees of freedom
    when σ is itself an estimate from ``dof`` residuals of known mean zero (the predictive of a new residual r
    given n earlier ones is r/σ̂ ~ t_n, so a σ read off few misses widens the tails: 2.35 instead of 1.64 sd
    at the 95th percentile for n = 3). u is each row's own log-sd (``own``: a figure's stated spread) and
    w ~ N(0, 1): a figure's own spread is not read off misses, so it never gets t tails. A negative value (a
    loss) is widened the same way in size; σ and u of 0 or NaN leave the values (repeated).

    >>> v = np.array([[10.0, 20.0]])
    >>> with_discrepancy(v, 0.0, np.random.default_rng(0), draws=2).tolist()
    [[10.0, 10.0, 20.0, 20.0]]
    """
    repeated = np.repeat(values, draws, axis=1)
    rows = (len(values),)
    sigma = np.nan_to_num(np.broadcast_to(np.asarray(sigma, dtype=float), rows), nan=0.0)
    own = np.zeros(rows) if own is None else np.nan_to_num(np.broadcast_to(np.asarray(own, dtype=float), rows))
    if not np.any(sigma > 0) and not np.any(own > 0):
        return repeated
    log = np.zeros(repeated.shape)
    if np.any(sigma > 0):
        z = rng.standard_normal(repeated.shape) if math.isinf(dof) else rng.standard_t(dof, repeated.shape)
        log += sigma[:, None] * z
    if np.any(own > 0):
        log += own[:, None] * rng.standard_normal(repeated.shape)
    # t's rare huge draws (t₁ is Cauchy) would overflow exp; a factor of e^±50 is far beyond any band's quantile
    return repeated * np.exp(np.clip(log, -MAX_LOG_FACTOR, MAX_LOG_FACTOR))


def compare_rows(table: pd.DataFrame, values: np.ndarray, *, discrepancy: float = 0.0, seed: int = 0,
                 carries: str = "seed noise", dof: float = math.inf) -> Validation:
    """The per-row comparison of observed values with the scenarios' values (rows × scenarios). With a
    ``discrepancy`` (a log-sd of model error) or rows with an ``uncertainty`` (the figure's own log-sd), each
    scenario's value is spread by exp(d·z + u·w) (``with_discrepancy``: log-sd √(d² + u²) with normal tails)
    before the quantiles are taken; the median moves only by sampling noise. A finite ``dof`` (the residuals
    the discrepancy was estimated from) draws the discrepancy's z from Student's t; the figure's own w stays
    normal."""
    n_scenarios = values.shape[1]
    own = table["uncertainty"].to_numpy(float) if "uncertainty" in table else np.zeros(len(table))
    dof = dof if discrepancy > 0 else math.inf
    if discrepancy > 0 or np.any(own > 0):
        # its own stream: not a spawn of ``seed``, whose children seed the scenarios
        values = with_discrepancy(values, discrepancy,
                                  np.random.default_rng(np.random.SeedSequence([seed, 0x5D15C])), dof=dof, own=own)
        tails = "" if math.isinf(dof) else f", Student's t tails with {dof:g} degree{'' if dof == 1 else 's'} of freedom"
        parts = [carries] + ([f"a model-discrepancy term (log-sd {discrepancy:g}{tails})"]
                             if discrepancy > 0 else []) + \
            (["each figure's own uncertainty (its table's column)"] if np.any(own > 0) else [])
        carries = ", ".join(parts[:-1]) + " and " + parts[-1]
    q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    rows = table[["key", "metric", "agent", "start", "end", "value", "source"]].copy()
    rows["q05"], rows["q25"], rows["median"], rows["q75"], rows["q95"] = q
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["ratio"] = rows["value"] / rows["median"]
    rows["in_50"] = (rows["value"] >= rows["q25"]) & (rows["value"] <= rows["q75"])
    rows["in_90"] = (rows["value"] >= rows["q05"]) & (rows["value"] <= rows["q95"])
    return Validation(rows.reset_index(drop=True), n_scenarios, carries)


def validate(outcomes: str | Path, *, config: str | Path | None = None, posterior: str | Path | None = None,
             scenarios: int = 20, seed: int = 0, discrepancy: float = 0.0,
             discrepancy_dof: float = math.inf) -> Validation:
    """The model against an outcomes table: ``scenarios`` runs of ``config`` (seeds spawned from ``seed``),
    or ``scenarios`` draws from a posterior sample (``wattyear calibrate --posterior``'s folder), each
    with its own seed; bands widened by a ``discrepancy`` log-sd (normal tails, or Student's t with
    ``discrepancy_dof`` degrees of freedom: the number of residuals it was estimated from) and each row's
    ``uncertainty`` (``compare_rows``)."""
    import wattyear
    from wattyear.experiments.calibration.posterior import draws
    from wattyear.sim.model import WattyearModel

    if config is not None and posterior is not None:
        raise ConfigError([Problem("validate", "posterior", "either a posterior folder or a config, not both",
                                   f"both ({posterior}, {config if not isinstance(config, dict) else 'a dict'})")])
    if scenarios < 1:
        raise ConfigError([Problem("validate", "scenarios", "at least 1", scenarios)])
    try:
        usable = float(discrepancy_dof) >= 1  # (NaN fails too)
    except (TypeError, ValueError):
        usable = False
    if not usable:
        raise ConfigError([Problem("validate", "discrepancy_dof", "the number of residuals the discrepancy was "
                                   "estimated from, at least 1 (or inf: normal tails)", discrepancy_dof)])
    table = read_outcomes(outcomes)
    seeds = [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1))
             for s in np.random.SeedSequence(seed).spawn(scenarios)]
    if posterior is not None:
        base, overrides = draws(posterior, scenarios, seed)
        cfg = wattyear.load_config(base)
    else:
        cfg, overrides = wattyear.load_config(config), [{}] * scenarios
    last = max(month_index(e, cfg["run"]["start"]) for e in table["end"]) + 1
    months = min(cfg["run"]["months"], max(last, 1))
    model = WattyearModel(cfg)  # built, not run: its agent and segment ids
    check_rows(table, str(outcomes), agents=list(model.world.agent_ids), segments=[s.agent_id for s in model.segments],
               start=cfg["run"]["start"], months=cfg["run"]["months"])
    short = with_overrides(cfg, {"run.months": months})
    try:
        configs = [with_overrides(short, o) for o in overrides]
    except ConfigError as exc:  # a draw the config refuses is the posterior's problem, not an override's
        if posterior is None:
            raise
        raise relabel(exc, str(Path(posterior) / "posterior.parquet")) from None
    model = WattyearModel(configs, seeds=seeds).run()
    carries = "seed noise and parameter uncertainty (posterior draws)" if posterior is not None else "seed noise"
    return compare_rows(table, model_values(table, model), discrepancy=discrepancy, seed=seed, carries=carries,
                        dof=discrepancy_dof)
