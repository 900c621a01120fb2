"""Every output column in one table: unit and meaning, file by file.

The counterpart of ``sim.schema`` for outputs: one ``Column`` per column of
``metrics.parquet``, ``market.parquet``, ``leases.parquet`` and
``funding.parquet``, in file order. ``experiments.results`` takes the metric
columns it writes from here (``METRIC_NAMES``), the README's column tables are
generated from here (``markdown_list``; ``python -m wattyear.sim.outputs README.md``
rewrites them), and ``tests/test_outputs.py`` keeps code, table and README in
step.

Conventions: a column holds its values in the unit its name carries, in every
file, table, plot, summary, report, the dashboard and the API (``revenue_usd_per_mtok``
is $/Mtok wherever it appears: no table rescales a column it keeps the name of). Money
(``$``) is an amount for the month unless the meaning says it is a stock
(``cash_usd``, ``debt_usd``, ``outside_capital_usd``) or a yearly rate (``$/yr``).
Missing is missing: a ratio whose denominator is 0 (no watts, no tokens, no
revenue, no next cluster) and a quantity an agent has no part in (a hyperscaler's
quality or utilisation) are NaN, said in each column's ``undefined``; an amount an
agent has none of (a hyperscaler's tokens, a lab's debt) is a true 0. Flags are
booleans and counts integers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path



@dataclass(frozen=True)
class Column:
    """One output column: its name in the Parquet file, its unit, a one-line meaning, and when it is
    NaN (``undefined``: empty for a column that is always defined)."""

    name: str
    unit: str
    meaning: str
    undefined: str = ""


C = Column

#: when a ratio is undefined, shared by the per-watt columns
NO_TOKENS = "no tokens capacity (no operated watts: a failed lab, an owner that lets all its watts)"
SELLS_NONE = ("it sells no tokens: agents other than providers (hyperscalers, the publisher), or no tokens "
              "capacity (a failed lab)")
NO_WATTS = "no operated watts (a failed lab; an owner that lets all its watts)"
NO_SERVED = "no tokens served"

#: the keys of metrics.parquet, before the metrics
METRIC_KEYS = (
    C("step", "-", "month index, 0 = the start month (`run.start`)"),
    C("date", "date", "first day of the month"),
    C("agent", "-", "agent id: a lab or hyperscaler id from the config, `open_weights_fringe`, `meta` (the "
      "open-weights publisher)"),
    C("kind", "-", "`lab`, `fringe`, `hyperscaler` or `open_weights`"),
)

#: the metrics of metrics.parquet, in file order (``experiments.results.METRIC_COLUMNS``)
METRIC_VALUES = (
    # watts and tokens
    C("watts", "W", "IT watts operated: owned in service − leased out + leased in (the fringe: the watts it rents)"),
    C("owned_watts", "W", "IT watts owned and in service, leased out or not"),
    C("leased_in_watts", "W", "watts leased in and delivered this month"),
    C("leased_out_watts", "W", "watts let to others this month"),
    C("mtok_per_watt_year", "Mtok/W-yr", "TPWY: million tokens the operated fleet could produce in a year at "
      "full load, per operated watt (in tokens of its own models)", NO_TOKENS),
    C("revenue_usd_per_mtok", "$/Mtok", "RPT: token revenue / tokens capacity, per million tokens (= blended "
      "price × utilisation)", SELLS_NONE),
    C("revenue_usd_per_watt_year", "$/W-yr", "RPWY = TPWY × RPT: token revenue, annualised, per operated watt",
      SELLS_NONE),
    C("cost_usd_per_watt_year", "$/W-yr", "CPWY: cost of the operated watts (energy; depreciation and site opex of "
      "owned watts in use; rent of leased-in watts), annualised, per operated watt", NO_WATTS),
    C("utilization", "fraction", "tokens served / tokens capacity (capacity in flagship tokens at full load; a "
      "provider serving smaller or larger models than its flagship can read above or below its compute load)",
      SELLS_NONE),
    C("peak_load", "fraction", "share of its operated watts busy at the evening peak: training share + serving "
      "share × compute served × peak-to-average / compute at full load (1: compute-constrained)", SELLS_NONE),
    C("rate_limited_share", "fraction", "share of the tokens customers asked of it (spill-over included) that it "
      "turned away", "no tokens were asked of it (agents other than providers; a failed lab)"),
    C("blended_price_usd_per_mtok", "$/Mtok", "token revenue / tokens served (free tokens at a price of 0)",
      NO_SERVED),
    C("quality", "index", "quality of its models this month", "agents other than providers; a failed lab"),
    C("tokens_capacity", "tokens", "tokens the operated fleet could produce this month at full load, training "
      "watts included"),
    C("tokens_served", "tokens", "tokens served this month, sold or given away"),
    # revenue and cost
    C("revenue_usd", "$", "all revenue: token revenue, rent received, a hyperscaler's business (net of revenue at "
      "risk) and other cloud customers' rent, ads (a lab's free tier, the publisher's business)"),
    C("token_revenue_usd", "$", "segments' spend on its tokens"),
    C("lease_income_usd", "$", "rent received for watts let"),
    C("ad_revenue_usd", "$", "ads: a lab's in its free tier (free users served × ad revenue per user), the "
      "publisher's business"),
    C("cloud_revenue_usd", "$", "rent received for watts let plus, for a hyperscaler, rent from other cloud "
      "customers"),
    C("rent_paid_usd", "$", "rent paid for watts leased in (commitments included)"),
    C("operating_cost_usd", "$", "all operating cost: depreciation and site opex of owned watts, rent paid, "
      "energy, overhead and other costs, interest"),
    C("operating_profit_usd", "$", "revenue_usd − operating_cost_usd"),
    C("operating_margin", "fraction", "operating_profit_usd / revenue_usd", "no revenue (under a cent)"),
    C("gross_margin", "fraction", "(token revenue − cost of serving watts) / token revenue; serving cost = cost "
      "of the operated watts (as in CPWY) × (1 − training share)", "no token revenue (under a cent)"),
    C("energy_usd", "$", "electricity of the operated watts, PUE included, idle watts drawing "
      "`world.idle_power_fraction`; paid by whoever operates the watts"),
    C("interest_usd", "$", "interest on the debt carried into the month (`world.debt_interest_per_year`)"),
    C("depreciation_usd", "$", "straight-line depreciation of owned watts in service, leased out or not"),
    # the cost stack of the watts it operates: energy_usd + watt_depreciation_usd + watt_site_opex_usd +
    # watt_rent_usd = cost_usd_per_watt_year × watts / 12
    C("watt_depreciation_usd", "$", "cost stack: depreciation of the owned watts it operates (not those it lets)"),
    C("watt_site_opex_usd", "$", "cost stack: site opex of the owned watts it operates (not those it lets)"),
    C("watt_rent_usd", "$", "cost stack: rent of the watts it leases in (the fringe's rent of its watts included); "
      "with energy_usd, watt_depreciation_usd and watt_site_opex_usd the cost of its watts, "
      "cost_usd_per_watt_year × watts / 12"),
    C("cost_usd_per_mtok", "$/Mtok", "the cost of its watts (the stack above) per million tokens served: training's "
      "watts included", "it served less than a token"),
    C("serving_cost_usd_per_mtok", "$/Mtok", "the serving share of the cost of its watts (1 − training_share) per "
      "million tokens served: what a served token cost it to produce", "it served less than a token"),
    C("capex_usd", "$", "capex paid: each build in equal parts over its lead time, replacements included"),
    # cash
    C("cash_usd", "$", "stock: cash at the end of the month, after raises, borrowing, write-offs and payouts"),
    C("cash_flow_usd", "$", "operating cash flow − capex, before raises, borrowing and payouts"),
    C("operating_cash_flow_usd", "$", "operating profit + depreciation"),
    C("stake_income_usd", "$", "a hyperscaler's stakes × the operating profit of the labs it holds them in "
      "(reported, not cash)"),
    C("revenue_at_risk_usd", "$", "a hyperscaler's business revenue lost to AI: business revenue × "
      "`ai_substitution` × the share of consumer tokens served by providers "
      "other than its own labs"),
    C("customers_over_1m", "customers", "customers whose spend at this provider runs above $1M a year (the "
      "month's spend × 12), to the nearest whole customer (an integer)"),
    C("training_share", "fraction", "share of a lab's operated watts on training this month"),
    # self-funding
    C("self_funding_ratio", "ratio", "SFR: trailing free cash flow of the token business (trailing_free_cash_flow_usd, "
      "less trailing_lease_income_usd for a lab) / what the next cluster costs a year "
      "(next_cluster_cost_usd_per_year); ≥ 1: operations could pay for it (labs and hyperscalers)",
      "no next cluster planned (under a cent a year); agents that plan none; a failed lab"),
    C("trailing_operating_cash_flow_usd", "$/yr", "operating cash flow over the last 12 months, this one included "
      "(scaled to a year while fewer have passed)"),
    C("trailing_free_cash_flow_usd", "$/yr", "trailing operating cash flow less replacement capex over the same "
      "months"),
    C("trailing_lease_income_usd", "$/yr", "rent received for watts let over the same months: reported apart, "
      "and left out of a lab's self-funding ratio (a side business of idle watts, not its token business)"),
    C("next_cluster_capex_usd", "$", "capex of the next cluster: next_cluster_watts × capex per W of the newest "
      "hardware it could order now"),
    C("next_cluster_cost_usd_per_year", "$/yr", "what the next cluster costs a year as the owner would pay for it "
      "(world.next_cluster_pricing): its capex over the build lead time for an owner that builds, a year of "
      "the cheapest contract rent for a lab that leases"),
    C("next_cluster_watts", "W", "watts of the next cluster its build rule plans: what it will lack at the end "
      "of its build lead time, at least world.next_cluster_floor_share of its fleet (labs and hyperscalers)"),
    # capital market
    C("outside_capital_usd", "$", "stock: outside money a lab has raised since the start"),
    C("raised_usd", "$", "outside money a lab raised this month, all sources"),
    C("invested_usd", "$", "money a cloud partner put into labs this month (negative: cash a lab it owns paid "
      "out to it)"),
    C("returned_usd", "$", "cash paid out to owners (a lab a hyperscaler owns: to its parent)"),
    C("borrowed_usd", "$", "change in debt this month: borrowed − repaid"),
    C("debt_usd", "$", "stock: debt at the end of the month (hyperscalers, the publisher and the fringe borrow "
      "rather than hold negative cash)"),
    C("written_off_usd", "$", "unpaid bills of a failing lab written off by its creditors (outside the model: "
      "money in from outside, like a raise)"),
    C("failed", "bool", "true once a lab has failed (out of the market for good)"),
    C("status", "-", "`active`, or `failed` from the month a lab fails (labs; every other agent is `active`)"),
    C("watts_under_construction", "W", "watts ordered and not yet in service (builds to suit included, on the "
      "builder's row)"),
    # capacity market and contracts
    C("bid_watts", "W", "watts a lab bid for in the spot capacity market: its shortfall less watts signed for "
      "that arrive within the lease lead time"),
    C("asked_watts", "W", "idle owned watts an owner offered in the spot capacity market"),
    C("traded_in_watts", "W", "watts a lab leased in the spot market this month (delivered after "
      "`world.lease_lead_months`)"),
    C("traded_out_watts", "W", "watts an owner let in the spot market this month"),
    C("contracted_watts", "W", "watts a lab contracted this month from hyperscalers, built to suit"),
)

METRICS = (*METRIC_KEYS, *METRIC_VALUES)

#: columns of folders written before version 0.2.0, when four names did not carry their units:
#: old name → (name now, factor from the old unit to the new)
RENAMED = {
    "tokens_per_watt_year": ("mtok_per_watt_year", 1e-6),
    "revenue_per_token": ("revenue_usd_per_mtok", 1e6),
    "revenue_per_watt_year": ("revenue_usd_per_watt_year", 1.0),
    "cost_per_watt_year": ("cost_usd_per_watt_year", 1.0),
}


def upgrade(frame):
    """A metrics table read from an older folder with today's names and units (the one place old names are
    read): each old column renamed, in place of the old one, and scaled; a table with today's names is
    returned as it is. Older folders' zeros where values are undefined stay zeros: they cannot be told from
    true zeros.

    >>> import pandas as pd
    >>> upgrade(pd.DataFrame({"agent": ["a"], "revenue_per_token": [1e-7]})).round(9).to_dict("list")
    {'agent': ['a'], 'revenue_usd_per_mtok': [0.1]}
    """
    old = [c for c in frame.columns if c in RENAMED and RENAMED[c][0] not in frame.columns]
    if not old:
        return frame
    frame = frame.rename(columns={c: RENAMED[c][0] for c in old})
    for c in old:
        name, factor = RENAMED[c]
        if factor != 1.0:
            frame[name] = frame[name] * factor
    return frame


#: metrics that may be NaN (undefined), by name: the guard lets these, and only these, be NaN
MAY_BE_NAN = frozenset(c.name for c in METRIC_VALUES if c.undefined)
#: metrics written from the model's books that are derived after the month (not fields of ``Books``)
DERIVED_METRICS = {"status": "failed"}



def names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    """The column names of a table, in order.

    >>> names(METRIC_KEYS)
    ('step', 'date', 'agent', 'kind')
    """
    return tuple(c.name for c in columns)


#: names of the metrics written to metrics.parquet (after its keys), for code
METRIC_NAMES = names(METRIC_VALUES)


#: keys of the model's per-month metrics (``WattyearModel.history``) that are not written:
#: inputs of the agents' observation and of the conservation checks
INTERNAL_METRICS = {
    "capacity_cost_usd": "capital and site cost of the operated watts (owned cost in use + rent paid)",
    "outlays_usd": "cash costs and capex (what a cash buffer must cover)",
    "owned_cost_per_watt_year": "depreciation and site opex per owned watt, $/W-yr",
    "external_in_usd": "money in from outside the modelled economy (ads, business, other cloud customers)",
    "external_out_usd": "money out of the modelled economy (energy, site opex, overhead, interest, capex)",
}

MARKET = (
    C("step", "-", "month index, 0 = the start month"),
    C("date", "date", "first day of the month"),
    C("segment", "-", "demand segment id"),
    C("provider", "-", "lab id, `open_weights_fringe`, or `unserved`: tokens turned away that found no provider"),
    C("segment_demand_tokens", "tokens", "tokens the segment's customers want this month, the outside option "
      "included (same on every row of the segment)"),
    C("segment_customers", "customers", "customers in the segment (same on every row of the segment)"),
    C("price_usd_per_mtok", "$/Mtok", "list price charged this month (a plan: its subscribers' fees over the "
      "tokens they used; 0 in free segments and on `unserved` rows)"),
    C("fee_usd_per_month", "$/month", "a plan's monthly fee, its tiers blended (0 where priced per token)"),
    C("marginal_cost_usd_per_mtok", "$/Mtok", "the cost of a token its price is set against: energy at "
      "reachable utilisation plus the capacity charge of its watts, times the segment's compute per token "
      "(the Lerner index is 1 − this / price_usd_per_mtok)"),
    C("routing", "x", "compute per token of its model mix relative to its flagship (< 1: users routed to smaller "
      "models; a Search owner's lab raises its free tier's toward 1 to defend Search; 0 on `unserved` rows)"),
    C("first_choice_tokens", "tokens", "tokens of the customers who chose it first, before spill-over "
      "(`unserved` row: the unserved tokens)"),
    C("asked_tokens", "tokens", "tokens customers asked of it, spill-over from full rivals included "
      "(`unserved` row: the unserved tokens)"),
    C("served_tokens", "tokens", "tokens it served"),
    C("served_customers", "customers", "customers whose tokens it served (in a plan segment: its subscribers)"),
    C("spend_usd", "$", "the segment's spend on its tokens (a plan: subscribers × fee)"),
    C("rate_limited_share", "fraction", "(asked − served) / asked"),
    C("share", "fraction", "share of the segment's demand it served (its served tokens less routed_tokens, "
      "over its usage multiplier, over segment demand; `unserved` row: unserved / demand); the rest chose the "
      "outside option"),
    C("usage", "x", "tokens a customer of this provider uses relative to the segment's trend: "
      "(price / reference price)^(−price_elasticity), the reference being the segment's customer-weighted "
      "geometric mean of the closed labs' starting prices, times 1 − open_task_share (1 on `unserved` rows, in "
      "free and plan segments)"),
    C("capacity_shadow_price_usd_per_mtok", "$/Mtok", "capacity premium in the lab's target price set at the "
      "end of the month: the part above its best response passed on from the price that would bring demand "
      "down to its capacity (0 unless customers asked more than it could serve; 0 for the fringe)"),
    C("open_task_share", "fraction", "share of the tokens of a closed lab's customers that they route, task by "
      "task, to open weights (multi-homing; 0 for the fringe and `unserved` rows, in free and plan segments)"),
    C("routed_tokens", "tokens", "served tokens of tasks closed labs' customers routed to open weights: on the "
      "fringe's row those it served, on a lab's row those the fringe could not take that came back to the lab "
      "(0 on `unserved` rows)"),
)

LEASES = (
    C("lessor", "-", "agent id of the owner letting the watts"),
    C("lessee", "-", "agent id of the lab using them"),
    C("watts", "W", "IT watts as signed (delivered pro rata less in months its lessor owns less than it has "
      "let); leases ended by a lab's failure are left out"),
    C("start_step", "-", "month index of the first month of the term"),
    C("end_step", "-", "month index of the last month of the term"),
    C("start", "date", "first month of the term"),
    C("end", "date", "last month of the term"),
    C("price_usd_per_w_year", "$/W-yr", "rent"),
    C("renew", "bool", "true: rolls over at the end of the term; once it has, the renewal is a new row and this "
      "one reads false"),
    C("origin", "-", "the config's note, `capacity market`, `<lab> contract` (built to suit), `<lab> commitment` "
      "(a cloud partner's committed spend) or `commitment`"),
)

FUNDING = (
    C("step", "-", "month index of the raise"),
    C("date", "date", "first day of that month"),
    C("lab", "-", "lab id"),
    C("source", "-", "`investors`, `ipo`, `cloud_partner`, `sovereign_fund`, or `parent` (a parent company "
      "outside the model that owns the lab)"),
    C("partner", "-", "hyperscaler id for a cloud partner", "null (None in pandas): a source that is not a cloud "
      "partner"),
    C("amount_usd", "$", "money raised from this source"),
    C("cloud_commitment_usd", "$", "part of the amount to be spent back on the partner's cloud"),
    C("commitment_watts", "W", "watts the partner leased to the lab for that commitment, as far as its spare "
      "watts went"),
)

_BY_NAME = {c.name: c for c in (*METRIC_VALUES, *MARKET, *LEASES, *FUNDING)}

#: file name → (what a row is, its columns)
FILES = {
    "metrics.parquet": ("one row per month × agent (labs, the open-weights fringe, hyperscalers, Meta)", METRICS),
    "market.parquet": ("one row per month × segment × provider, and an `unserved` row per segment", MARKET),
    "leases.parquet": ("one row per lease term (config, capacity market, contracts, commitments)", LEASES),
    "funding.parquet": ("one row per raise and source", FUNDING),
}

#: every written column by name, as the first file that has it describes it (a name has one unit in every
#: file: a test checks; ``step`` means a month in each, described for its rows)
ALL_COLUMNS: dict[str, Column] = {}
for _columns in (METRICS, MARKET, LEASES, FUNDING):
    for _c in _columns:
        ALL_COLUMNS.setdefault(_c.name, _c)


def field_metadata(name: str, columns: tuple[Column, ...] | None = None) -> dict[bytes, bytes] | None:
    """The Parquet field metadata of an output column: its unit and meaning, as ``columns`` (a file's
    table) or else the first file that has it describes it; None for a column in none of them, such as a
    study's run id or a swept parameter.

    >>> field_metadata("revenue_usd_per_mtok")[b"unit"]
    b'$/Mtok'
    """
    column = ({c.name: c for c in columns} if columns else ALL_COLUMNS).get(name)
    if column is None:
        return None
    meta = {b"unit": column.unit.encode(), b"meaning": column.meaning.encode()}
    if column.undefined:
        meta[b"nan_when"] = column.undefined.encode()
    return meta


def with_units(table, columns: tuple[Column, ...] | None = None):
    """A ``pyarrow.Table`` whose known columns carry their unit and meaning as field metadata (read with
    ``pyarrow.parquet.read_schema(path).field(name).metadata``; pandas ignores it); ``columns``: the
    file's table of columns (default: every file's, ``ALL_COLUMNS``)."""
    import pyarrow as pa

    fields = []
    for field in table.schema:
        meta = field_metadata(field.name, columns)
        fields.append(field.with_metadata(meta) if meta else field)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


BEGIN, END = "<!-- outputs:begin -->", "<!-- outputs:end -->"


def markdown_list() -> str:
    """The README's column tables of the four Parquet files, as Markdown.

    >>> text = markdown_list()
    >>> "| `gross_margin` | fraction |" in text and text.count("| column | unit | meaning | NaN when |") == 4
    True
    """
    lines = []
    for file, (rows, columns) in FILES.items():
        lines += [f"#### `{file}`: {rows}", "", "| column | unit | meaning | NaN when |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.unit} | {c.meaning} | {c.undefined} |" for c in columns]
        lines.append("")
    return "\n".join(lines) + "\n"


def replace_marked(text: str) -> str:
    """``text`` with what lies between the ``BEGIN`` and ``END`` markers replaced by ``markdown_list()``.

    >>> replace_marked(f"a\\n{BEGIN}\\nold\\n{END}\\nb").splitlines()[2]
    '#### `metrics.parquet`: one row per month × agent (labs, the open-weights fringe, hyperscalers, Meta)'
    """
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise ValueError(f"markers {BEGIN} … {END} not found")
    return f"{head}{BEGIN}\n{markdown_list()}{END}{tail}"


def marked(text: str) -> str:
    """What lies between the markers of ``text`` (without the newline after ``BEGIN``)."""
    return text.partition(BEGIN)[2].partition(END)[0].removeprefix("\n")


if __name__ == "__main__":  # python -m wattyear.sim.outputs [README.md]: print the tables, or rewrite the file's block
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(replace_marked(path.read_text()))
    else:
        print(markdown_list(), end="")
