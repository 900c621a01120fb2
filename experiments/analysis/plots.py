"""PNG plots of a run: per-watt metrics over time, and the token market."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from wattyear.sim import outputs  # noqa: E402


def save(fig, path: Path, title: str | None = None, bottom: float = 0.0) -> Path:
    """Date axes, the run's name as the figure's title, and a PNG (``bottom``: the share of the height
    kept free below the panels, for a figure legend)."""
    fig.autofmt_xdate()
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, bottom, 1, 0.97 if title else 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _lines(ax, frame: pd.DataFrame, column: str, scale: float = 1.0, **kw) -> None:
    for agent, g in frame.groupby("agent", sort=False):
        ax.plot(g["date"], g[column] * scale, label=agent, **kw)


def plot_per_watt(metrics: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """2×3 grid: TPWY, RPT, RPWY against CPWY, utilisation, rate-limited share, cash."""
    labs = metrics[metrics["kind"].isin(("lab", "fringe"))]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True)
    _lines(axes[0, 0], labs, "tokens_per_watt_year", outputs.display("tokens_per_watt_year")[1])
    axes[0, 0].set(title="Tokens per watt-year (supply)", ylabel="M tokens / W-yr", yscale="log")
    _lines(axes[0, 1], labs, "revenue_per_token", outputs.display("revenue_per_token")[1])
    axes[0, 1].set(title="Revenue per token = price × utilisation × mix", ylabel="$ / M tokens", yscale="log")
    for agent, g in labs.groupby("agent", sort=False):
        line, = axes[0, 2].plot(g["date"], g["revenue_per_watt_year"], label=agent)
        axes[0, 2].plot(g["date"], g["cost_per_watt_year"], ls="--", color=line.get_color())
    axes[0, 2].set(title="Revenue (solid) vs cost (dashed) per watt-year", ylabel="$ / W-yr")
    _lines(axes[1, 0], labs, "utilization")
    axes[1, 0].set(title="Utilisation", ylabel="tokens served / capacity", ylim=(0, 1))
    _lines(axes[1, 1], labs, "rate_limited_share")
    axes[1, 1].set(title="Rate-limited share of demand", ylabel="share", ylim=(0, 1))
    _lines(axes[1, 2], labs, "cash_usd", 1e-9)
    axes[1, 2].axhline(0, color="black", lw=0.5)
    axes[1, 2].set(title="Cash", ylabel="$ B")
    axes[0, 0].legend(fontsize=8)
    return save(fig, path, title)


def plot_market(market: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """Per segment: prices by provider (top) and shares of demand served (bottom)."""
    segments = list(dict.fromkeys(market["segment"]))
    fig, axes = plt.subplots(2, len(segments), figsize=(4 * len(segments), 7), sharex=True, squeeze=False)
    for j, seg in enumerate(segments):
        sub = market[market["segment"] == seg]
        for provider, g in sub.groupby("provider", sort=False):
            if provider != "unserved":
                axes[0, j].plot(g["date"], g["price_usd_per_mtok"], label=provider)
        axes[0, j].set(title=f"{seg}: price", ylabel="$ / M tokens")
        wide = sub.pivot(index="date", columns="provider", values="share")[list(dict.fromkeys(sub["provider"]))]
        axes[1, j].stackplot(wide.index, wide.T.values, labels=wide.columns)
        axes[1, j].set(title=f"{seg}: share of demand", ylim=(0, 1))
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7, loc="lower left")
    return save(fig, path, title)


def plot_self_funding(metrics: pd.DataFrame, funding: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """Trajectories to self-funding: SFR per lab with the threshold, and outside capital by source."""
    labs = metrics[metrics["kind"] == "lab"]
    fig, (ax_sfr, ax_cap) = plt.subplots(1, 2, figsize=(14, 5))
    _lines(ax_sfr, labs, "self_funding_ratio")
    ax_sfr.axhline(1.0, color="black", ls="--", lw=1, label="self-funding threshold")
    ax_sfr.set(title="Self-funding ratio: trailing-12-month free cash flow / what the next cluster costs a year",
               ylabel="SFR (symmetric log: linear within ±1)")
    ax_sfr.set_yscale("symlog", linthresh=1.0)  # the threshold stays readable when a lab's ratio runs to ±50
    ax_sfr.title.set_fontsize(9)
    ax_sfr.legend(fontsize=8)
    dates = pd.Index(sorted(labs["date"].unique()))
    if len(funding):
        cumulative = (funding.pivot_table(index="date", columns="source", values="amount_usd", aggfunc="sum")
                      .reindex(dates, fill_value=0.0).fillna(0.0).cumsum())
        ax_cap.stackplot(cumulative.index, (cumulative.T / 1e9).values, labels=cumulative.columns)
        ax_cap.legend(fontsize=8, loc="upper left")
    ax_cap.set(title="Outside capital raised by the labs, cumulative, by source", ylabel="$ B")
    return save(fig, path, title)
