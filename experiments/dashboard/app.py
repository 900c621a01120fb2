"""The dashboard page: Mesa's SolaraViz around ``experiments.dashboard.model.DashboardModel``.

Started by ``wattyear dash [CONFIG]``, which passes the config (and a posterior folder, if any) in the
environment and runs this module with Solara's server. The sidebar is SolaraViz's: Reset / Play / Step and
the knobs (``dashboard.KNOBS`` and a power slider per lab); a changed knob takes effect on Reset, as in
every Mesa app. Two tabs of panels follow the model month by month:

* Page 0, per-watt economics: the month's table, "Run to horizon" (in a thread, with progress), the
  comparison (the config as loaded, or a posterior band, computed in a thread with progress), tokens per
  watt-year, revenue per token, revenue vs cost per watt-year, the self-funding ratio with its threshold.
* Page 1, market and power: shares and prices by segment, owned vs leased-in watts.

Figures are matplotlib ``Figure`` objects (no pyplot state: each session draws its own), PNGs the page
holds without any network.
"""

from __future__ import annotations

import html
import os
import threading
import time
from pathlib import Path

import matplotlib
import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update, update_counter

from wattyear.experiments.dashboard import model as d
from wattyear.sim.config import load_config

matplotlib.use("Agg")

CONFIG_ENV = "WATTYEAR_DASH_CONFIG"
POSTERIOR_ENV = "WATTYEAR_DASH_POSTERIOR"
#: draws of a posterior band
BAND_DRAWS = 40
#: while running to the horizon, the panels are redrawn at most this often
REDRAW_SECONDS = 1.0

CONFIG_NAME = Path(os.environ.get(CONFIG_ENV) or "baseline").stem
CONFIG = load_config(os.environ.get(CONFIG_ENV) or None)  # read and checked once per server
POSTERIOR = os.environ.get(POSTERIOR_ENV) or None

NONE, CONFIGURED, BAND = "none", "as configured", "posterior band"
#: per session (Solara scopes a module-level reactive to each browser session)
reference_kind = solara.reactive(CONFIGURED)
reference_ready = solara.reactive(0)
#: references are deterministic: one per (kind, months, seed) for the whole server, the newest kept
_references: dict[tuple, d.Reference] = {}
MAX_REFERENCES = 16
_references_lock = threading.Lock()

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def reference_key(model: d.DashboardModel, kind: str) -> tuple:
    return (kind, model.knobs["months"], model.knobs["seed"])


def current_reference(model: d.DashboardModel) -> d.Reference | None:
    reference_ready.get()  # re-draw when one arrives
    kind = reference_kind.value
    return None if kind == NONE else _references.get(reference_key(model, kind))


def model_params() -> dict:
    """SolaraViz's parameters: the config (fixed) and one input per knob."""
    params: dict = {"config": CONFIG}
    for knob in d.knobs_for(CONFIG):
        value = d.knob_default(knob, CONFIG)
        if knob.kind == "bool":
            params[knob.name] = {"type": "Checkbox", "value": value, "label": knob.label}
        else:
            # a config outside the slider's usual range widens it: the slider must show the value that runs
            params[knob.name] = {"type": "SliderInt" if knob.kind == "int" else "SliderFloat", "value": value,
                                 "label": knob.label, "min": min(knob.min, value), "max": max(knob.max, value),
                                 "step": knob.step}
    return params


# ---------------------------------------------------------------- the month, and long work
def month_html(model: d.DashboardModel, s: d.Series, ref: d.Reference | None) -> str:
    """The month's table; every cell carries data-lab and data-key (what the browser test reads)."""
    rows = d.month_table(s)
    priced = [(k, name) for k, name in zip(s.segments, s.segment_names)
              if CONFIG["segments"][k]["pricing"] in ("contract", "per_token")]
    done, total = model.months_done, model.horizon
    date = s.dates[-1] if s.dates else model.date(0).strftime("%Y-%m") + " (not started)"
    start = d.defaults(CONFIG)
    changed = {k: v for k, v in model.knobs.items() if v != start[k]}
    shown = lambda v: str(v) if isinstance(v, bool) else f"{v:g}"  # noqa: E731
    head = (f'<div id="wattyear-status" data-month="{done}" data-horizon="{total}">'
            f"<b>{html.escape(CONFIG_NAME)}</b> · month {done} of {total} · {date}"
            + (" · changed: " + ", ".join(f"{html.escape(k)} = {shown(v)}" for k, v in changed.items())
               if changed else " · knobs at the config's values") + "</div>"
            + '<div style="font-size:11px;color:#666">running with: '
            + ", ".join(f"{html.escape(k.label)} {shown(model.knobs[k.name])}" for k in d.knobs_for(CONFIG))
            + "</div>")
    if not rows:
        return head + "<p>Press Step or Play (sidebar), or Run to horizon.</p>"
    cols = [(key, label, fmt) for key, label, fmt in d.TABLE_COLUMNS]
    cols += [(f"price_{k}", f"{name} $/Mtok", "{:.2f}") for k, name in priced]
    out = ['<div style="overflow-x:auto"><table id="wattyear-month" style="border-collapse:collapse;font-size:12px">',
           "<tr><th>Lab</th>"]
    out += [f'<th style="padding:1px 4px;font-weight:500">{html.escape(label)}</th>' for _, label, _ in cols]
    out += ["</tr>"]
    ref_rows = None
    if ref is not None and not ref.band and len(ref.series.months) >= len(s.months):
        ref_rows = {r["lab"]: r for r in d.month_table(ref.series, len(s.months) - 1)}
    for row in rows:
        out.append(f'<tr><td>{html.escape(row["name"])}</td>')
        for key, _, fmt in cols:
            text = fmt.format(row[key])
            if ref_rows is not None and key in ("revenue_per_token", "self_funding_ratio"):
                delta = row[key] - ref_rows[row["lab"]][key]
                text += f' <span style="color:#777">({delta:+.3g})</span>'
            out.append(f'<td style="padding:1px 4px;text-align:right" data-lab="{row["lab"]}" data-key="{key}" '
                       f'data-value="{row[key]!r}">{text}</td>')
        out.append("</tr>")
    out.append("</table></div>")
    if ref_rows is not None:
        out.append('<p style="font-size:12px;color:#777">(±): against the comparison run, same month.</p>')
    return head + "".join(out)


def MonthPanel(model: d.DashboardModel):
    update_counter.get()
    s = d.series(model)
    ref = current_reference(model)
    solara.HTML(tag="div", unsafe_innerHTML=month_html(model, s, ref))


def LongWork(model: d.DashboardModel):
    """Running to the horizon and the comparison: both in threads, with progress."""
    update_counter.get()
    with solara.Column():
        RunToHorizon(model)
        CompareWith(model)


@solara.component
def RunToHorizon(model: d.DashboardModel):
    """Steps the model to its horizon in a thread: the page stays live, the panels redraw once a second. An
    error (the run-time guard stopping the run) is shown in one line, not as a traceback over the page."""

    def run():
        total, drawn = model.horizon, time.monotonic()
        while model.running:
            if not task.is_current():
                return
            model.step()
            task.progress = 100.0 * model.months_done / total
            if time.monotonic() - drawn > REDRAW_SECONDS:  # a month takes milliseconds, a redraw much longer
                force_update()
                drawn = time.monotonic()
        force_update()

    task = solara.lab.use_task(run, dependencies=None, raise_error=False)
    with solara.Row(style={"align-items": "center"}):
        solara.Button("Run to horizon", on_click=task, disabled=task.pending or not model.running,
                      color="primary", outlined=True, classes=["wattyear-run-all"])
        if task.pending:
            solara.Button("Stop", on_click=task.cancel, text=True)
    if task.pending:
        solara.ProgressLinear(task.progress if task.progress is not None else True)
        solara.Text(f"running: month {model.months_done} of {model.horizon} (the table and panels redraw once a "
                    "second)")
    if task.error:
        solara.Error(f"the run stopped: {task.exception}")


@solara.component
def CompareWith(model: d.DashboardModel):
    """The comparison's choice and its computation (a thread, with progress)."""
    kinds = [NONE, CONFIGURED] + ([BAND] if POSTERIOR else [])
    kind = reference_kind.value
    key = reference_key(model, kind)

    def compute():
        if kind == NONE or key in _references:
            return
        base = d.dashboard_config(CONFIG, months=model.knobs["months"], seed=model.knobs["seed"])

        def progress(done, total):
            task.progress = 100.0 * done / total

        ref = d.reference(base, posterior=POSTERIOR if kind == BAND else None, draws=BAND_DRAWS,
                          progress=progress, cancelled=lambda: not task.is_current())
        if ref is not None:
            with _references_lock:
                _references[key] = ref
                while len(_references) > MAX_REFERENCES:  # the oldest first
                    _references.pop(next(iter(_references)))
            reference_ready.value += 1

    task = solara.lab.use_task(compute, dependencies=[key], raise_error=False)
    solara.Select("Compare with", value=reference_kind, values=kinds)
    if task.error:
        solara.Error(f"the comparison ({kind}) could not be computed: {task.exception}")
    elif task.pending:
        solara.ProgressLinear(task.progress if task.progress is not None else True)
        solara.Text(f"computing the comparison ({kind}) …")
    elif kind != NONE and key in _references:
        solara.Text(f"dashed: {CONFIG_NAME} {_references[key].label}"
                    + (" (shaded band)" if _references[key].band else ""))


# ---------------------------------------------------------------- plots
def _figure(nrows: int = 1, ncols: int = 1, height: float = 3.2):
    """A figure with fixed margins (a layout engine would double the time each frame takes to draw)."""
    fig = Figure(figsize=(6.4, height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    top = 1 - (0.55 if nrows > 1 else 0.35) / height
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.3 / height + 0.02, top=top, hspace=0.45, wspace=0.22)
    return fig, axes


def _x(s: d.Series) -> np.ndarray:
    return s.months


def _date_axis(ax, s: d.Series, model: d.DashboardModel, small: bool = False) -> None:
    ax.set_xlim(0, max(model.horizon - 1, 1))
    every = 12 * max(1, int(np.ceil(model.horizon / (72 if small else 144))))  # at most 6 (12) labels
    ticks = np.arange(0, model.horizon, every)
    ax.set_xticks(ticks, [model.date(int(t)).strftime("%Y") for t in ticks], fontsize=7 if small else 8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3)


def _reference_line(ax, r: np.ndarray, months: np.ndarray, band: bool, color: str, ls: str = "--") -> None:
    """The comparison run's line (or its band, median dashed) behind the running scenario's."""
    if band:
        ax.fill_between(months, r[0], r[2], color=color, alpha=0.12, lw=0)
        ax.plot(months, r[1], color=color, lw=0.8, ls=ls)
    else:
        ax.plot(months, r, color=color, lw=0.9, ls=ls, alpha=0.7)


def _lab_lines(ax, model, s: d.Series, key: str, ref: d.Reference | None, labs=None, style="-",
               label_suffix=""):
    for i, lab in enumerate(s.labs):
        if labs is not None and i not in labs:
            continue
        color = COLORS[i % len(COLORS)]
        if ref is not None:
            r = ref.series.lab[key]
            _reference_line(ax, r[..., i] if ref.band else r[:, i], ref.series.months, ref.band, color)
        if s.lab:
            ax.plot(_x(s), s.lab[key][:, i], color=color, lw=1.8, ls=style, label=s.lab_names[i] + label_suffix)


def _show(fig, model, name: str) -> None:
    solara.FigureMatplotlib(fig, format="png", dependencies=[update_counter.value, model.months_done,
                                                             reference_ready.value, reference_kind.value,
                                                             id(model), name])


def lab_metric_panel(key: str, title: str, ylabel: str, threshold: float | None = None, log: bool = False):
    def Panel(model: d.DashboardModel):
        update_counter.get()
        s, ref = d.series(model), current_reference(model)
        fig, axes = _figure()
        ax = axes[0, 0]
        _lab_lines(ax, model, s, key, ref)
        if threshold is not None:
            ax.axhline(threshold, color="k", lw=1, ls=":", label="self-funding threshold")
        if log:
            ax.set_yscale("symlog", linthresh=0.1)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        _date_axis(ax, s, model)
        if s.lab or threshold is not None:
            ax.legend(fontsize=7, ncol=2, loc="best")
        _show(fig, model, key)

    Panel.__name__ = f"Panel_{key}"
    return Panel


def RpwyVsCpwy(model: d.DashboardModel):
    """Revenue (solid) against cost (dotted) per watt-year, a small panel per lab."""
    update_counter.get()
    s, ref = d.series(model), current_reference(model)
    n = len(s.labs)
    cols = 2
    fig, axes = _figure((n + cols - 1) // cols, cols, height=1.9 * ((n + cols - 1) // cols) + 0.4)
    for i in range(n):
        ax = axes[i // cols, i % cols]
        _lab_lines(ax, model, s, "revenue_per_watt_year", ref, labs=[i], label_suffix=" RPWY")
        if s.lab:
            ax.plot(_x(s), s.lab["cost_per_watt_year"][:, i], color="k", lw=1.2, ls=":", label="CPWY")
        ax.set_title(s.lab_names[i], fontsize=9)
        _date_axis(ax, s, model, small=True)
        if i == 0:
            ax.set_ylabel("$/W-yr", fontsize=8)
            if s.lab:
                ax.legend(fontsize=7)
    for j in range(n, axes.size):
        axes.flat[j].set_visible(False)
    fig.suptitle("Revenue vs cost per watt-year (RPWY solid, CPWY dotted)", fontsize=10)
    _show(fig, model, "rpwy")


def segment_panel(key: str, title: str, ylabel: str, priced_only: bool = False):
    """A small panel per segment (only those with prices if ``priced_only``), a line per provider."""

    def Panel(model: d.DashboardModel):
        update_counter.get()
        s, ref = d.series(model), current_reference(model)
        shown = [k for k, seg in enumerate(s.segments)
                 if not priced_only or CONFIG["segments"][seg]["pricing"] != "free"]
        cols = 2
        rows = (len(shown) + cols - 1) // cols
        fig, axes = _figure(rows, cols, height=1.9 * rows + 0.4)
        for j, k in enumerate(shown):
            ax = axes[j // cols, j % cols]
            for p, provider in enumerate(s.providers):
                color = COLORS[p % len(COLORS)]
                if ref is not None:
                    r = ref.series.market[key]
                    _reference_line(ax, r[..., k, p] if ref.band else r[:, k, p], ref.series.months, ref.band, color)
                if s.market:
                    name = s.lab_names[p] if p < len(s.lab_names) else "open weights"
                    ax.plot(_x(s), s.market[key][:, k, p], color=color, lw=1.5, label=name)
            ax.set_title(s.segment_names[k], fontsize=9)
            _date_axis(ax, s, model, small=True)
            if j % cols == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            if j == 0 and s.market:
                ax.legend(fontsize=6, ncol=2)
        for j in range(len(shown), axes.size):
            axes.flat[j].set_visible(False)
        fig.suptitle(title, fontsize=10)
        _show(fig, model, key)

    Panel.__name__ = f"Segments_{key}"
    return Panel


def OwnedVsLeased(model: d.DashboardModel):
    """Owned (solid) and leased-in (dashed) watts per lab; the comparison run dotted."""
    update_counter.get()
    s, ref = d.series(model), current_reference(model)
    fig, axes = _figure()
    ax = axes[0, 0]
    for i, name in enumerate(s.lab_names):
        color = COLORS[i % len(COLORS)]
        if ref is not None:
            for key in ("owned_watts", "leased_in_watts"):
                r = ref.series.lab[key]
                _reference_line(ax, r[..., i] if ref.band else r[:, i], ref.series.months, ref.band, color, ls=":")
        if s.lab:
            ax.plot(_x(s), s.lab["owned_watts"][:, i], color=color, lw=1.8, label=f"{name} owned")
            ax.plot(_x(s), s.lab["leased_in_watts"][:, i], color=color, lw=1.4, ls="--", label=f"{name} leased in")
    ax.set_title("Owned (solid) vs leased-in (dashed) watts; comparison dotted", fontsize=10)
    ax.set_ylabel("GW", fontsize=9)
    _date_axis(ax, s, model)
    if s.lab:
        ax.legend(fontsize=6, ncol=2)
    _show(fig, model, "watts")


COMPONENTS = [
    (MonthPanel, 0),
    (LongWork, 0),
    (lab_metric_panel("tokens_per_watt_year", "Tokens per watt-year (supply)", "M tokens / W-yr"), 0),
    (lab_metric_panel("revenue_per_token", "Revenue per token (= price × utilisation × mix)", "$ / Mtok"), 0),
    (RpwyVsCpwy, 0),
    (lab_metric_panel("self_funding_ratio", "Self-funding ratio", "ratio", threshold=d.SELF_FUNDING_THRESHOLD,
                      log=True), 0),
    (segment_panel("share", "Market share of each segment's demand", "share"), 1),
    (segment_panel("price_usd_per_mtok", "List prices by priced segment ($/Mtok)", "$/Mtok", priced_only=True), 1),
    (OwnedVsLeased, 1),
]


@solara.component
def Page():
    model = solara.use_memo(lambda: d.DashboardModel(CONFIG), [])
    SolaraViz(model, components=COMPONENTS, model_params=model_params(), name=f"wattyear · {CONFIG_NAME}",
              play_interval=150)


page = Page
