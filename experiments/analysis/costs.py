"""The cost view: each provider's cost stack per million tokens, year by year, against what it charges.

``cost_stack(metrics)`` turns the month × agent cost stack of ``metrics.parquet`` (energy, depreciation and
site opex of the owned watts it operates, rent of the watts it leases in: together the cost of its watts,
CPWY × W / 12) into $ per million tokens served in each year, split into what its training and its serving
used (by the month's training share θ), with its overhead, interest and other costs beside it, its blended
revenue per Mtok and its gross margin. ``segment_prices(market)`` gives each provider's list price, revenue
and marginal cost per Mtok in each segment and year (the Lerner index (p − c)/p). ``write_costs`` writes
both tables and one figure; ``cost_text`` is the table the ``wattyear costs`` command prints.

Worked by hand: a provider that serves 2·10⁶ tokens in a year from watts whose energy, depreciation, site
opex and rent cost $6, $2, $1 and $1 has a $5.00/Mtok cost of watts ($3.00 energy, $1.00 depreciation,
$0.50 site opex, $0.50 rent); with θ = 0.4 every month, $2.00 of it is training's and $3.00 serving's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattyear.experiments.folders import writes

#: the parts of the cost of the watts a provider operates, as metrics.parquet names them
STACK = {"energy": "energy_usd", "depreciation": "watt_depreciation_usd", "site_opex": "watt_site_opex_usd",
         "rent": "watt_rent_usd"}
#: the providers a cost view covers: those that serve tokens
KINDS = ("lab", "fringe")


def cost_stack(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per provider (labs and the open-weights fringe) and year: tokens served (``mtok``) and, in
    $ per million of them, the cost stack (``energy``, ``depreciation``, ``site_opex``, ``rent``; their sum
    ``watts`` is the cost of its watts, CPWY × W / 12 summed over the year), its split into ``training``
    (θ × the month's cost of watts) and ``serving``, ``other`` (overhead, interest, the cost of watts it
    let to others and a cloud's other costs: operating cost less the cost of its watts), ``total``
    (operating cost), ``revenue`` (token revenue) and ``gross_margin`` (1 − serving / revenue). Years in
    which it served no tokens have NaN per-Mtok values (undefined, not zero)."""
    d = metrics[metrics["kind"].isin(KINDS)].copy()
    d["year"] = pd.to_datetime(d["date"]).dt.year
    d["watts_usd"] = sum(d[col] for col in STACK.values())
    d["training_usd"] = d["training_share"] * d["watts_usd"]
    d["cpwy_usd"] = d["cost_usd_per_watt_year"] * d["watts"] / 12.0
    sums = {part: (col, "sum") for part, col in STACK.items()}
    g = d.groupby(["agent", "year"], sort=False).agg(
        months=("step", "size"), tokens=("tokens_served", "sum"), **sums, watts=("watts_usd", "sum"),
        training=("training_usd", "sum"), cpwy_usd=("cpwy_usd", "sum"), total=("operating_cost_usd", "sum"),
        revenue=("token_revenue_usd", "sum")).reset_index()
    g["serving"] = g["watts"] - g["training"]
    g["other"] = g["total"] - g["watts"]
    mtok = g["tokens"] / 1e6
    per = ["energy", "depreciation", "site_opex", "rent", "watts", "training", "serving", "other", "total",
           "revenue"]
    out = g[["agent", "year", "months"]].assign(mtok=mtok)
    for col in per:
        out[col] = np.where(mtok > 0, g[col] / mtok.where(mtok > 0, 1.0), np.nan)
    out["gross_margin"] = np.where(g["revenue"] > 0, 1.0 - g["serving"] / g["revenue"].where(g["revenue"] > 0, 1.0),
                                   np.nan)
    out["watts_usd"] = g["watts"]
    out["cpwy_usd"] = g["cpwy_usd"]
    return out


def segment_prices(market: pd.DataFrame) -> pd.DataFrame:
    """One row per provider, segment and year where it served tokens: ``served_mtok``, the list price
    (``price``, $/Mtok, weighted by the tokens it served each month), ``revenue`` (spend per Mtok served),
    the marginal cost its price is set against (``marginal_cost``, weighted alike) and the Lerner index
    ``lerner`` = (price − marginal cost) / price (NaN for free tokens)."""
    d = market[(market["provider"] != "unserved") & (market["served_tokens"] > 0)].copy()
    d["year"] = pd.to_datetime(d["date"]).dt.year
    d["price_x"] = d["price_usd_per_mtok"] * d["served_tokens"]
    d["mc_x"] = d["marginal_cost_usd_per_mtok"] * d["served_tokens"]
    g = d.groupby(["provider", "segment", "year"], sort=False).agg(
        tokens=("served_tokens", "sum"), price_x=("price_x", "sum"), mc_x=("mc_x", "sum"),
        spend=("spend_usd", "sum")).reset_index()
    out = g[["provider", "segment", "year"]].assign(served_mtok=g["tokens"] / 1e6)
    out["price"] = g["price_x"] / g["tokens"]
    out["revenue"] = g["spend"] / g["tokens"] * 1e6
    out["marginal_cost"] = g["mc_x"] / g["tokens"]
    out["lerner"] = np.where(out["price"] > 0, (out["price"] - out["marginal_cost"]) / out["price"].where(
        out["price"] > 0, 1.0), np.nan)
    return out


def default_years(stack: pd.DataFrame) -> list[int]:
    """The first full year, 2030 and the last year of a run (those within it)."""
    full = stack[stack["months"] == 12]["year"]
    years = sorted(full.unique()) or sorted(stack["year"].unique())
    picked = [years[0], 2030, years[-1]]
    return [y for i, y in enumerate(picked) if y in years and y not in picked[:i]]


def _money(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:,.2f}"


def cost_text(stack: pd.DataFrame, years: list[int] | None = None) -> str:
    """The cost stack as a fixed-width table, $/Mtok, one block per year."""
    years = years or default_years(stack)
    cols = [("energy", "energy"), ("depreciation", "deprec."), ("site_opex", "site"), ("rent", "rent"),
            ("watts", "= watts"), ("training", "of which training"), ("serving", "serving"), ("other", "other"),
            ("total", "total"), ("revenue", "revenue")]
    lines = ["Cost per million tokens served, $/Mtok (watts = energy + depreciation + site opex + rent; "
             "training + serving = watts; total = watts + other)"]
    for year in years:
        rows = stack[stack["year"] == year]
        if rows.empty:
            continue
        lines.append(f"\n{year}" + ("" if int(rows["months"].max()) == 12 else f" ({int(rows['months'].max())} months)"))
        header = f"  {'provider':<22}{'Mtok':>12}" + "".join(f"{label:>{max(len(label) + 2, 9)}}" for _, label in cols)
        lines.append(header + f"{'gross margin':>14}")
        for _, r in rows.iterrows():
            cells = "".join(f"{_money(r[c]):>{max(len(label) + 2, 9)}}" for c, label in cols)
            margin = "–" if not np.isfinite(r["gross_margin"]) else f"{r['gross_margin']:.0%}"
            lines.append(f"  {r['agent']:<22}{r['mtok']:>12.3g}{cells}{margin:>14}")
    return "\n".join(lines) + "\n"


def plot_costs(stack: pd.DataFrame, path: Path, years: list[int] | None = None) -> Path:
    """Stacked bars of the cost of watts per Mtok (energy, depreciation, site opex, rent) and other costs,
    per provider, one panel per year, with the revenue per Mtok marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wattyear.experiments import style

    style.apply_style()
    years = years or default_years(stack)
    fig, axes = plt.subplots(1, len(years), figsize=(4.2 * len(years), 4.4), squeeze=False, sharey=False)
    # the parts of a cost, not agents: colours apart from the agents' palette
    colors = {"energy": "#e8c547", "depreciation": "#3b4b8c", "site_opex": "#9aa6d1", "rent": "#7fb3a3",
              "other": "#cfcfcf"}
    for ax, year in zip(axes[0], years):
        rows = stack[(stack["year"] == year) & (stack["mtok"] > 0)]
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for part, color in colors.items():
            values = np.nan_to_num(rows[part].to_numpy(), nan=0.0)
            ax.bar(x, values, bottom=bottom, color=color, label=part.replace("_", " "), width=0.7)
            bottom += values
        ax.scatter(x, rows["revenue"], marker="_", s=400, color="black", zorder=3, label="revenue")
        ax.set_xticks(x, [style.label(a) for a in rows["agent"]], rotation=30, ha="right")
        for tick, agent in zip(ax.get_xticklabels(), rows["agent"]):
            tick.set_color(style.colour(agent))
        ax.grid(axis="x", visible=False)
        ax.set_title(str(year))
        style.dollar_axis(ax)
    axes[0][0].set_ylabel("$ per million tokens served")
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle("Cost stack per million tokens served, against revenue per token")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@writes
def write_costs(metrics: pd.DataFrame, market: pd.DataFrame, folder: Path, years: list[int] | None = None,
                plots: bool = True) -> list[Path]:
    """``costs.csv`` (the stack by provider and year), ``segment_prices.csv`` and ``costs.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stack = cost_stack(metrics)
    files = [folder / "costs.csv", folder / "segment_prices.csv"]
    stack.drop(columns=["watts_usd", "cpwy_usd"]).to_csv(files[0], index=False, float_format="%.6g")
    segment_prices(market).to_csv(files[1], index=False, float_format="%.6g")
    if plots:
        files.append(plot_costs(stack, folder / "costs.png", years))
    return files
