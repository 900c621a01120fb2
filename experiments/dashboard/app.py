"""The dashboard page: Mesa's controls and panel grid around ``experiments.dashboard.model.DashboardModel``.

Started by ``wattyear dash [CONFIG]``, which passes the config (and a posterior folder, if any) in the
environment and runs this module with Solara's server. The page is SolaraViz's parts put together without
its display settings: the sidebar holds Mesa's Reset / Play / Step (``ModelController``, a month per step)
and the knobs (``dashboard.KNOBS`` and a power slider per lab), each with its value beside it; a changed
knob takes effect on Reset, as in every Mesa app. Two tabs of panels (Mesa's ``ComponentsView``) follow the
model month by month:

* Page 0, per-watt economics: the month's table, "Run to horizon" (in a thread, with progress), the
  comparison (the config as loaded, or a posterior band, computed in a thread with progress), tokens per
  watt-year, revenue per token, revenue vs cost per watt-year, the self-funding ratio with its threshold.
* Page 1, market and power: shares and prices by segment, owned vs leased-in watts.

Every panel is a Solara component made once, at import. Mesa wraps a plain function in a component class
it makes anew on each render of the grid, and the grid renders again about a second after the page
appears (the browser reports its layout back): every panel was then built afresh, and a click on the
first "Run to horizon" went to a button already taken down. The button also stays disabled until its
click handler is attached.

Figures are matplotlib ``Figure`` objects (no pyplot state: each session draws its own), PNGs the page
holds without any network; lab colours come from ``experiments.style.colour``, as in every plot.
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
from mesa.visualization.solara_viz import ComponentsView, ModelController
from mesa.visualization.utils import force_update, update_counter

from wattyear.experiments.dashboard import model as d
from wattyear.experiments import style
from wattyear.experiments.style import colour
from wattyear.sim.config import load_config

matplotlib.use("Agg")

CONFIG_ENV = "WATTYEAR_DASH_CONFIG"
POSTERIOR_ENV = "WATTYEAR_DASH_POSTERIOR"
#: draws of a posterior band
BAND_DRAWS = 40
#: while running to the horizon, the panels are redrawn at most this often
REDRAW_SECONDS = 1.0
#: Play's pause between months (Mesa's play interval; each frame redraws every panel, which takes longer)
PLAY_INTERVAL_MS = 150

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


def reference_key(model: d.DashboardModel, kind: str) -> tuple:
    return (kind, model.knobs["months"], model.knobs["seed"])


def current_reference(model: d.DashboardModel) -> d.Reference | None:
    reference_ready.get()  # re-draw when one arrives
    kind = reference_kind.value
    return None if kind == NONE else _references.get(reference_key(model, kind))


def model_params() -> dict:
    """What Reset builds the model from: the config (fixed) and each knob at the config's value."""
    return {"config": CONFIG, **d.defaults(CONFIG)}


#: a slider's label and value on a line above its track; the slider keeps its own label for screen readers
#: (and the browser test), hidden from sight
KNOBS_CSS = """
.wattyear-knobs .wattyear-knob-head { font-size: 14px; color: rgba(0, 0, 0, 0.7); margin-bottom: -6px; }
.wattyear-knobs .wattyear-knob-value { font-weight: 500; font-variant-numeric: tabular-nums; }
.wattyear-knobs .v-input__slider .v-label { position: absolute !important; width: 1px; height: 1px; overflow: hidden;
    clip-path: inset(50%); white-space: nowrap; }
"""


def knob_text(knob: d.Knob, value) -> str:
    """A knob's value as its readout shows it.

    >>> knob_text(d.KNOBS[0], 0.8500000000000001), knob_text(d.KNOBS[1], 6), knob_text(d.KNOBS[2], True)
    ('0.85', '6', 'on')
    """
    if knob.kind == "bool":
        return "on" if value else "off"
    return f"{value:.4g}"


@solara.component
def KnobInput(knob: d.Knob, value, on_value):
    """One knob: a slider (its range widened to take a config's value outside it) under its label and value,
    or a switch."""
    if knob.kind == "bool":
        solara.Checkbox(label=knob.label, value=bool(value), on_value=on_value)
        return
    cast = int if knob.kind == "int" else (lambda v: round(float(v), 10))  # no 0.30000000000000004
    start = d.knob_default(knob, CONFIG)
    with solara.Column(gap="0px"):
        with solara.Row(justify="space-between", classes=["wattyear-knob-head"]):
            solara.Text(knob.label)
            solara.v.Html(tag="span", children=[knob_text(knob, value)], class_="wattyear-knob-value",
                          attributes={"data-knob": knob.name})
        solara.v.Slider(v_model=value, on_v_model=lambda v: on_value(cast(v)), label=knob.label,
                        min=min(knob.min, start), max=max(knob.max, start), step=knob.step, thumb_label=False,
                        hide_details=True, dense=True)


@solara.component
def Knobs(model: d.DashboardModel, parameters: solara.Reactive[dict]):
    """The knobs, each with its value; those moved since the running model was built are listed, as
    Reset will apply them."""
    values = parameters.value
    solara.Style(KNOBS_CSS)
    with solara.Column(classes=["wattyear-knobs"], gap="4px"):
        for knob in d.knobs_for(CONFIG):
            KnobInput(knob, values[knob.name],
                      lambda v, name=knob.name: parameters.set({**parameters.value, name: v}))
    pending = [k for k in d.knobs_for(CONFIG) if values[k.name] != model.knobs[k.name]]
    if pending:
        solara.Text("Reset to apply: " + ", ".join(
            f"{k.name} {knob_text(k, model.knobs[k.name])} → {knob_text(k, values[k.name])}" for k in pending),
            style={"font-size": "12px", "color": "#b45309"})


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
               if changed else " · knobs at the config's values") + "</div>")
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
            if ref_rows is not None and key in ("revenue_usd_per_mtok", "self_funding_ratio"):
                delta = row[key] - ref_rows[row["lab"]][key]
                text += f' <span style="color:#777">({delta:+.3g})</span>'
            out.append(f'<td style="padding:1px 4px;text-align:right" data-lab="{row["lab"]}" data-key="{key}" '
                       f'data-value="{row[key]!r}">{text}</td>')
        out.append("</tr>")
    out.append("</table></div>")
    if ref_rows is not None:
        out.append('<p style="font-size:12px;color:#777">(±): against the comparison run, same month.</p>')
    return head + "".join(out)


@solara.component
def MonthPanel(model: d.DashboardModel):
    update_counter.get()
    s = d.series(model)
    ref = current_reference(model)
    solara.HTML(tag="div", unsafe_innerHTML=month_html(model, s, ref))


@solara.component
def LongWork(model: d.DashboardModel):
    """Running to the horizon and the comparison: both in threads, with progress."""
    update_counter.get()
    with solara.Column():
        RunToHorizon(model)
        CompareWith(model)


@solara.component
def RunToHorizon(model: d.DashboardModel):
    """Steps the model to its horizon in a thread: the page stays live, the panels redraw once a second. An
    error (the run-time guard stopping the run) is shown in one line, not as a traceback over the page.

    The button is enabled by an effect of this component, which runs after the button's own effect has
    attached its click handler: a click the browser lets through always reaches ``run``."""
    live = solara.use_reactive(False)
    solara.use_effect(lambda: live.set(True), [])

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
        solara.Button("Run to horizon", on_click=task,
                      disabled=not live.value or task.pending or not model.running, color="primary", outlined=True,
                      classes=["wattyear-run-all"])
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
                    + (" (shaded band: parameter uncertainty and seed noise; no model-discrepancy term, so it "
                       "is narrower than the model's forecast error, see docs/validation.md)"
                       if _references[key].band else ""))


# ---------------------------------------------------------------- plots
#: the self-funding ratio's axis is linear within ±1 and logarithmic beyond, as in the static plot
SFR_LINTHRESH = 1.0

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
        color = colour(lab)
        if ref is not None:
            r = ref.series.lab[key]
            _reference_line(ax, r[..., i] if ref.band else r[:, i], ref.series.months, ref.band, color)
        if s.lab:
            ax.plot(_x(s), s.lab[key][:, i], color=color, lw=1.8, ls=style, label=s.lab_names[i] + label_suffix)


def _show(fig, model, name: str) -> None:
    solara.FigureMatplotlib(fig, format="png", dependencies=[update_counter.value, model.months_done,
                                                             reference_ready.value, reference_kind.value,
                                                             id(model), name])


def lab_metric_figure(model: d.DashboardModel, s: d.Series, ref: d.Reference | None, key: str, title: str,
                      ylabel: str, threshold: float | None = None, symlog: bool = False,
                      dollars: bool = False) -> Figure:
    """One metric, a line per lab in its colour (``experiments.style.colour``), the comparison dashed behind
    it; ``threshold`` a dashed black line; ``symlog``: the static self-funding plot's scale
    (``analysis.plots.plot_self_funding``: linear within ±1, logarithmic beyond); ``dollars``: ticks $0.25."""
    fig, axes = _figure()
    ax = axes[0, 0]
    _lab_lines(ax, model, s, key, ref)
    if threshold is not None:
        ax.axhline(threshold, color="k", lw=1, ls="--", label=f"self-funding threshold ({threshold:g})")
    if symlog:
        style.symlog_axis(ax, linthresh=SFR_LINTHRESH)  # ticks read 1, 0.5, 0, −1, −10 as in the PNGs
    if dollars:
        style.dollar_axis(ax)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    _date_axis(ax, s, model)
    if s.lab or threshold is not None:
        ax.legend(fontsize=7, ncol=2, loc="best")
    return fig


def lab_metric_panel(key: str, title: str, ylabel: str, threshold: float | None = None, symlog: bool = False,
                     dollars: bool = False):
    """The panel of ``lab_metric_figure``, redrawn as the model steps."""

    @solara.component
    def Panel(model: d.DashboardModel):
        update_counter.get()
        s, ref = d.series(model), current_reference(model)
        _show(lab_metric_figure(model, s, ref, key, title, ylabel, threshold, symlog, dollars), model, key)

    return Panel


@solara.component
def RpwyVsCpwy(model: d.DashboardModel):
    """Revenue (solid) against cost (dotted) per watt-year, a small panel per lab."""
    update_counter.get()
    s, ref = d.series(model), current_reference(model)
    n = len(s.labs)
    cols = 2
    fig, axes = _figure((n + cols - 1) // cols, cols, height=1.9 * ((n + cols - 1) // cols) + 0.4)
    for i in range(n):
        ax = axes[i // cols, i % cols]
        _lab_lines(ax, model, s, "revenue_usd_per_watt_year", ref, labs=[i], label_suffix=" RPWY")
        if s.lab:
            ax.plot(_x(s), s.lab["cost_usd_per_watt_year"][:, i], color="k", lw=1.2, ls=":", label="CPWY")
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

    @solara.component
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
                color = colour(provider)
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
            if priced_only:  # the prices' panels: ticks $0.25, as on the run's PNGs
                style.dollar_axis(ax)
            if j == 0 and s.market:
                ax.legend(fontsize=6, ncol=2)
        for j in range(len(shown), axes.size):
            axes.flat[j].set_visible(False)
        fig.suptitle(title, fontsize=10)
        _show(fig, model, key)

    return Panel


@solara.component
def OwnedVsLeased(model: d.DashboardModel):
    """Owned (solid) and leased-in (dashed) watts per lab; the comparison run dotted."""
    update_counter.get()
    s, ref = d.series(model), current_reference(model)
    fig, axes = _figure()
    ax = axes[0, 0]
    for i, name in enumerate(s.lab_names):
        color = colour(s.labs[i])
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


#: the self-funding ratio's panel: the threshold and scale of the static plot
SFR_PANEL = dict(key="self_funding_ratio", title="Self-funding ratio", ylabel="SFR (symmetric log: linear within ±1)",
                 threshold=d.SELF_FUNDING_THRESHOLD, symlog=True)
COMPONENTS = [
    (MonthPanel, 0),
    (LongWork, 0),
    (lab_metric_panel("mtok_per_watt_year", "Tokens per watt-year (supply)", "M tokens / W-yr"), 0),
    (lab_metric_panel("revenue_usd_per_mtok", "Revenue per token (= price × utilisation × mix)", "$ / Mtok",
                      dollars=True), 0),
    (RpwyVsCpwy, 0),
    (lab_metric_panel(**SFR_PANEL), 0),
    (segment_panel("share", "Market share of each segment's demand", "share"), 1),
    (segment_panel("price_usd_per_mtok", "List prices by priced segment ($/Mtok)", "$/Mtok", priced_only=True), 1),
    (OwnedVsLeased, 1),
]


@solara.component
def Page():
    """SolaraViz's page without its display settings (play and render intervals, threads): Play steps a
    month every ``PLAY_INTERVAL_MS``, Step one month; the model is built before anything renders."""
    first = solara.use_memo(lambda: d.DashboardModel(CONFIG), [])
    model = solara.use_reactive(first)
    parameters = solara.use_reactive(model_params())
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    with solara.AppBar():
        solara.AppBarTitle(f"wattyear · {CONFIG_NAME}")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            ModelController(model, model_parameters=parameters, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
        with solara.Card("Knobs", subtitle="applied on Reset"):
            Knobs(model.value, parameters)
    ComponentsView(COMPONENTS, model.value)


page = Page
