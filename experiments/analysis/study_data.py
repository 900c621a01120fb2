"""A sweep's results as the analysis reads them: the labs' rows of every run (``load``), what the study
varies (``Design``), and each run × lab's self-funding crossing as right-censored survival data
(``crossings_table``; a single run's: ``run_crossings``). ``experiments.analysis.outcomes`` writes the
analysis from these, ``experiments.analysis.study_figures`` its figures.

Crossing months are right-censored survival times (``experiments.analysis.survival``): a run whose lab
has not crossed by the horizon tells only that, and a lab that fails counts as a competing event (it never
crosses), not as censored at its failure.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from wattyear.experiments.studies.store import ResultStore
from wattyear.sim import outputs
from wattyear.sim.capital_market import SUSTAINED_MONTHS, crossing_step, first_touch_step

NEEDED = ("run_id", "seed", "step", "date", "agent", "kind", "self_funding_ratio")
#: metrics the figures and findings use when the study kept them
OPTIONAL = ("revenue_usd_per_mtok", "blended_price_usd_per_mtok", "operating_margin", "outside_capital_usd",
            "revenue_usd_per_watt_year", "crossing_step", "failed", "raised_usd")
QUALITY = "open_weights.quality_fraction"
CADENCE = "open_weights.release_every_months"
#: the month outcomes such as revenue per token are read in (or the last kept month before it)
OUTCOME_MONTH = "2030-12"
FRINGE = "open_weights_fringe"
BOOTSTRAP = 1000
#: a parameter with more distinct values than this is binned into quantile groups in the Llama figures
MAX_LEVELS = 8
#: a heatmap cell (or a response curve's point) backed by fewer runs shows no median: it is marked "too few"
MIN_CELL_RUNS = 3
#: sample methods that fill the parameter space (a binned quality line is a fair marginal); Morris and
#: saltelli designs are read through their indices instead
SPACE_FILLING = ("lhs", "sobol", "file", "posterior")


class AnalysisError(ValueError):
    """A sweep folder the analysis cannot read (the message says why); not a bug."""


@dataclass(frozen=True)
class Design:
    """What a study varies and how, read from the ``study.toml`` its folder keeps: the parameters of its
    ``[grid]`` with more than one value, and its ``[sample]`` method (None: a grid only)."""

    grid: tuple[str, ...] = ()
    method: str | None = None
    known: bool = True  #: False for a folder without a readable study.toml

    @classmethod
    def of(cls, folder: Path) -> "Design":
        """The design of the study in ``folder``.

        >>> Design.of(Path("nowhere")).known
        False
        """
        try:
            study = tomllib.loads((folder / "study.toml").read_text())
        except (OSError, tomllib.TOMLDecodeError):
            return cls(known=False)
        grid = tuple(k for k, v in study.get("grid", {}).items() if isinstance(v, list) and len(v) > 1)
        sample = study.get("sample")
        method = sample.get("method", "lhs") if isinstance(sample, dict) and sample else None
        return cls(grid, method)

    def grids(self, param: str) -> bool:
        """Whether ``param`` is an axis of the study's grid."""
        return param in self.grid

    def supports_levels(self, param: str) -> bool:
        """Whether lines by level of ``param`` read as its effect: a grid axis, or a parameter of a
        space-filling sample (binned); not a Morris or saltelli design's, whose points are placed for
        their indices."""
        return self.grids(param) or (self.method in SPACE_FILLING)


@dataclass
class SweepData:
    """A sweep's lab rows and what the analysis knows about it."""

    folder: Path
    runs: pd.DataFrame  #: the labs' kept rows
    params: list[str]  #: varied parameters (dotted paths), numeric ones only
    horizon: int  #: last month index of the runs
    start: pd.Timestamp
    every_month: bool  #: whether crossing months were read from every month (else from the kept months)
    notes: list[str] = field(default_factory=list)
    design: Design = field(default_factory=Design)

    @property
    def labs(self) -> list[str]:
        return list(dict.fromkeys(self.runs["agent"]))

    def date_of(self, month: float) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=int(month))

    def label_of(self, month: float | None) -> str:
        """A crossing month as its date, or "not reached" (None or NaN: not within the horizon)."""
        if month is None or not np.isfinite(month):
            return f"not by {self.date_of(self.horizon):%Y-%m}"
        return f"{self.date_of(month):%Y-%m}"


def load(folder: str | Path) -> SweepData:
    """The labs' rows of every run (the columns the analysis uses) and the varied parameters."""
    folder = Path(folder)
    try:
        dataset = ResultStore(folder).dataset()  # the runs' packed file (one file, not one a run)
    except (pa.ArrowException, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise AnalysisError(f"{folder / 'runs'}: run files unreadable ({first}); run the sweep again to redo "
                            "damaged runs") from None
    names = dataset.schema.names
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise AnalysisError(f"{folder}: results lack the columns {missing}; keep them in the study's [outputs]")
    if dataset.count_rows() == 0:  # footers only: kinds = [] keeps no agent's rows (or no run has finished)
        raise AnalysisError(f"{folder}: the runs hold no rows: the study keeps no agent's rows (kinds = [] in its "
                            "[outputs]) or no run has finished; keep kinds = [\"lab\"] to analyse it")
    params = [n for n in names if "." in n]
    old = [c for c in outputs.RENAMED if c in names and outputs.RENAMED[c][0] not in names]  # an older folder
    columns = [*NEEDED, *[c for c in OPTIONAL if c in names], *old, *params]
    try:
        runs = dataset.to_table(columns=columns, filter=ds.field("kind") == "lab").to_pandas()
    except (pa.ArrowException, OSError) as exc:  # a file whose footer read but whose data does not
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise AnalysisError(f"{folder / 'runs'}: run files unreadable ({first}); run the sweep again to redo "
                            "damaged runs") from None
    if runs.empty:
        raise AnalysisError(f"{folder}: no lab rows; keep kinds = [\"lab\"] in the study's [outputs]")
    runs = outputs.upgrade(runs)
    # numbers and switches (a switch's effect is on vs off); text parameters are not regressed on
    params = [p for p in params if pd.api.types.is_numeric_dtype(runs[p]) and runs[p].nunique() > 1]
    first = runs.iloc[0]  # the run's first month: a kept row's date less its step (the first month may not be kept)
    start = pd.Timestamp(first["date"]) - pd.DateOffset(months=int(first["step"]))
    data = SweepData(folder, runs, params, int(runs["step"].max()), start, "crossing_step" in runs,
                     design=Design.of(folder))
    if not data.every_month:
        data.notes.append("Crossing months were read from the kept months only (results from before crossings "
                          "were read from every month): a crossing is the first kept month from which the "
                          "self-funding ratio stays ≥ 1 over the kept months that span a year, so it is rounded "
                          "up to a kept month and raises between kept months are not seen.")
    return data


def crossings_table(data: SweepData) -> pd.DataFrame:
    """One row per run × lab: when the lab crossed and how its run ended, the run's parameters and its
    outcomes (revenue per token and per watt-year in ``OUTCOME_MONTH``, final margin, outside capital).

    ``crossing_step``: the month of the sustained crossing (0 = the first month; NaN: not within the
    horizon) and ``crossing_date`` its date (NaT); ``censored``: True where the lab had not crossed by
    the horizon (a survival time known only to exceed it); ``first_touch_step`` / ``first_touch_date``:
    the first kept month its self-funding ratio reached 1, sustained or not; ``failed``: whether the lab
    failed within the horizon, and ``failed_step`` the first kept month it was out (a failure before a
    crossing is a competing event: ``experiments.analysis.survival``)."""
    runs = data.runs.sort_values("step")
    month, month_label = outcome_step(data)
    rows = []
    for (run_id, agent), g in runs.groupby(["run_id", "agent"], sort=True):
        first = g.iloc[0]
        if data.every_month:
            step = first["crossing_step"]
        else:
            # the kept months stand for the months between them: a streak of SUSTAINED_MONTHS months spans
            # this many kept rows
            spacing = max(int(np.median(np.diff(g["step"].to_numpy()))) if len(g) > 1 else 1, 1)
            hit = crossing_step(g["self_funding_ratio"].to_numpy(),
                                g["raised_usd"].to_numpy() if "raised_usd" in g else None,
                                sustain=max(1, -(-SUSTAINED_MONTHS // spacing)))
            step = float(g["step"].iloc[hit]) if hit is not None else np.nan
        last = g.iloc[-1]
        at = g[g["step"] == month]
        touch = first_touch_step(g["self_funding_ratio"].to_numpy(float))
        touch = float(g["step"].iloc[touch]) if touch is not None else np.nan
        out = pd.to_numeric(g["failed"], errors="coerce").fillna(0).to_numpy() > 0 if "failed" in g else None
        failed_step = float(g["step"].to_numpy()[out][0]) if out is not None and out.any() else np.nan
        row = {"run_id": run_id, "agent": agent, "seed": first["seed"], "crossing_step": float(step),
               "crossing_date": _date(data, step), "censored": not np.isfinite(step),
               "first_touch_step": touch, "first_touch_date": _date(data, touch),
               "failed": bool(np.isfinite(failed_step)), "failed_step": failed_step,
               **{p: first[p] for p in data.params}}
        if "revenue_usd_per_mtok" in g:
            row[f"rpt_{month_label}_usd_per_mtok"] = float(at["revenue_usd_per_mtok"].iloc[0]) if len(at) else np.nan
        if "revenue_usd_per_watt_year" in g:
            row[f"rpwy_{month_label}_usd_per_w_year"] = float(at["revenue_usd_per_watt_year"].iloc[0]) if len(at) else np.nan
        if "operating_margin" in g:
            row["final_operating_margin"] = float(last["operating_margin"])
        if "outside_capital_usd" in g:
            row["outside_capital_bn"] = float(last["outside_capital_usd"]) / 1e9
        rows.append(row)
    return pd.DataFrame(rows)


#: the columns of a crossing table that say when and how (``crossings_table``, ``run_crossings``)
CROSSING_COLUMNS = ["crossing_step", "crossing_date", "censored", "first_touch_step", "first_touch_date", "failed",
                    "failed_step"]


def run_crossings(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per lab of one run's every-month ``metrics`` (``RunResult.crossings``): its sustained
    crossing (``capital_market.crossing_step``), first touch and failure, as ``crossings_table`` has them.

    >>> import wattyear
    >>> t = wattyear.run(months=3).crossings()          # no lab crosses within three months
    >>> list(t.columns[:4]), len(t), bool(t["censored"].all())
    (['agent', 'crossing_step', 'crossing_date', 'censored'], 4, True)
    """
    labs = metrics[metrics["kind"] == "lab"].sort_values("step")
    first = labs.iloc[0]
    start = pd.Timestamp(first["date"]) - pd.DateOffset(months=int(first["step"]))
    date = lambda m: start + pd.DateOffset(months=int(m)) if np.isfinite(m) else pd.NaT  # noqa: E731
    rows = []
    for agent, g in labs.groupby("agent", sort=False):
        hit = crossing_step(g["self_funding_ratio"].to_numpy(float),
                            g["raised_usd"].to_numpy(float) if "raised_usd" in g else None)
        step = float(g["step"].iloc[hit]) if hit is not None else np.nan
        touch = first_touch_step(g["self_funding_ratio"].to_numpy(float))
        touch = float(g["step"].iloc[touch]) if touch is not None else np.nan
        out = pd.to_numeric(g["failed"], errors="coerce").fillna(0).to_numpy() > 0 if "failed" in g else None
        failed_step = float(g["step"].to_numpy()[out][0]) if out is not None and out.any() else np.nan
        rows.append({"agent": agent, "crossing_step": step, "crossing_date": date(step),
                     "censored": not np.isfinite(step), "first_touch_step": touch, "first_touch_date": date(touch),
                     "failed": bool(np.isfinite(failed_step)), "failed_step": failed_step})
    return pd.DataFrame(rows, columns=["agent", *CROSSING_COLUMNS])


def _date(data: SweepData, month: float) -> pd.Timestamp:
    return data.date_of(month) if np.isfinite(month) else pd.NaT


def outcome_step(data: SweepData) -> tuple[int, str]:
    """The kept month outcomes are read in: ``OUTCOME_MONTH`` or the last kept month before it."""
    target = pd.Timestamp(f"{OUTCOME_MONTH}-01")
    kept = data.runs.drop_duplicates("step")[["step", "date"]].sort_values("step")
    before = kept[pd.to_datetime(kept["date"]) <= target]
    row = before.iloc[-1] if len(before) else kept.iloc[-1]
    return int(row["step"]), pd.Timestamp(row["date"]).strftime("%Y_%m")


def months_without(crossings: pd.Series, horizon: int) -> pd.Series:
    """The months a lab went without self-funding within the horizon: its crossing month, or every month
    of the run (``horizon + 1``) where it did not cross. Every run observes this number in full, so its
    mean over runs (the restricted mean time to crossing) and regressions on it need no made-up month for
    runs that never cross; it is not a crossing date and is never shown as one.

    >>> months_without(pd.Series([3.0, np.nan]), 119).tolist()
    [3.0, 120.0]
    """
    return crossings.fillna(horizon + 1).clip(upper=horizon + 1)
