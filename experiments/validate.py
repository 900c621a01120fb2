"""Checking the model against observed outcomes: ``wattyear validate OUTCOMES.csv``.

An outcomes table has the columns ``key, metric, agent, start, end, value,
source``, one observed figure a row; dates are ``YYYY-MM``; ``agent`` is a
model agent id (a segment id for ``customers``). The metrics:

| metric | the model's value |
| --- | --- |
| ``revenue_usd`` | revenue summed over the months [start, end] |
| ``revenue_run_rate_usd`` | 12 × the revenue of month ``end`` |
| ``operating_margin`` | operating profit / revenue, both summed over [start, end] |
| ``operating_profit_usd`` | operating profit summed over [start, end] |
| ``tokens_served`` | tokens served in month ``end`` |
| ``customers`` | customers of the segment ``agent`` in month ``end`` |
| ``capex_usd`` | capex paid over [start, end] |
| ``outside_capital_usd`` | outside capital raised over [start, end] |

The model's scenarios (a config's seeds, or draws from a posterior sample)
give each row a distribution: its median, the 50% and 90% intervals, the
ratio of the observed value to the median and whether the observed value
falls inside each interval. Overall: the median absolute log ratio and the
share of rows inside each interval (the coverage).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.sim.config import ConfigError, Problem, with_overrides
from wattyear.sim.units import month_index, parse_month

#: metric → (how the months are reduced, the column it reads)
METRICS = {
    "revenue_usd": ("sum", "revenue_usd"),
    "revenue_run_rate_usd": ("run_rate", "revenue_usd"),
    "operating_margin": ("ratio", ("operating_profit_usd", "revenue_usd")),
    "operating_profit_usd": ("sum", "operating_profit_usd"),
    "tokens_served": ("end", "tokens_served"),
    "customers": ("segment", "segment_customers"),
    "capex_usd": ("sum", "capex_usd"),
    "outside_capital_usd": ("sum", "raised_usd"),
}
COLUMNS = ("key", "metric", "agent", "start", "end", "value", "source")


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read and check an outcomes table; every problem names the file, the line and the column."""
    path = Path(path)
    src = str(path)
    rows = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(fh, restkey="(extra fields)")
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            header = reader.fieldnames
            for row in reader:
                rows.append((reader.line_num, row))
    except FileNotFoundError:
        raise ConfigError([Problem(src, "(file)", "an existing CSV file", "no such file")]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError([Problem(src, "(file)", "a UTF-8 CSV file", str(exc)[:120])]) from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError([Problem(src, "(file)", "a readable CSV file", exc.strerror or str(exc))]) from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError([Problem(src, "(header)", "the columns " + ", ".join(COLUMNS), f"no {', '.join(missing)}")])
    problems, out, seen = [], [], {}
    for line, row in rows:
        where = lambda col: f"line {line}: {col}"  # noqa: E731
        bad = False
        if row.get("(extra fields)"):
            problems.append(Problem(src, where("(fields)"), f"{len(header)} fields, as the header has",
                                    f"{len(header) + len(row['(extra fields)'])}"))
            bad = True
        key = (row["key"] or "").strip()
        if not key:
            problems.append(Problem(src, where("key"), "the figure's key (sources.csv)", "nothing"))
            bad = True
        elif key in seen:
            problems.append(Problem(src, where("key"), f"a key not already used (line {seen[key]}): a figure counts "
                                    "once", key))
            bad = True
        else:
            seen[key] = line
        if row["metric"] not in METRICS:
            problems.append(Problem(src, where("metric"), "one of " + ", ".join(METRICS), row["metric"]))
            bad = True
        for col in ("start", "end"):
            try:
                parse_month(row[col])
            except (ValueError, AttributeError):
                problems.append(Problem(src, where(col), 'a month "YYYY-MM"', row[col]))
                bad = True
        try:
            value = float(row["value"])
            if not math.isfinite(value):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(src, where("value"), "a finite number", row["value"]))
            bad = True
        if not bad and month_index(row["end"], row["start"]) < 0:
            problems.append(Problem(src, where("end"), f"a month at or after start ({row['start']})", row["end"]))
            bad = True
        if not bad:
            out.append({**{c: row[c] for c in COLUMNS}, "key": key, "value": value, "line": line})
    if problems:
        raise ConfigError(problems)
    if not out:
        raise ConfigError([Problem(src, "(rows)", "at least one outcome", "none")])
    return pd.DataFrame(out)


def check_rows(table: pd.DataFrame, src: str, *, agents: list[str], segments: list[str], start: str,
               months: int) -> None:
    """Every row names an agent (a segment for ``customers``) the model has, within its months."""
    problems = []
    for row in table.itertuples():
        known = segments if row.metric == "customers" else agents
        if row.agent not in known:
            what = "segment" if row.metric == "customers" else "agent"
            problems.append(Problem(src, f"line {row.line}: agent", f"a {what} of the model: " + ", ".join(known),
                                    row.agent))
        for col in ("start", "end"):
            step = month_index(getattr(row, col), start)
            if not 0 <= step < months:
                last = pd.Timestamp(f"{start}-01") + pd.DateOffset(months=months - 1)
                problems.append(Problem(src, f"line {row.line}: {col}", f"a month the runs cover, {start} to "
                                        f"{last:%Y-%m}", getattr(row, col)))
    if problems:
        raise ConfigError(problems)


def model_values(table: pd.DataFrame, model) -> np.ndarray:
    """(rows, scenarios) the model's value of each outcome row in each scenario of a finished
    ``WattyearModel``, read from its arrays (no tables are built: ABC calls this every generation)."""
    start = model.start
    stacked: dict[str, np.ndarray] = {}

    def months(column: str) -> np.ndarray:  # (months, S, agents), stacked once per column
        if column not in stacked:
            stacked[column] = np.stack([getattr(r.books, column) for r in model.history])
        return stacked[column]

    segments = [s.agent_id for s in model.segments]
    out = np.empty((len(table), model.n_scenarios))
    for i, row in enumerate(table.itertuples()):
        first, last = month_index(row.start, start), month_index(row.end, start)
        how, column = METRICS[row.metric]
        if how == "segment":
            out[i] = model.history[last].market.customers[:, segments.index(row.agent)]
            continue
        a = model.world.agent_ids.index(row.agent)
        if how == "ratio":
            profit, revenue = (months(c)[first:last + 1, :, a].sum(axis=0) for c in column)
            out[i] = np.divide(profit, revenue, out=np.full(profit.shape, np.nan), where=revenue != 0)
        elif how == "sum":
            out[i] = months(column)[first:last + 1, :, a].sum(axis=0)
        else:  # "end" or "run_rate": the value of the last month
            out[i] = months(column)[last, :, a] * (12.0 if how == "run_rate" else 1.0)
    return out


@dataclass
class Validation:
    """Per row: the model's quantiles, the observed value, the ratio and the coverage; and overall."""

    rows: pd.DataFrame
    scenarios: int

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
        lines = [f"# {title}", "", f"{len(self.rows)} observed outcomes against {self.scenarios} model scenarios.",
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


def compare_rows(table: pd.DataFrame, values: np.ndarray) -> Validation:
    """The per-row comparison of observed values with the scenarios' values (rows × scenarios)."""
    q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    rows = table[["key", "metric", "agent", "start", "end", "value", "source"]].copy()
    rows["q05"], rows["q25"], rows["median"], rows["q75"], rows["q95"] = q
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["ratio"] = rows["value"] / rows["median"]
    rows["in_50"] = (rows["value"] >= rows["q25"]) & (rows["value"] <= rows["q75"])
    rows["in_90"] = (rows["value"] >= rows["q05"]) & (rows["value"] <= rows["q95"])
    return Validation(rows.reset_index(drop=True), values.shape[1])


def validate(outcomes: str | Path, *, config: str | Path | None = None, posterior: str | Path | None = None,
             scenarios: int = 20, seed: int = 0) -> Validation:
    """The model against an outcomes table: ``scenarios`` runs of ``config`` (seeds spawned from ``seed``),
    or ``scenarios`` draws from a posterior sample (``wattyear calibrate --posterior``'s folder), each
    with its own seed."""
    import wattyear
    from wattyear.experiments.posterior import draws
    from wattyear.sim.model import WattyearModel

    if config is not None and posterior is not None:
        raise ConfigError([Problem("validate", "posterior", "either a posterior folder or a config, not both",
                                   f"both ({posterior}, {config if not isinstance(config, dict) else 'a dict'})")])
    if scenarios < 1:
        raise ConfigError([Problem("validate", "scenarios", "at least 1", scenarios)])
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
    model = WattyearModel([with_overrides(short, o) for o in overrides], seeds=seeds).run()
    return compare_rows(table, model_values(table, model))
