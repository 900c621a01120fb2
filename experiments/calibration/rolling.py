"""Rolling-origin backtests and a model-discrepancy term: how far to trust a forecast, by how far ahead it is.

At each information cut-off (an *origin*) the backtest world is fitted by ABC-SMC to the figures whose period
ends by it and forecasts every figure whose period ends after it; each forecast row gets its horizon (months
from the origin to the end of the figure's period) and the model's quantiles over posterior scenarios.

The posterior's scenarios carry parameter uncertainty and seed noise, not the model's structural error, so its
intervals are too narrow (``docs/validation.md``). The **discrepancy term** is a multiplicative log-normal
error: a forecast's predictive distribution is the scenarios' values × exp(σ_d·z), z ~ N(0, 1), with σ_d the
root mean square of the log ratios (observed / model median) of forecasts made at *earlier* origins of
figures that had *ended by this origin's cut-off* (what a forecaster then could have scored), pooled over
metrics (with sixteen figures in all, a σ per metric family would rest on two or three residuals). An origin
with no such residuals gets no term; nothing a forecast is judged against ever sets its own σ_d.

σ_d is itself an estimate from n residuals, and a few residuals often understate the spread of the next one.
The predictive of a new residual r given n earlier ones of mean zero and unknown variance is r/σ̂_d ~ t_n
(Student's t with n degrees of freedom; Gelman et al., *Bayesian Data Analysis*, 3rd ed., §2.6: normal data
with a known mean), so the reported band draws z from t_n, not N(0, 1): at n = 3 its 95th percentile is
2.35 σ̂_d instead of 1.64. n counts distinct figures: one figure forecast from two origins misses by nearly
the same ratio twice, which is one piece of evidence, not two. The band is centred on the model's median on
purpose (mean zero assumed): a bias read off a handful of misses would be noise. Coverage with the normal
term (σ_d taken as known) is reported beside it.

Figures are dated here by the end of the period they measure; a figure is published some weeks after that, so
an origin's fit may use a figure a forecaster at that date would not yet have had (stated in the docs).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.calibration.validate import compare_rows
from wattyear.sim.units import month_index

#: horizon buckets, months ahead (inclusive ranges), for the summary by horizon
HORIZONS = ((1, 3), (4, 6), (7, 12), (13, 24))


def split_at(pool: pd.DataFrame, cutoff: str, start: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The figures whose period ends by ``cutoff`` (YYYY-MM, fitted) and those that end after it (forecast),
    each with ``horizon``: months from the cut-off to the end of its period (≤ 0 for fitted rows).

    >>> pool = pd.DataFrame({"key": ["a", "b", "c"], "start": ["2025-01", "2025-01", "2025-09"],
    ...                      "end": ["2025-02", "2025-12", "2025-09"]})
    >>> fit, ahead = split_at(pool, "2025-08", "2025-01")
    >>> fit["key"].tolist(), ahead["key"].tolist(), ahead["horizon"].tolist()
    (['a'], ['b', 'c'], [4, 1])
    """
    cut = month_index(cutoff, start)
    horizon = pool["end"].map(lambda e: month_index(e, start)) - cut
    rows = pool.assign(horizon=horizon.astype(int))
    return rows[rows["horizon"] <= 0].reset_index(drop=True), rows[rows["horizon"] > 0].reset_index(drop=True)


def finite_residuals(log_ratios) -> np.ndarray:
    """The log ratios a σ_d can be estimated from: the finite ones (a forecast of the wrong sign is dropped)."""
    r = np.asarray(log_ratios, dtype=float)
    return r[np.isfinite(r)]


def discrepancy_sigma(log_ratios) -> float:
    """σ_d: the root mean square of earlier forecasts' log ratios (NaN with none; infinite ones dropped).

    >>> round(discrepancy_sigma([0.3, -0.4]), 4), discrepancy_sigma([])
    (0.3536, nan)
    """
    r = finite_residuals(log_ratios)
    return float(np.sqrt(np.mean(r ** 2))) if r.size else math.nan


def score(rows: pd.DataFrame, values: np.ndarray, *, discrepancy: float = 0.0, seed: int = 0,
          prefix: str = "", dof: float = math.inf) -> pd.DataFrame:
    """``validate.compare_rows`` of ``values`` (rows × scenarios), widened by a ``discrepancy`` log-sd (NaN: none)
    with normal tails or, for a finite ``dof``, Student's t: the median, the 90% interval,
    |log(observed / median)| and whether the observed value lies in the 50% and 90% intervals, as columns named
    with ``prefix``."""
    term = discrepancy if np.isfinite(discrepancy) else 0.0
    r = compare_rows(rows, values, discrepancy=term, seed=seed, dof=dof).rows
    ratio = r["ratio"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)), np.inf)
    return pd.DataFrame({f"{prefix}median": r["median"], f"{prefix}q05": r["q05"], f"{prefix}q95": r["q95"],
                         f"{prefix}log_ratio": log_ratio, f"{prefix}in_50": r["in_50"], f"{prefix}in_90": r["in_90"]})


def forecast_values(table: pd.DataFrame, posterior: Path, scenarios: int, seed: int) -> np.ndarray:
    """(rows, scenarios) values of the figures in ``table`` over ``scenarios`` posterior draws, each with its
    own seed (as ``wattyear validate --posterior`` draws them)."""
    import wattyear
    from wattyear.experiments.calibration.outcomes import model_values
    from wattyear.experiments.calibration.posterior import draws
    from wattyear.sim.config import with_overrides
    from wattyear.sim.model import WattyearModel

    seeds = [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1))
             for s in np.random.SeedSequence(seed).spawn(scenarios)]
    base, overrides = draws(posterior, scenarios, seed)
    cfg = wattyear.load_config(base)
    months = max(month_index(e, cfg["run"]["start"]) for e in table["end"]) + 1
    short = with_overrides(cfg, {"run.months": months})
    return model_values(table, WattyearModel([with_overrides(short, o) for o in overrides], seeds=seeds).run())


def check_cutoffs(cutoffs: list[str], start: str) -> list[str]:
    """The cut-offs as months ``YYYY-MM`` in time order, each after ``start``; a ValueError names a bad one.

    >>> check_cutoffs(["2025-12", "2025-04"], "2025-01")
    ['2025-04', '2025-12']
    """
    from wattyear.sim.units import parse_month

    for c in cutoffs:
        try:
            parse_month(c)
        except (ValueError, AttributeError, TypeError):
            raise ValueError(f'expected months "YYYY-MM", found {c!r}') from None
        if month_index(c, start) < 0:
            raise ValueError(f"expected cut-offs from the world's start ({start}) on, found {c}")
    return sorted(dict.fromkeys(cutoffs), key=lambda c: month_index(c, start))


def rolling_origins(config: Path, pool: pd.DataFrame, cutoffs: list[str], out: Path, *, particles: int,
                    generations: int, scenarios: int, seed: int, extra: dict | None = None,
                    progress=print) -> pd.DataFrame:
    """Fit at each cut-off (the parameters with bounds, and ``extra`` ranges, as ``calibrate`` takes them),
    forecast what ends after it; one row per origin × forecast figure, with the model's quantiles and coverage
    without and with the discrepancy term (σ_d from earlier origins' forecasts of figures ended by then)."""
    import wattyear
    from wattyear.experiments.calibration.posterior import calibrate

    start = wattyear.load_config(config)["run"]["start"]
    cutoffs = check_cutoffs(cutoffs, start)
    scored = []
    earlier: list[tuple[int, str, float]] = []  # (month the figure's period ends, key, log ratio) of earlier forecasts
    for k, cutoff in enumerate(cutoffs):
        fit, ahead = split_at(pool, cutoff, start)
        folder = out / f"origin_{cutoff}"
        folder.mkdir(parents=True, exist_ok=True)
        columns = ["key", "metric", "agent", "start", "end", "value", "source"]
        fit[columns].to_csv(folder / "targets.csv", index=False)
        if fit.empty or ahead.empty:
            progress(f"origin {cutoff}: {len(fit)} figures to fit, {len(ahead)} to forecast: skipped")
            continue
        progress(f"origin {cutoff}: fitting {len(fit)} figures, forecasting {len(ahead)}")
        calibrate(config, folder / "targets.csv", folder / "posterior", extra=extra, particles=particles,
                  generations=generations, seed=seed + k)
        values = forecast_values(ahead, folder / "posterior", scenarios, seed + 100 + k)
        cut = month_index(cutoff, start)
        known = [(key, r) for end, key, r in earlier if end <= cut]
        sigma = discrepancy_sigma([r for _, r in known])
        n = len({key for key, r in known if np.isfinite(r)})  # distinct figures: the evidence σ_d rests on
        plain = score(ahead, values)
        normal = score(ahead, values, discrepancy=sigma, seed=seed + 200 + k, prefix="n_")
        wide = score(ahead, values, discrepancy=sigma, seed=seed + 200 + k, prefix="d_", dof=n if n else math.inf)
        rows = pd.concat([ahead[["key", "metric", "agent", "end", "value", "horizon"]], plain, normal, wide], axis=1)
        rows.insert(0, "origin", cutoff)
        rows["sigma_d"] = sigma
        rows["distinct_figures"] = n
        rows["fitted"] = len(fit)
        scored.append(rows)
        ends = ahead["end"].map(lambda e: month_index(e, start)).tolist()
        earlier += list(zip(ends, ahead["key"].tolist(), plain["log_ratio"].tolist()))
    if not scored:
        raise ValueError("no cut-off has figures both to fit and to forecast")
    return pd.concat(scored, ignore_index=True)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """By horizon bucket and overall: rows, the median |log ratio|, and the 50%/90% coverage without the
    discrepancy term, with it as a known σ (normal tails) and with it as an estimate (Student's t tails) — the
    last three over the origins that have one."""
    out = []
    buckets = [(f"{lo}–{hi} months", table["horizon"].between(lo, hi)) for lo, hi in HORIZONS]
    for name, chosen in [*buckets, ("all", pd.Series(True, index=table.index))]:
        t = table[chosen]
        if t.empty:
            continue
        d = t[np.isfinite(t["sigma_d"])]
        out.append({"horizon": name, "rows": len(t), "median_abs_log_ratio": float(np.median(np.abs(t["log_ratio"]))),
                    "cover_50": float(t["in_50"].mean()), "cover_90": float(t["in_90"].mean()),
                    "rows_with_term": len(d),
                    "cover_50_without": float(d["in_50"].mean()) if len(d) else math.nan,
                    "cover_90_without": float(d["in_90"].mean()) if len(d) else math.nan,
                    "cover_50_normal": float(d["n_in_50"].mean()) if len(d) else math.nan,
                    "cover_90_normal": float(d["n_in_90"].mean()) if len(d) else math.nan,
                    "cover_50_with": float(d["d_in_50"].mean()) if len(d) else math.nan,
                    "cover_90_with": float(d["d_in_90"].mean()) if len(d) else math.nan})
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame, command: str) -> str:
    """The rolling-origin section of docs/validation.md."""
    pct = lambda x: "—" if x != x else f"{x:.0%}"  # noqa: E731
    s = summary(table)
    per_origin = table.groupby("origin", sort=False)[["sigma_d", "fitted", "distinct_figures"]].first()
    lines = ["## Rolling origins", "",
             "The same world fitted at several information cut-offs, each to the figures whose period ends by it, "
             "forecasting every figure that ends after it (`experiments/calibration/rolling.py`). The "
             "discrepancy term widens a forecast by a log-normal error whose σ is the root mean square of the "
             "log ratios of forecasts made at earlier origins of figures that had ended by this cut-off (what a "
             "forecaster then could have scored; pooled over metrics); an origin with none gets no term. "
             "σ_d is an estimate from the residuals of n distinct figures, so the band draws the error from "
             "Student's t with n degrees of freedom (the predictive of a new residual when the variance is "
             "estimated; at n = 3 the 95th percentile is 2.35 σ_d, not 1.64), centred on the model's median; "
             "coverage with normal tails (σ_d taken as known) is shown beside it. Coverage without and with the term is compared over the same rows (the origins that "
             "have it).", "",
             "Reproduce (part of `make backtest`):", "", "```sh", command, "```", "",
             "| origin | figures fitted | figures forecast | σ_d (from earlier origins) | distinct figures n |",
             "|---|---|---|---|---|"]
    for origin, (sigma, fitted, n) in per_origin.iterrows():
        n_ahead = int((table["origin"] == origin).sum())
        lines.append(f"| {origin} | {int(fitted)} | {n_ahead} | "
                     f"{'none' if sigma != sigma else f'{sigma:.2f} (×{math.exp(sigma):.2f})'} | {int(n)} |")
    lines += ["", "| horizon | forecasts | median abs log ratio (× factor) | 50% / 90% coverage, all origins | "
              "rows with the term | 50% / 90% without the term | 50% / 90% with it, normal tails | "
              "50% / 90% with it, t tails |", "|---|---|---|---|---|---|---|---|"]
    for r in s.itertuples():
        lines.append(f"| {r.horizon} | {r.rows} | {r.median_abs_log_ratio:.3f} (×{math.exp(r.median_abs_log_ratio):.2f})"
                     f" | {pct(r.cover_50)} / {pct(r.cover_90)} | {r.rows_with_term} | {pct(r.cover_50_without)} / "
                     f"{pct(r.cover_90_without)} | {pct(r.cover_50_normal)} / {pct(r.cover_90_normal)} | "
                     f"{pct(r.cover_50_with)} / {pct(r.cover_90_with)} |")
    lines += ["", "| origin | key | ends | months ahead | observed | median | 90% interval | with the term "
              "(t tails) | observed / median |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        term = "—" if r.sigma_d != r.sigma_d else f"{r.d_q05:.3g} – {r.d_q95:.3g}"
        lines.append(f"| {r.origin} | `{r.key}` | {r.end} | {r.horizon} | {r.value:.4g} | {r.median:.4g} | "
                     f"{r.q05:.3g} – {r.q95:.3g} | {term} | {r.value / r.median:.2f} |")
    return "\n".join(lines) + "\n"
