"""Reading a sweep: trajectories to self-funding, crossing dates, Llama price pressure, effect sizes.

``wattyear analyze OUT`` reads a sweep's result folder and writes, beside it:

- ``crossings.parquet``: one row per run × lab: the month from which its
  self-funding ratio stayed ≥ 1 for 12 months with no outside raise, read from
  every month of the run (NaN: not within the horizon), its date, whether it is
  censored (not crossed by the horizon) and whether the lab failed, with the
  run's varied parameters and outcomes;
- fan charts (median, 50% and 90% bands across runs) per lab of the
  self-funding ratio (symmetric-log axis with the threshold), revenue per
  token (log axis) and operating margin;
- ``crossing_cdf.png``: per lab, the Kaplan–Meier share of runs that have
  crossed by each date, with its 95% band and the median crossing date;
- ``outside_capital.png``: outside capital each lab raised over the run, by
  source when the study keeps the funding table, else in total;
- when the study grids open-weights quality (the Llama price-pressure
  what-if): blended price and revenue per token over time by quality level,
  demand served by open weights by segment (with the market table), response
  curves of the median crossing date and revenue per token against quality,
  and, when release cadence is on the grid too, a heatmap of the median
  crossing date over quality × cadence with the runs behind each cell. A
  space-filling sample (lhs, sobol, a design file, a posterior) that varies
  quality gets the first two, its quality binned; a Morris or Sobol' (saltelli)
  design gets none of them (its analysis is its indices: ``wattyear sensitivity``);
- ``analysis.md`` and ``findings.csv``: the crossing summary and the effect
  of each varied parameter on each lab's outcomes (least squares on every
  varied parameter at once, 90% bootstrap intervals over runs).

Crossing months are right-censored survival times (``experiments.analysis.survival``): a run whose lab
has not crossed by the horizon tells only that, so shares crossed and median crossing dates come from
Kaplan–Meier curves ("not reached" where fewer than half the runs cross), and a lab that fails counts as
a competing event (it never crosses), not as censored at its failure. Effect sizes on the timing of
crossing are on the months a lab goes without self-funding within the horizon (a restricted mean, which
every run observes in full), not on a made-up month for runs that never cross.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.analysis import survival
from wattyear.experiments.studies.store import ResultStore
from wattyear.experiments.analysis.study_data import (BOOTSTRAP, CADENCE, QUALITY, SweepData,
                                                      crossings_table, load, months_without)
from wattyear.experiments.analysis.study_figures import (band_contents, is_grid, plot_by_quality,
                                                         plot_crossing_cdf, plot_fan, plot_heatmap,
                                                         plot_lost_demand, plot_outside_capital, plot_response)

# ----------------------------------------------------------------- effect sizes

def effect_step(param: str, values: pd.Series) -> tuple[float, str]:
    """The step an effect is reported per: on vs off for a switch, 10 points of a share, 3 months of a
    month count, else a tenth of the swept range (a whole number for an integer parameter).

    >>> effect_step("open_weights.quality_fraction", pd.Series([0.5, 0.95]))
    (0.1, '+10 points')
    """
    if pd.api.types.is_bool_dtype(values):
        return 1.0, "on (vs off)"
    if values.min() >= 0 and values.max() <= 1:
        return 0.1, "+10 points"
    if param.endswith("_months"):
        return 3.0, "+3 months"
    span = float(values.max() - values.min())
    step = float(f"{span / 10:.2g}")
    if pd.api.types.is_integer_dtype(values):
        step = float(max(1, round(step)))
    return step, f"+{step:g}"


#: columns of findings.csv
#: the outcome on the timing of crossing in findings.csv
RESTRICTED = "months to self-funding within the horizon"
FINDINGS_COLUMNS = ["lab", "parameter", "step", "outcome", "unit", "effect", "low", "high", "runs", "censored"]
#: the months to self-funding with more runs not crossing than this share get no effect (nearly every run
#: counts all its months, and the effect would read as a precise null)
MOST_CENSORED = 0.9


def findings(crossings: pd.DataFrame, data: SweepData, seed: int = 0) -> pd.DataFrame:
    """Effect of each varied parameter on each lab's outcomes: the least-squares coefficient on all varied
    parameters at once, per step (``effect_step``), with a 90% bootstrap interval over runs.

    Outcomes: the chance of self-funding within the horizon (a linear probability model, in
    percentage points), the months to self-funding restricted to the horizon (``months_without``: a run
    that does not cross counts all its months; its mean over runs is the restricted mean time to crossing,
    which every run observes in full, so ordinary least squares needs no censoring model; skipped when
    more than ``MOST_CENSORED`` of the runs do not cross), and revenue per token and per watt-year in the outcome
    month (in percent, on the log, where positive in every run; else in their own units). A study with
    ``common_seeds`` resamples runs that share seeds as if independent, so its intervals are somewhat
    too narrow."""
    outcomes = [("crossed", "chance of self-funding within the horizon", "pp"),
                ("crossing", RESTRICTED, "months")]
    for column in crossings.columns:
        if column.startswith("rpt_"):
            outcomes.append((column, f"revenue per token in {column[4:11].replace('_', '-')}", "$/M tokens"))
        elif column.startswith("rpwy_"):
            outcomes.append((column, f"revenue per watt-year in {column[5:12].replace('_', '-')}", "$/W-yr"))
    rng = np.random.default_rng(seed)
    rows = []
    params = data.params
    if not params:
        return pd.DataFrame(columns=FINDINGS_COLUMNS)
    steps = {p: effect_step(p, crossings[p]) for p in params}
    from tqdm.auto import tqdm

    # the longest step of an analysis (BOOTSTRAP least-squares fits per lab and outcome): a bar on a terminal
    bar = tqdm(total=crossings["agent"].nunique() * len(outcomes), unit="outcome", desc="effect sizes", leave=False,
               disable=None, dynamic_ncols=True)
    for lab, g in crossings.groupby("agent", sort=False):
        never = int(g["crossing_step"].isna().sum())
        g = g.assign(crossing=months_without(g["crossing_step"], data.horizon),
                     crossed=g["crossing_step"].notna().astype(float) * 100)
        X = np.column_stack([np.ones(len(g)), *[g[p].to_numpy(float) for p in params]])
        draws = rng.integers(0, len(g), size=(BOOTSTRAP, len(g)))
        for column, outcome, unit in outcomes:
            bar.update(1)
            if column == "crossing" and never > MOST_CENSORED * len(g):
                continue
            y = g[column].to_numpy(float)
            if unit not in ("months", "pp") and np.all(y > 0):
                y, unit = np.log(y), "%"
            ok = np.isfinite(y)
            if ok.sum() <= len(params) + 1 or np.ptp(y[ok]) == 0:  # too few runs, or an outcome that never moves
                continue
            beta = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
            boot = np.array([np.linalg.lstsq(X[d][ok[d]], y[d][ok[d]], rcond=None)[0] for d in draws])
            for k, p in enumerate(params, start=1):
                step, label = steps[p]
                est, lo, hi = beta[k] * step, *np.percentile(boot[:, k] * step, [5, 95])
                if unit == "%":
                    est, lo, hi = (np.expm1(v) * 100 for v in (est, lo, hi))
                rows.append({"lab": lab, "parameter": p, "step": label, "outcome": outcome, "unit": unit,
                             "effect": est, "low": lo, "high": hi, "runs": int(ok.sum()),
                             "censored": never if column in ("crossing", "crossed") else 0})
    bar.close()
    return pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def findings_lines(table: pd.DataFrame, data: SweepData) -> list[str]:
    """The findings table as Markdown, one row per lab, parameter and outcome."""
    horizon = data.horizon
    if not data.params:
        return ["No parameter varies across runs: no effect sizes (replicates only)."]
    if table.empty:
        runs = data.runs["run_id"].nunique()
        return [f"Too few runs ({runs}) to estimate the effects of {len(data.params)} varied parameter(s) at once: "
                "add replicates or design points."]
    with_chance = set(table.loc[table["outcome"].str.startswith("chance"), "lab"])
    with_months = set(table.loc[table["outcome"] == RESTRICTED, "lab"])
    lines = [f"- {lab} crosses in every run or in none, so no effect on its chance of self-funding can be "
             "estimated" + ("." if lab in with_months else " (nor on its months to self-funding).")
             for lab in data.labs if lab not in with_chance]
    if lines:
        lines.append("")
    lines += ["| lab | parameter | each step moves | by | 90% interval | runs (never crossing) |",
              "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        unit = {"months": " months", "%": "%", "pp": " pp"}.get(r["unit"], f" {r['unit']}")
        censor = f" ({r['censored']})" if r["unit"] in ("months", "pp") else ""
        lines.append(f"| {r['lab']} | `{r['parameter']}` {r['step']} | {r['outcome']} | {r['effect']:+.1f}{unit} | "
                     f"{r['low']:+.1f} to {r['high']:+.1f}{unit} | {r['runs']}{censor} |")
    lines += ["", f"Effects are least-squares coefficients on all varied parameters at once, per the step shown; "
              f"intervals are the 5th–95th percentiles of {BOOTSTRAP} bootstrap resamples of the runs. The chance "
              "of self-funding is a linear probability model, in percentage points (pp). The months to "
              "self-funding within the horizon count a run whose lab does not cross (or fails first) as all "
              f"{horizon + 1} months of the run: an effect on them is an effect on the restricted mean time to "
              "crossing, not on a crossing date, and a lab with more than "
              f"{MOST_CENSORED:.0%} of its runs not crossing gets none (read its chance instead). Percent effects are on the log of the outcome; an outcome that is zero in some run (a "
              "lab that sold nothing) gets an effect in its own unit instead."]
    return lines


# ----------------------------------------------------------------- the analysis

def crossing_lines(crossings: pd.DataFrame, data: SweepData) -> list[str]:
    """The crossing summary as Markdown: per lab, the share of runs crossed by the horizon and the dates by
    which a quarter, half (with its 95% interval) and three quarters of runs have crossed (Kaplan–Meier)."""
    end = data.date_of(data.horizon)
    lines = [f"| lab | runs crossing by {end:%Y-%m} | failed first | a quarter crossed by | median crossing "
             "(95% interval) | three quarters by |", "|---|---|---|---|---|---|"]
    for lab, g in crossings.groupby("agent", sort=False):
        s = survival.summarise(g["crossing_step"], data.horizon, g["failed"] if "failed" in g else None)
        table = survival.survival_table(g["crossing_step"], data.horizon)
        quarter, three = (survival.median_crossing(table, share=q) for q in (0.25, 0.75))
        interval = f" ({data.label_of(s.median_low)} to {data.label_of(s.median_high)})" \
            if s.median_low is not None else ""  # no interval when not even its early end is reached
        lines.append(f"| {lab} | {s.crossed} of {s.runs} ({s.share_crossed:.0%}) | {s.failed} | "
                     f"{data.label_of(quarter)} | {data.label_of(s.median)}{interval} | {data.label_of(three)} |")
    lines += ["", f"Crossing dates are read from Kaplan–Meier curves: a run whose lab has not crossed by {end:%Y-%m} "
              "is censored there (it tells only that the crossing is later, if ever), and a lab that fails "
              f"before crossing counts as not crossing (a competing event). \"not by {end:%Y-%m}\" means fewer "
              "than that share of runs cross within the horizon; an interval's end that says so is not "
              "reached either. The curves and their 95% bands are in `crossing_cdf.png`."]
    return lines


def _say(text: str) -> None:
    """What the analysis does next, on stderr (a study of thousands of runs takes a minute or more)."""
    import sys

    print(f"analysis: {text}", file=sys.stderr, flush=True)


def analyze(folder: str | Path) -> list[Path]:
    """Write the crossing table, findings, figures and ``analysis.md`` into ``folder``, saying on stderr
    what it does at each step."""
    _say(f"reading the labs' rows from {folder}…")
    data = load(folder)
    folder = data.folder
    _say(f"each run's crossing month and outcomes ({data.runs['run_id'].nunique():,} runs × {len(data.labs)} labs)…")
    crossings = crossings_table(data)
    _say("fan charts, crossing curves and the study's figures…")
    written = [folder / "crossings.parquet"]
    crossings.to_parquet(written[0], index=False)
    figures: list[tuple[str, Path]] = []
    add = lambda caption, path: figures.append((caption, path))  # noqa: E731
    add("Self-funding ratio across runs (symmetric-log axis: linear within ±1, so the threshold is readable)",
        plot_fan(data, "self_funding_ratio", folder / "fan_self_funding.png", unit="SFR", yscale="symlog",
                 threshold=1.0, title="Trajectories to self-funding: trailing free cash flow of the token business "
                                      "/ what the next cluster costs a year"))
    if "revenue_usd_per_mtok" in data.runs:
        add("Revenue per token across runs", plot_fan(data, "revenue_usd_per_mtok", folder / "fan_revenue_per_token.png",
                                                       unit="$/M tokens", yscale="log",
                                                       title="Revenue per token = blended price × utilisation"))
    if "operating_margin" in data.runs:
        add("Operating margin across runs", plot_fan(data, "operating_margin", folder / "fan_operating_margin.png",
                                                     unit="share of revenue", yscale="symlog",
                                                     title="Operating margin (symmetric-log axis)"))
    add("Crossing dates", plot_crossing_cdf(crossings, data, folder / "crossing_cdf.png"))
    finished = set(data.runs["run_id"])

    def read(table: str) -> pd.DataFrame:
        """A kept table's rows of the runs with metrics (a killed or failed run's other files are left out)."""
        rows = ResultStore(folder).load(table)
        return rows[rows["run_id"].isin(finished)] if len(rows) else rows

    funding = read("funding") if (folder / "funding").is_dir() else None
    if (funding is not None and len(funding)) or "outside_capital_usd" in data.runs:
        add("Outside capital", plot_outside_capital(data, funding, folder / "outside_capital.png"))
    llama = QUALITY in data.params and data.design.supports_levels(QUALITY)
    if QUALITY in data.params and not llama:
        why = (f"a {data.design.method} design places its points for its indices (wattyear sensitivity)"
               if data.design.known else "the folder keeps no study.toml to say how it was designed")
        data.notes.append(f"No figures by open-weights quality: {why}; quality-level lines, the heatmap and "
                          "the response curves need quality on the study's [grid] (lines also from an lhs, "
                          "sobol, file or posterior sample).")
    if llama:
        add("Prices by open-weights quality", plot_by_quality(data, folder / "llama_prices_by_quality.png"))
        if (folder / "market").is_dir():
            market = read("market")
            if QUALITY in market and len(market):
                add("Demand served by open weights", plot_lost_demand(market, folder / "llama_lost_demand.png"))
        else:
            data.notes.append("Demand lost to open weights by segment needs the market table: keep it with "
                              "tables = [\"market\"] in the study's [outputs].")
        if is_grid(data, QUALITY) and is_grid(data, CADENCE):
            add("Median crossing date over quality × cadence",
                plot_heatmap(crossings, data, folder / "llama_heatmap.png"))
        if is_grid(data, QUALITY):
            add("Response to open-weights quality", plot_response(crossings, data, folder / "llama_response.png"))
        else:
            data.notes.append("No quality heatmap or response curves: open-weights quality is sampled, not on "
                              "the study's [grid], so no level has runs of its own (the lines by quality bin it).")
    _say(f"effect sizes of {len(data.params)} parameter(s) on each lab's outcomes, with {BOOTSTRAP:,} bootstrap "
         "fits each…")
    effects = findings(crossings, data)
    effects.to_csv(folder / "findings.csv", index=False)
    written += [folder / "findings.csv", *(p for _, p in figures)]

    lines = [f"# Sweep analysis: {folder.name}", "",
             f"{data.runs['run_id'].nunique()} runs, {data.start:%Y-%m} to {data.date_of(data.horizon):%Y-%m}; "
             f"varied: {', '.join(f'`{p}`' for p in data.params) or 'nothing (replicates only)'}.", ""]
    lines += [f"> {note}" for note in data.notes] + ([""] if data.notes else [])
    lines += ["## Crossing the self-funding threshold", "", *crossing_lines(crossings, data)]
    lines += ["", "## Findings: what moves each lab's outcomes", "", *findings_lines(effects, data), ""]
    lines += ["## Figures", "", band_contents(data), ""]
    lines += [f"![{caption}]({path.name})\n" for caption, path in figures]
    written.append(folder / "analysis.md")
    written[-1].write_text("\n".join(lines) + "\n")
    from wattyear import __version__

    (folder / "analysis.json").write_text(json.dumps({"wattyear": __version__,
                                                      "runs": int(data.runs["run_id"].nunique()),
                                                      "horizon": data.horizon, "parameters": data.params,
                                                      "figures": [[c, p.name] for c, p in figures],
                                                      "notes": data.notes}, indent=2) + "\n")
    return written
