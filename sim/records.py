"""What a month passes from room to room: frozen records of arrays, never string-keyed dicts.

A month is a one-way pipeline (``sim.model.WattyearModel.step``):

    SupplyMonth → TokenMonth → Accounts → Observation → decisions → LeaseMonth, CapitalMonth,
    SelfFunding → Books, MarketMonth → MonthRecord (the history)

* **Month records** say what happened: the supply side (``SupplyMonth``), the
  token market (``TokenMonth``), the books before and after the capital market
  (``Accounts``, ``CapitalMonth``), the lease market (``LeaseMonth``), the
  self-funding test (``SelfFunding``), and the month as it is recorded
  (``Books``: one field per column of ``metrics.parquet`` and the internal
  ones of ``sim.outputs``; ``MarketMonth``; ``MonthRecord``).
* The ``Observation`` is what every agent sees when it decides.
* **Decision records** are what agents return: prices, a training step, build
  orders, new leases, bids and asks, contract requests, raises, settlements,
  a release, the fringe's price and entry. The markets (``sim.clearing``)
  apply them to the state and book both sides of every dollar.

Shapes: S scenarios, A ledger agents, P providers (the first P ledger
columns), L labs, K segments, N demand cells, H hardware.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np


@functools.cache
def field_names(record_type: type) -> tuple[str, ...]:
    """The field names of a record type, in order."""
    return tuple(f.name for f in fields(record_type))


def quick_init(cls):
    """A frozen record built every month gets an ``__init__`` that sets its fields into the instance's
    dict at once (the frozen dataclass's own sets them one ``object.__setattr__`` at a time, a few per
    cent of a month in the largest records). The record stays frozen: assigning a field still raises.

    >>> r = LeaseMonth(*(np.zeros(1),) * 5)
    >>> r.bid_watts = np.ones(1)
    Traceback (most recent call last):
    dataclasses.FrozenInstanceError: cannot assign to field 'bid_watts'
    """
    names = field_names(cls)
    namespace: dict = {}
    exec(f"def __init__(self, {', '.join(names)}):\n"  # noqa: S102  (as dataclasses writes its __init__)
         f"    self.__dict__.update({', '.join(f'{n}={n}' for n in names)})", namespace)
    cls.__init__ = namespace["__init__"]
    return cls


def as_dict(record) -> dict[str, np.ndarray]:
    """A record's fields by name (the arrays themselves, not copies).

    >>> as_dict(LeaseMonth(*(np.zeros(1),) * 5))["contracted_watts"]
    array([0.])
    """
    return {name: getattr(record, name) for name in field_names(type(record))}


# ------------------------------------------------------------------ month records
@dataclass(frozen=True, slots=True)
class SupplyMonth:
    """Watts and tokens capacity of every agent in a month."""

    owned: np.ndarray  #: (S, H, A) watts owned and in service
    leased_out: np.ndarray  #: (S, H, A) watts let to others and delivered
    leased_in: np.ndarray  #: (S, H, A) watts leased in and delivered
    operated: np.ndarray  #: (S, H, A) owned − leased out + leased in (the fringe: the watts it rents)
    rent_paid_usd_per_year: np.ndarray  #: (S, A)
    rent_received_usd_per_year: np.ndarray  #: (S, A)
    watts: np.ndarray  #: (S, A) watts operated
    capacity_year: np.ndarray  #: (S, A) tokens a year at full load
    training_share: np.ndarray  #: (S, A) share of operated watts on training (each lab's plan)
    tpwy: np.ndarray  #: (S, A) tokens per watt-year


@dataclass(frozen=True, slots=True)
class TokenMonth:
    """One month of the token market, by customer class, and its sums by segment (each taken once).

    Prices, compute per token and usage are the same for every class of a
    segment, so tokens summed by segment times the segment's value give the
    compute, spend and customers by segment without another pass over classes.
    """

    customers: np.ndarray  #: (S, N)
    demand: np.ndarray  #: (S, N) tokens wanted
    cleared: object  #: ``token_market.Clearing``
    phi: np.ndarray  #: (S, N, P) compute per token
    usage: np.ndarray  #: (S, N, P) tokens per unit of demand at each provider's price
    usage_by_segment: np.ndarray  #: (S, K, P) the same by segment
    peak: np.ndarray  #: (S, P) peak-to-average of the load each provider serves
    serving_share: np.ndarray  #: (S, P) share of operated watts serving (not training)
    capacity: np.ndarray  #: (S, P) compute tokens each provider can serve this month
    phi_by_segment: np.ndarray  #: (S, K, P) compute per token by segment
    asked: np.ndarray  #: (S, K, P) tokens asked of each provider (spill-over included), by segment
    served: np.ndarray  #: (S, K, P) tokens served, by segment
    first_choice: np.ndarray  #: (S, K, P) tokens asked by first choices, by segment
    served_customers: np.ndarray  #: (S, K, P) customers whose tokens it served (subscribers, by the month)
    open_task_share: np.ndarray  #: (S, K, P) share of a closed lab's customers' tokens routed to open weights
    routed_asked: np.ndarray  #: (S, K) tokens closed labs' customers routed to the fringe (in ``asked``)
    routed_served: np.ndarray  #: (S, K, P) of those, tokens served (in ``served``): by the fringe, or back at the lab

    @property
    def served_compute(self) -> np.ndarray:
        """(S, K, P) compute tokens served, by segment."""
        return self.served * self.phi_by_segment


@quick_init
@dataclass(frozen=True)
class OutsideIncome:
    """Money from outside the token market, as its earners report it (hyperscalers' businesses and other
    cloud customers, the publisher's ads), each (S, A) (zero for agents with none)."""

    business_revenue_usd: np.ndarray  #: a hyperscaler's business, net of the revenue AI took
    revenue_at_risk_usd: np.ndarray  #: business revenue lost to rivals' chatbots
    third_party_watts: np.ndarray  #: watts other cloud customers rent
    rent_usd_per_w_year: np.ndarray  #: a hyperscaler's asking rent (what other customers pay)
    ad_revenue_usd: np.ndarray  #: the publisher's ads, and labs' in their free tiers
    large_customers: np.ndarray  #: customers spending over $1M a year at each provider


@quick_init
@dataclass(frozen=True)
class Accounts:
    """The books of the token month, each (S, A): revenue, costs, profit and cash flow by agent."""

    watts: np.ndarray
    owned_watts: np.ndarray
    leased_in_watts: np.ndarray
    leased_out_watts: np.ndarray
    tokens_capacity: np.ndarray
    tokens_served: np.ndarray
    mtok_per_watt_year: np.ndarray
    revenue_usd_per_mtok: np.ndarray
    revenue_usd_per_watt_year: np.ndarray
    cost_usd_per_watt_year: np.ndarray
    blended_price_usd_per_mtok: np.ndarray
    utilization: np.ndarray
    peak_load: np.ndarray
    rate_limited_share: np.ndarray
    quality: np.ndarray
    token_revenue_usd: np.ndarray
    lease_income_usd: np.ndarray
    ad_revenue_usd: np.ndarray
    rent_paid_usd: np.ndarray
    cloud_revenue_usd: np.ndarray
    revenue_usd: np.ndarray
    operating_cost_usd: np.ndarray
    operating_profit_usd: np.ndarray
    operating_margin: np.ndarray
    gross_margin: np.ndarray
    energy_usd: np.ndarray
    interest_usd: np.ndarray
    depreciation_usd: np.ndarray
    watt_depreciation_usd: np.ndarray
    watt_site_opex_usd: np.ndarray
    watt_rent_usd: np.ndarray
    cost_usd_per_mtok: np.ndarray
    serving_cost_usd_per_mtok: np.ndarray
    capex_usd: np.ndarray
    cash_flow_usd: np.ndarray
    operating_cash_flow_usd: np.ndarray
    owned_cost_per_watt_year: np.ndarray
    stake_income_usd: np.ndarray
    revenue_at_risk_usd: np.ndarray
    customers_over_1m: np.ndarray
    capacity_cost_usd: np.ndarray  #: capital and site cost of the operated watts (for the observation)
    outlays_usd: np.ndarray  #: cash costs and capex (what a cash buffer must cover)
    external_in_usd: np.ndarray  #: money in from outside the modelled economy (for the guard)
    external_out_usd: np.ndarray  #: money out of the modelled economy (for the guard)


@quick_init
@dataclass(frozen=True)
class LeaseMonth:
    """The spot lease market and the capacity contracts of a month, each (S, A)."""

    bid_watts: np.ndarray
    asked_watts: np.ndarray
    traded_in_watts: np.ndarray
    traded_out_watts: np.ndarray
    contracted_watts: np.ndarray


@quick_init
@dataclass(frozen=True)
class SelfFunding:
    """The self-funding test of every owner of watts, each (S, A)."""

    trailing_operating_cash_flow_usd: np.ndarray
    trailing_free_cash_flow_usd: np.ndarray
    trailing_lease_income_usd: np.ndarray
    next_cluster_capex_usd: np.ndarray
    next_cluster_cost_usd_per_year: np.ndarray
    self_funding_ratio: np.ndarray


@quick_init
@dataclass(frozen=True)
class CapitalMonth:
    """Cash and capital after the capital market, each (S, A) (copies: the state moves on)."""

    cash_usd: np.ndarray
    raised_usd: np.ndarray
    invested_usd: np.ndarray
    returned_usd: np.ndarray
    written_off_usd: np.ndarray
    borrowed_usd: np.ndarray
    debt_usd: np.ndarray
    outside_capital_usd: np.ndarray
    failed: np.ndarray  #: bool: true for a failed lab
    watts_under_construction: np.ndarray
    next_cluster_watts: np.ndarray


@quick_init
@dataclass(frozen=True)
class Books(CapitalMonth, SelfFunding, LeaseMonth, Accounts):
    """A month as recorded: the token month's accounts, the lease market, the self-funding test and the
    capital market side by side, one field per metric of ``sim.outputs`` (its written columns and its
    internal ones), each (S, A)."""

    training_share: np.ndarray  #: share of operated watts on training (the supply month's)

    @classmethod
    def assemble(cls, accounts: Accounts, leases: LeaseMonth, funding: SelfFunding, supply: SupplyMonth,
                 capital: CapitalMonth) -> "Books":
        return cls(**as_dict(accounts), **as_dict(leases), **as_dict(funding), **as_dict(capital),
                   training_share=supply.training_share)


@quick_init
@dataclass(frozen=True)
class MarketMonth:
    """The token market as recorded: (S, K, P) by segment and provider, (S, K) by segment."""

    price_usd_per_mtok: np.ndarray  #: (S, K, P) list prices charged this month (plans: spend per Mtok used)
    fee_usd_per_month: np.ndarray  #: (S, K, P) a plan's blended monthly fee (0 where priced per token)
    first_choice_tokens: np.ndarray  #: (S, K, P)
    asked_tokens: np.ndarray  #: (S, K, P)
    served_tokens: np.ndarray  #: (S, K, P)
    served_customers: np.ndarray  #: (S, K, P) customers (subscribers) it served
    marginal_cost_usd_per_mtok: np.ndarray  #: (S, K, P) the cost of a token its price is set against
    routing: np.ndarray  #: (S, K, P) compute per token of its model mix, relative to its flagship
    spend_usd: np.ndarray  #: (S, K, P)
    rate_limited_share: np.ndarray  #: (S, K, P)
    demand: np.ndarray  #: (S, K) tokens wanted, the outside option included
    unserved: np.ndarray  #: (S, K)
    served_demand: np.ndarray  #: (S, K) demand units served
    usage: np.ndarray  #: (S, K, P)
    outside: np.ndarray  #: (S, K) demand that chose the outside option
    customers: np.ndarray  #: (S, K)
    capacity_shadow_price_usd_per_mtok: np.ndarray  #: (S, K, P) set by the labs' prices at the month's end
    open_task_share: np.ndarray  #: (S, K, P) share of a closed lab's customers' tokens routed to open weights
    routed_tokens: np.ndarray  #: (S, K, P) served tokens of routed tasks: the fringe's, and those back at their lab


@dataclass(frozen=True, slots=True)
class MonthRecord:
    """One month of the history: its step, its books and its market."""

    step: int
    books: Books
    market: MarketMonth


# ------------------------------------------------------------------ what agents see
@quick_init
@dataclass(frozen=True)
class Observation:
    """One month's market outcome, as every agent sees it when it decides (after the token market and
    the books are closed; no decision reads the history)."""

    step: int  #: month index of the month just booked (0 = start)
    # supply
    watts: np.ndarray  #: (S, A) watts operated
    owned_watts: np.ndarray  #: (S, A) watts owned and in service
    leased_out_watts: np.ndarray  #: (S, A) let now or promised (signed, not started)
    tpwy: np.ndarray  #: (S, A) tokens per watt-year of the operated fleet (compute units: flagship tokens)
    serving_capacity: np.ndarray  #: (S, P) compute tokens each provider could serve this month
    serving_reach: np.ndarray  #: (S, P) 1 / peak-to-average of the load it serves
    reachable: np.ndarray  #: (S, P) highest utilisation of all its watts it could reach serving
    training_share: np.ndarray  #: (S, A) share of operated watts on training this month
    owned_cost_per_watt_year: np.ndarray  #: (S, A) full cost of an owned watt
    operated_by_hardware: np.ndarray  #: (S, H, A) watts operated by hardware (training compute)
    # token market
    served_compute: np.ndarray  #: (S, P) compute tokens served
    asked_compute: np.ndarray  #: (S, K, P) compute tokens customers asked of each provider (spill-over included)
    first_choice_compute: np.ndarray  #: (S, K, P) compute of first choices (the fringe's with routed tasks)
    own_share: np.ndarray  #: (S, K, P) demand-weighted logit share of each provider (Σ d·s² / Σ d·s)
    nest_share: np.ndarray  #: (S, K, P) demand-weighted share of each provider within its nest
    open_task_share: np.ndarray  #: (S, K, P) share of a closed lab's customers' tokens routed to open weights
    served_tokens: np.ndarray  #: (S, K, P) tokens served this month
    marginal_cost_usd_per_mtok: np.ndarray  #: (S, K, P) cost of serving one more Mtok in each segment
    rejected_paid_tokens: np.ndarray  #: (S, P) compute tokens of the paid tokens turned away
    paid_price_usd_per_token: np.ndarray  #: (S, P) what the paid tokens turned away would have paid, per compute token
    revenue_per_paid_compute_token: np.ndarray  #: (S, P) token revenue over compute tokens served to payers
    # books
    revenue_usd: np.ndarray  #: (S, A) this month
    operating_cash_flow_usd: np.ndarray  #: (S, A) this month
    lease_income_usd: np.ndarray  #: (S, A) rent received for watts let this month
    outlays_usd: np.ndarray  #: (S, A) cash costs and capex this month (what a cash buffer must cover)
    cash_usd: np.ndarray  #: (S, A) after this month's books, before raises


# ------------------------------------------------------------------ decisions
@dataclass(frozen=True, slots=True)
class Prices:
    """A lab's list prices for next month and the capacity premium in them, each (S, K)."""

    column: int
    price_usd_per_mtok: np.ndarray
    shadow_price_usd_per_mtok: np.ndarray


@dataclass(frozen=True, slots=True)
class FreeTierRouting:
    """The compute per token (relative to its flagship) a lab gives its free users next month, (S,), in
    segment ``segment``."""

    column: int
    segment: int
    routing: np.ndarray


@dataclass(frozen=True, slots=True)
class TrainingStep:
    """A lab's training this month: compute toward its run and, where the run finished, its new model."""

    column: int
    lab_index: int
    run_compute: np.ndarray  #: (S,) reference watt-years toward the next run, after this month
    last_run_compute: np.ndarray | None  #: (S,) (None: no run finished in any scenario)
    quality: np.ndarray | None  #: (S,) its quality from next month (None: unchanged)
    finished: np.ndarray  #: (S,) bool: a run finished this month


@dataclass(frozen=True, slots=True)
class Release:
    """The publisher's release this month where due: the fringe serves the new weights."""

    due: np.ndarray  #: (S,) bool
    quality: np.ndarray  #: (S,) the released weights' quality (where due)
    cost_usd: np.ndarray  #: (S,) the one-time training cost paid this month


@dataclass(frozen=True, slots=True)
class FringePrice:
    """The fringe's cost-plus price in every segment, (S, K), where it has watts to price from."""

    price_usd_per_mtok: np.ndarray
    has_watts: np.ndarray  #: (S,) bool: elsewhere it keeps its last price


@dataclass(frozen=True, slots=True)
class FringeEntry:
    """Free entry into the fringe: its watts grow by ``growth`` (S,), and its rented fleet moves toward the
    market's hardware: ``hardware_mix`` (S, H), the share of its watts on each generation."""

    growth: np.ndarray
    hardware_mix: np.ndarray


@dataclass(frozen=True, slots=True)
class SegmentGrowth:
    """A demand segment's month: its customers, their tokens and its demand shock from now, each (S,)."""

    k: int
    customers: np.ndarray
    tokens_per_customer: np.ndarray
    demand_shock: np.ndarray


@dataclass(frozen=True, slots=True)
class BuildOrder:
    """A cluster ordered: paid over ``lead_months``, in service after them."""

    owner: int
    hardware: str
    watts: np.ndarray  #: (S,)
    order_step: int
    lead_months: int


@dataclass(frozen=True, slots=True)
class NewLease:
    """A lease signed: ``watts`` of ``lessor``'s let to ``lessee`` from ``start_step`` for ``months``."""

    lessor: int
    lessee: int
    watts: np.ndarray  #: (S,)
    start_step: int
    months: int
    price_usd_per_w_year: np.ndarray  #: (S,)
    note: str
    renew: bool


@dataclass(frozen=True, slots=True)
class LeaseBid:
    """A lab's spot bid: watts wanted now (less those signed for and arriving within the lead) and the
    most it would pay, each (S,)."""

    column: int
    watts: np.ndarray
    price_usd_per_w_year: np.ndarray


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """An owner's spot offer: idle watts and its asking rent, each (S,)."""

    column: int
    watts: np.ndarray
    price_usd_per_w_year: np.ndarray
    term_months: int


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """An owner's capacity plan: its own builds, the watts it asks hyperscalers to build to suit (and the
    most a watt of them is worth to it a year), and the next cluster its self-funding ratio is measured
    against."""

    column: int
    builds: tuple[BuildOrder, ...]
    next_cluster_watts: np.ndarray | None = None  #: (S,) labs and hyperscalers
    contract_watts: np.ndarray | None = None  #: (S,) labs only
    contract_value_usd_per_w_year: np.ndarray | None = None  #: (S,)
    can_build_to_suit_watts: np.ndarray | None = None  #: (S,) hyperscalers only: power left this year
    target_watts: np.ndarray | None = None  #: (S,) labs only: the watts it wants at the end of its lead time


@dataclass(frozen=True, slots=True)
class Raise:
    """Money a lab raises from one source this month (a cloud partner's out of its own cash)."""

    step: int
    lab: str
    column: int
    lab_index: int
    source: str
    partner: str  #: a hyperscaler id, or ""
    amount_usd: np.ndarray  #: (S,)
    cloud_commitment: float  #: share of the amount to be spent back on the partner's cloud
    commitment_months: int
    round_usd: np.ndarray  #: (S,) the whole round (every source): where it is positive, the lab raised


@dataclass(frozen=True, slots=True)
class Distress:
    """A lab's state after its round, each (S,): where it stops its builds under way (cash short of a
    quarter's burn), and where it fails (negative cash: its unpaid bills are written off, its leases
    end, its watts are written off)."""

    column: int
    lab_index: int
    cut_builds: np.ndarray  #: bool
    failing: np.ndarray  #: bool


@dataclass(frozen=True, slots=True)
class Payout:
    """Cash an agent returns to its owners, (S,): to its parent's cash for a lab a hyperscaler owns."""

    column: int
    returned_usd: np.ndarray
    parent: int | None = None  #: the parent's ledger column (None: owners outside the model)


@dataclass(frozen=True, slots=True)
class CashSettlement:
    """How an owner that borrows settles its cash, each (S,): it borrows rather than hold negative cash,
    repays from cash above its buffer, and (free of debt) returns cash no plan needs."""

    column: int
    borrow_usd: np.ndarray
    repay_usd: np.ndarray
    returned_usd: np.ndarray
