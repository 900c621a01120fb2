"""PNG plots of a run: per-watt metrics over time, the token market, and the trajectories to self-funding.

Every figure takes its look from ``experiments.style``: an agent's colour, the open-weights fringe drawn as its
6-month mean over its raw months (its month-to-month re-pricing would otherwise hide the labs), money, prices
and percentages written one way, symlog ticks as plain numbers and dates on every month axis.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

from wattyear.experiments import style  # noqa: E402
from wattyear.sim.units import TOKENS_PER_MTOK  # noqa: E402

style.apply_style()

def save(fig, path: Path, title: str | None = None, bottom: float = 0.0) -> Path:
    """Dates on every month axis, the run's name as the figure's title, and a PNG (``bottom``: the share of the
    height kept free below the panels, for a figure legend)."""
    for ax in fig.axes:
        formatter = ax.xaxis.get_major_formatter()
        if isinstance(formatter, (mdates.AutoDateFormatter, mdates.ConciseDateFormatter)):
            if isinstance(formatter, mdates.AutoDateFormatter):
                style.month_axis(ax)
            ax.tick_params(labelbottom=True)  # every panel's month axis is labelled, shared or not
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, bottom, 1, 0.97 if title else 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _lines(ax, frame: pd.DataFrame, column: str, **kw) -> None:
    for agent, g in frame.groupby("agent", sort=False):
        style.agent_line(ax, agent, g["date"].to_numpy(), g[column].to_numpy(dtype=float), **kw)
        _mark_failure(ax, g, column, agent)


def _mark_failure(ax, g: pd.DataFrame, column: str, agent: str) -> None:
    """An ✕ at the last month a lab drew before it failed."""
    if "failed" not in g or not g["failed"].astype(bool).any():
        return
    before = g[~g["failed"].astype(bool)]
    if len(before):
        last = before.iloc[-1]
        ax.scatter([last["date"]], [before[column].iloc[-1]], marker="x", s=30, color=style.colour(agent),
                   zorder=4, label="_nolegend_")


def _dollar_log_axis(ax) -> None:
    """A log axis of prices or rates written $0.1, $1, $10 (no powers of ten)."""
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, pos=None: f"${v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_per_watt(metrics: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """2×3 grid: TPWY, RPT, RPWY against CPWY, utilisation, rate-limited share, cash."""
    labs = metrics[metrics["kind"].isin(("lab", "fringe"))]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True)
    _lines(axes[0, 0], labs, "mtok_per_watt_year")
    axes[0, 0].set(title="Tokens per watt-year (supply)", ylabel="M tokens / W-yr", yscale="log")
    axes[0, 0].yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, pos=None: f"{v:,g}"))
    _lines(axes[0, 1], labs, "revenue_usd_per_mtok")
    axes[0, 1].set(title="Revenue per token = price × utilisation × mix", ylabel="$ / M tokens", yscale="log")
    _dollar_log_axis(axes[0, 1])
    for agent, g in labs.groupby("agent", sort=False):
        x = g["date"].to_numpy()
        style.agent_line(axes[0, 2], agent, x, g["revenue_usd_per_watt_year"].to_numpy(dtype=float))
        style.agent_line(axes[0, 2], agent, x, g["cost_usd_per_watt_year"].to_numpy(dtype=float), ls="--",
                         label=None)
    axes[0, 2].set(title="Revenue (solid) vs cost (dashed) per watt-year", ylabel="$ / W-yr")
    style.dollar_axis(axes[0, 2])
    _lines(axes[1, 0], labs, "utilization")
    axes[1, 0].set(title="Utilisation (tokens served / capacity)", ylim=(0, 1))
    _lines(axes[1, 1], labs, "rate_limited_share")
    axes[1, 1].set(title="Rate-limited share of demand", ylim=(0, 1))
    for ax in (axes[1, 0], axes[1, 1]):
        style.percent_axis(ax)
    _lines(axes[1, 2], labs, "cash_usd")
    axes[1, 2].axhline(0, color="black", lw=0.5)
    axes[1, 2].set(title="Cash")
    style.money_axis(axes[1, 2])
    axes[0, 0].legend()
    return save(fig, path, title)


def plot_market(market: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """Per segment: prices by provider (top; a segment whose tokens are free: the tokens each provider serves
    instead) and shares of demand served (bottom). A provider's price is drawn only in months it served tokens."""
    segments = list(dict.fromkeys(market["segment"]))
    fig, axes = plt.subplots(2, len(segments), figsize=(4 * len(segments), 7), sharex=True, squeeze=False)
    for j, seg in enumerate(segments):
        sub = market[(market["segment"] == seg)]
        sold = sub[(sub["provider"] != "unserved")]
        free = not (sold["price_usd_per_mtok"].fillna(0.0) > 0).any()
        for provider, g in sold.groupby("provider", sort=False):
            if not (g["served_tokens"] > 0).any():
                continue  # a provider that never served this segment has no price in it
            kw = style.line_kw(provider)
            if free:
                ax_y = g["served_tokens"].to_numpy(dtype=float) / TOKENS_PER_MTOK / 1e6
            else:
                ax_y = g["price_usd_per_mtok"].where(g["served_tokens"] > 0).to_numpy(dtype=float)
            axes[0, j].plot(g["date"], ax_y, **kw)
        if free:
            axes[0, j].set(title=f"{seg}: tokens served (free: no price)", ylabel="T tokens / month")
            axes[0, j].set_ylim(bottom=0)
        else:
            axes[0, j].set(title=f"{seg}: price", ylabel="$ / M tokens")
            axes[0, j].set_ylim(bottom=0)
            style.dollar_axis(axes[0, j])
        order = list(dict.fromkeys(sub["provider"]))
        wide = sub.pivot(index="date", columns="provider", values="share")[order]
        wide = wide.loc[:, (wide.fillna(0.0) > 0).any()]
        axes[1, j].stackplot(wide.index, wide.T.fillna(0.0).values, labels=[style.label(p) for p in wide.columns],
                             colors=[style.colour(p) for p in wide.columns])
        axes[1, j].set(title=f"{seg}: share of demand", ylim=(0, 1))
        style.percent_axis(axes[1, j])
        axes[1, j].grid(False)
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles))
    return save(fig, path, title, bottom=0.05)


def plot_self_funding(metrics: pd.DataFrame, funding: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """Trajectories to self-funding: SFR per lab with the threshold, and each lab's outside capital to date."""
    labs = metrics[metrics["kind"] == "lab"]
    fig, (ax_sfr, ax_cap) = plt.subplots(1, 2, figsize=(14, 5))
    _lines(ax_sfr, labs, "self_funding_ratio")
    ax_sfr.axhline(1.0, color="black", ls="--", lw=1, label="self-funding threshold (1)")
    ax_sfr.set(title="Self-funding ratio\n(trailing-12-month free cash flow / what the next cluster costs a year)",
               ylabel="SFR (symmetric log: linear within ±1)")
    style.symlog_axis(ax_sfr, linthresh=1.0)  # the threshold stays readable when a lab's ratio runs to ±50
    ax_sfr.legend()
    for agent, g in labs.groupby("agent", sort=False):
        ax_cap.step(g["date"], g["outside_capital_usd"], where="post", **style.line_kw(agent))
    raised = funding.groupby("source")["amount_usd"].sum() if len(funding) else pd.Series(dtype=float)
    sources = ", ".join(f"{s.replace('_', ' ')} {style.money(v)}" for s, v in raised.sort_values(ascending=False)
                        .items() if v > 0)
    ax_cap.set(title="Outside capital raised to date, per lab\n(stock since the start; steps are raises)")
    if sources:
        ax_cap.set_xlabel(f"all labs, by source: {sources}", fontsize=8, color="#555555")
    style.money_axis(ax_cap)
    ax_cap.set_ylim(bottom=0)
    ax_cap.legend(loc="upper left")
    return save(fig, path, title)


__all__ = ["np", "plot_market", "plot_per_watt", "plot_self_funding", "plt", "save"]
