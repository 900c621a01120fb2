"""Every configuration parameter in one table: type, unit, default, meaning.

This is the single checked place where parameters are documented (as PyPSA
keeps one attribute table per component). ``sim.config`` validates configs
against it and ``docs/parameters.md`` is generated from it
(``wattyear params > docs/parameters.md``; a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wattyear.sim.units import FIRST_YEAR, LAST_YEAR

REQUIRED = object()

class Pricing(StrEnum):
    """How a segment pays (``segments.X.pricing``); a config holds the plain string, equal to the member."""

    FREE = "free"
    SUBSCRIPTION = "subscription"
    PER_TOKEN = "per_token"
    CONTRACT = "contract"


PRICING_FORMS = tuple(Pricing)


@dataclass(frozen=True)
class Field:
    """One parameter: its kind, unit, default (``REQUIRED`` if none) and bounds."""

    kind: str  # float | int | bool | str | month | choice | segment_map | lab_map | table_list
    unit: str
    doc: str
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    choices: tuple = ()
    item: dict | None = field(default=None, hash=False, compare=False)
    #: may differ between the scenarios of one ensemble (default: numbers yes, integers and text no)
    per_scenario: bool | None = None
    #: the one number outside [min, max] a number may take, meaning "not set" (e.g. −1: use another key)
    unset: float | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def varies(self) -> bool:
        """Whether scenarios stepped together may differ in it. Numbers may; what sets the model's
        structure (ids, dates, month counts that place rows in time, array sizes) may not: scenarios
        that differ there run as separate ensembles."""
        if self.per_scenario is not None:
            return self.per_scenario
        return self.kind in ("float", "segment_map", "lab_map")

    def expected(self) -> str:
        """Human wording of what a valid value looks like, for error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(str(c)) for c in self.choices)
        if self.kind == "month":
            return f'a month "YYYY-MM" from {FIRST_YEAR} to {LAST_YEAR}'
        if self.kind == "str":
            return "a string"
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("segment_map", "lab_map"):
            what = "segment" if self.kind == "segment_map" else "lab"
            return f"a table of {what} id = number"
        if self.kind == "table_list":
            return "a list of tables"
        noun = "an integer" if self.kind == "int" else "a number"
        bounds = []
        shown = (lambda x: str(int(x))) if self.kind == "int" else (lambda x: f"{x:g}")  # (seeds print whole)
        if self.min is not None:
            bounds.append(f"{'>' if self.exclusive_min else '≥'} {shown(self.min)}")
        if self.max is not None:
            bounds.append(f"≤ {shown(self.max)}")
        ranged = noun + (" " + " and ".join(bounds) if bounds else "")
        return ranged if self.unset is None else f"{shown(self.unset)} (not set) or {ranged}"


def F(kind, unit, doc, default=REQUIRED, **kw) -> Field:
    return Field(kind, unit, doc, default, **kw)


FLEET_ENTRY = {
    "hardware": F("str", "-", "hardware generation id (a key of [hardware])"),
    "watts": F("float", "W", "IT watts of this vintage", min=0),
    "in_service": F("month", "YYYY-MM", "month the vintage starts serving (paid then if after the start)"),
}

LEASE = {
    "lessor": F("str", "-", "agent id of the owner letting the watts"),
    "lessee": F("str", "-", "lab id using the watts"),
    "watts": F("float", "W", "IT watts leased", min=0),
    "start": F("month", "YYYY-MM", "first month of the lease"),
    "months": F("int", "months", "term", min=1),
    "price_usd_per_w_year": F("float", "$/W-yr", "rent", min=0),
    "renew": F("bool", "-", "roll over on the same terms when the term ends", default=False),
    "note": F("str", "-", "free text: what the lease stands for", default=""),
}

RUN = {
    "start": F("month", "YYYY-MM", "first simulated month", default="2026-01"),
    "months": F("int", "months", "horizon", default=120, min=1, max=1200),
    "seed": F("int", "-", "seed of the model's random generator", default=42, min=0, max=2**63 - 1),
}

WORLD = {
    "energy_usd_per_mwh": F("float", "$/MWh", "electricity price paid by data centres", min=0),
    "pue": F("float", "ratio", "power usage effectiveness (facility W per IT W)", min=1.0),
    "site_opex_usd_per_w_year": F("float", "$/W-yr", "non-energy site opex per owned IT watt", min=0),
    "serving_multiplier": F("float", "x", "m(0): serving-stack multiplier on tokens per joule", default=1.0,
                            min=0, exclusive_min=True),
    "serving_multiplier_growth_per_year": F("float", "1/yr", "growth rate of m(t)", default=0.0, min=-0.99),
    "replace_retiring": F("bool", "-", "rebuild retiring vintages with the newest hardware of their family",
                          default=False),
    "starting_fleet_age_months": F("int", "months", "starting watts are spread evenly over this many months "
                                   "of age (0: all new)", default=0, min=0),
    "min_lease_watts": F("float", "W", "smallest capacity-market trade worth a contract", default=2e7, min=0),
    "lease_lead_months": F("int", "months", "from a capacity-market deal to the lessee using the watts",
                           default=1, min=1),
    "short_lease_term_months": F("int", "months", "term of a short spot lease: watts an owner holds spare for this "
                                 "long but not for its full lease term (a vintage near retirement, watts promised "
                                 "to a contract that starts later) are offered for it (0: none offered)",
                                 default=0, min=0),
    "demand_shock_persistence": F("float", "-", "AR(1) coefficient of monthly log-demand shocks",
                                  default=0.8, min=0, max=0.999),
    "serving_multiplier_halflife_years": F("float", "years", "the growth rate of m(t) halves over this time "
                                           "(0: never slows)", default=0.0, min=0),
    "idle_power_fraction": F("float", "fraction", "power an idle accelerator draws, as a share of busy", default=0.3,
                             min=0, max=1),
    "routing_quality_per_ln_compute": F("float", "index", "θ: quality a routed (smaller, distilled) model "
                                        "loses per e-fold less compute per token than the flagship",
                                        default=0.0, min=0, max=1.0),
    "quality_compute_elasticity": F("float", "1/index", "γ: a provider's compute per token grows as "
                                    "exp(γ·(quality − its starting quality))",
                                    default=0.0, min=0, max=20),
    "max_forecast_growth_per_year": F("float", "1/yr", "cap on the demand growth owners extrapolate when they "
                                      "plan capacity", default=1.5, min=0),
    "demand_forecast_sigma_per_year": F("float", "log-sd/yr", "uncertainty of the demand a lab forecasts for a "
                                        "year ahead (log standard deviation; over a lead time L it is σ·√(L/12)): "
                                        "sets how far above or below its forecast it holds capacity "
                                        "(the newsvendor cover)", default=0.35, min=0, max=3),
    "mature_revenue_multiple": F("float", "x", "valuation over forward revenue that every lab's multiple reverts "
                                 "to", default=8.0, min=0),
    "multiple_halflife_years": F("float", "years", "half-life of a lab's excess revenue multiple", default=3.0,
                                 min=0, exclusive_min=True),
    "training_shift_halflife_years": F("float", "years", "half-life of the move of every lab's training-share "
                                       "cap toward its long-run value", default=4.0, min=0, exclusive_min=True),
    "next_cluster_floor_share": F("float", "fraction", "an owner that plans no growth still counts this share of "
                                  "its fleet (operated watts for a lab, owned for a hyperscaler) as its next cluster, "
                                  "so that its self-funding ratio measures something", default=0.2, min=0, max=1),
    "next_cluster_pricing": F("choice", "-", "what the next cluster costs a year in the self-funding ratio: "
                              "'as_paid' (build capex over the build lead time for an owner that builds, a year of "
                              "the cheapest contract rent for a lab that leases) or 'build_capex' (build capex for "
                              "every owner)", default="as_paid", choices=("as_paid", "build_capex")),
    "plan_every_months": F("int", "months", "owners revisit their capacity plans (builds, contracts) every this "
                           "many months", default=3, min=1, max=12),
    "power_growth_per_year": F("float", "1/yr", "growth of the power every owner can secure each year (grid "
                               "connections, on-site generation)", default=0.0, min=-0.99),
    "debt_interest_per_year": F("float", "1/yr", "interest on the debt of hyperscalers and the publisher",
                                default=0.05, min=0, max=1),
}

HARDWARE = {
    "tokens_per_joule": F("float", "tokens/J", "frontier-model tokens per joule of IT energy at m = 1",
                          min=0, exclusive_min=True),
    "capex_usd_per_w": F("float", "$/W", "all-in capex per IT watt (chips, systems, building)", min=0),
    "life_years": F("float", "years", "depreciation life (sets when vintages retire: the same in every "
                    "scenario of an ensemble)", min=0, exclusive_min=True, per_scenario=False),
    "training_efficiency": F("float", "x", "training compute per joule relative to the reference generation",
                             default=1.0, min=0, exclusive_min=True),
    "family": F("str", "-", "product line (gpu, tpu, trainium): owners build the newest of their family",
                default=""),
    "available_from": F("month", "YYYY-MM", "first month it can be ordered", default="2000-01"),
}

class FundingSource(StrEnum):
    """Who puts a lab's money in (``labs.X.funding.N.source``)."""

    INVESTORS = "investors"
    IPO = "ipo"
    CLOUD_PARTNER = "cloud_partner"
    SOVEREIGN_FUND = "sovereign_fund"
    PARENT = "parent"  #: a parent company that owns the lab (``parent_*`` keys), not a ``funding`` entry


FUNDING_SOURCES = tuple(x for x in FundingSource if x != FundingSource.PARENT)

FUNDING = {
    "source": F("choice", "-", "who puts the money in", choices=FUNDING_SOURCES),
    "share": F("float", "fraction", "share of each raise from this source (shares of sources available "
               "at the time are renormalised)", min=0, max=1),
    "partner": F("str", "-", "hyperscaler id, for source = cloud_partner", default=""),
    "cloud_commitment": F("float", "fraction", "share of the partner's money to be spent back on its cloud",
                          default=0.0, min=0, max=1),
    "commitment_months": F("int", "months", "term of the lease that commitment buys", default=36, min=1),
    "from_month": F("month", "YYYY-MM", "first month the source is open (an IPO date)", default="2000-01"),
}

#: capacity policy shared by labs and hyperscalers
CAPACITY = {
    "build_lead_months": F("int", "months", "from order to service", default=18, min=1, max=60),
    "power_secured_w_per_year": F("float", "W/yr", "new watts the owner can power each year for its own builds "
                                  "(0: builds nothing itself)", default=0.0, min=0),
    "pipeline_w_per_year": F("float", "W/yr", "the build programme at the start: ordered at this rate from a "
                             "build lead time before the start through its first year (the year's capex "
                             "guidance)", default=0.0, min=0),
    "lease_term_months": F("int", "months", "term of the leases it offers (idle watts, built-to-suit capacity)",
                           default=24, min=1),
    "cost_of_capital": F("float", "1/yr", "discount rate of its investment decisions", default=0.1, min=0, max=1),
    "cash_buffer_months": F("float", "months", "cash above this many months of outlays is returned to its "
                            "owners, not hoarded", default=24, min=1),
}

LAB = {
    "name": F("str", "-", "display name"),
    "owner": F("str", "-", "hyperscaler id that owns the lab (Gemini: google), or empty", default=""),
    "watts": F("float", "W", "IT watts owned and in service at the start", default=0.0, min=0),
    "hardware": F("str", "-", "hardware generation of the starting watts", default="hopper"),
    "fleet": F("table_list", "-", "planned vintages beyond the starting watts", default=(), item=FLEET_ENTRY),
    "cash_usd": F("float", "$", "cash at the start", min=0),
    "overhead_usd_per_year": F("float", "$/yr", "staff, sales, G&A: costs not tied to watts", min=0),
    "overhead_growth_per_year": F("float", "1/yr", "growth of overhead, no faster than its revenue grew over the "
                                  "year (overhead shrinks with revenue that fell)", default=0.0, min=-0.99),
    "quality": F("float", "index", "model quality at the start (frontier ≈ 1)", min=0),
    "model_efficiency": F("float", "x", "tokens per joule relative to a frontier-class model", default=1.0,
                          min=0, exclusive_min=True),
    "max_training_share": F("float", "fraction", "most of its operated watts a training run may take", min=0,
                            max=0.95),
    "long_run_training_share": F("float", "fraction", "the cap on its training share moves toward this as "
                                 "inference grows to dominate compute (-1, the default: no shift)", default=-1.0,
                                 min=0, max=0.95, unset=-1.0),
    "run_months": F("int", "months", "planned length of a training run: its watts = the run's compute over "
                    "this time", default=6, min=1, per_scenario=True),
    "generation_compute_multiple": F("float", "x", "g: compute of each training run over the last",
                                     min=1, exclusive_min=True),
    "last_run_compute_watt_years": F("float", "W-yr", "compute of the latest training run, in watt-years",
                                     min=0, exclusive_min=True),
    "run_progress": F("float", "fraction", "share of the next run already done at the start",
                      default=0.0, min=0, max=1),
    "quality_per_ln_compute": F("float", "index", "quality gained per e-fold of training compute", min=0),
    "quality_noise_sigma": F("float", "index", "s.d. of the random quality outcome of a run", default=0.0, min=0),
    "price_usd_per_mtok": F("segment_map", "$/Mtok", "starting list price in each segment priced per token or by "
                            "contract (a token given away belongs in a free segment: utility falls with ln p)",
                            min=0, exclusive_min=True),
    "subscription_usd_per_month": F("segment_map", "$/month", "fee of its base plan in each subscription "
                                    "segment (held: labs compete on plans, not on the fee)", default={}, min=0),
    "affinity": F("segment_map", "utility", "brand, channel and product fit by segment", default={}),
    "ads_usd_per_free_user_month": F("float", "$/month", "ad revenue a month per free user it serves once its "
                                     "ads have matured (0: no ads)", default=0.0, min=0),
    "ads_from_month": F("month", "YYYY-MM", "first month its free tier shows ads", default="2000-01"),
    "ads_ramp_years": F("float", "years", "from the first ads to mature ad revenue per user, linearly (0: at once)",
                        default=0.0, min=0, max=100),
    "compute_per_token": F("segment_map", "x", "routing: compute per token in a segment relative to its flagship "
                           "model (free tiers routed to small models < 1); default 1", default={}, min=0),
    "price_adjustment": F("float", "1/month", "share of the gap to its best-response price closed each month "
                          "(list prices are sticky)", default=0.2, min=0, max=1),
    "max_markup": F("float", "fraction", "highest markup over marginal cost it would list", default=3.0, min=0),
    "capacity_pricing": F("float", "fraction", "share of the capacity-clearing price rise it passes into list "
                          "prices when rate-limited (the rest is rationed by rate limits)", default=0.5,
                          min=0, max=1),
    **CAPACITY,
    "lease_markup": F("float", "fraction", "asking rent over its cost per watt-year for idle watts", default=0.3,
                      min=0),
    "idle_offered": F("float", "fraction", "share of its idle owned watts it offers for lease", default=0.8,
                      min=0, max=1),
    "runway_months": F("int", "months", "raise when cash falls below this many months of burn", default=12,
                       min=0, per_scenario=True),
    "raise_months": F("int", "months", "a raise covers this many months of burn", default=24, min=1,
                      per_scenario=True),
    "revenue_multiple": F("float", "x", "valuation over forward revenue at the start (its latest round)",
                          default=20.0, min=0),
    "round_fraction": F("float", "fraction", "largest round as a share of its valuation", default=0.15,
                        min=0, max=1),
    "months_between_rounds": F("int", "months", "fewest months from one round to the next", default=6, min=0,
                               per_scenario=True),
    "funding": F("table_list", "-", "where its raises come from", default=(), item=FUNDING),
    "parent": F("str", "-", "name of a parent company outside the model that owns the lab from "
                "parent_from_month and funds it in place of its funding sources (empty: none)", default=""),
    "parent_from_month": F("month", "YYYY-MM", "first month the parent owns the lab", default="2000-01"),
    "parent_cash_flow_usd_per_year": F("float", "$/yr", "the parent's own operating cash flow when it takes the "
                                       "lab over", default=0.0, min=0),
    "parent_cash_flow_growth_per_year": F("float", "1/yr", "growth of the parent's cash flow", default=0.0,
                                          min=-0.99),
    "parent_funding_share": F("float", "fraction", "share of its cash flow the parent is willing to put into the "
                              "lab (what it does not use accumulates for the lab)", default=0.0, min=0, max=1),
    "parent_ipo_usd": F("float", "$", "proceeds of the parent's IPO (0: none)", default=0.0, min=0),
    "parent_ipo_month": F("month", "YYYY-MM", "month of the parent's IPO", default="2000-01"),
    "parent_ipo_share": F("float", "fraction", "share of the IPO proceeds set aside for the lab", default=0.0,
                          min=0, max=1),
}

HYPERSCALER = {
    "name": F("str", "-", "display name"),
    "watts": F("float", "W", "cloud IT watts owned and in service at the start", default=0.0, min=0),
    "hardware": F("str", "-", "hardware generation of the starting watts", default="hopper"),
    "fleet": F("table_list", "-", "planned vintages", default=(), item=FLEET_ENTRY),
    "cash_usd": F("float", "$", "cash at the start (AI business unit)", min=0),
    "cloud_rent_usd_per_w_year": F("float", "$/W-yr", "rent earned on watts used by other cloud customers", min=0),
    "rent_cost_of_capital": F("float", "1/yr", "cost of capital at which cloud_rent_usd_per_w_year was observed: "
                              "its rent markup is set at it, so a scenario's dearer cost_of_capital raises its rent "
                              "(-1: its cost_of_capital, and rents do not follow it)", default=-1.0, min=0,
                              max=1, unset=-1.0),
    "third_party_utilization": F("float", "fraction", "share of its unleased watts rented to other cloud "
                                 "customers at the start (sets their demand in watts)", min=0, max=1),
    "third_party_growth_per_year": F("float", "1/yr", "growth of other cloud customers' AI demand in watts "
                                     "at the start", default=0.0, min=-0.99),
    "capex_adjustment_months": F("float", "months", "after its first year a cloud's build programme (its order "
                                 "rate) moves toward the rate that meets its need a year past its lead time by "
                                 "a share Δt/this of the difference at each plan (adjustment costs; 0: at once, "
                                 "no programme beyond the horizon's gap)", default=0.0, min=0, max=120),
    "third_party_growth_halflife_years": F("float", "years", "the log growth rate of other cloud customers' AI "
                                           "demand halves over this time (0: it never slows)", default=0.0, min=0,
                                           max=100),
    "business_revenue_usd_per_year": F("float", "$/yr", "revenue of a business AI can threaten (Search ads)",
                                       default=0.0, min=0),
    "business_growth_per_year": F("float", "1/yr", "growth of that business absent AI", default=0.0, min=-0.99),
    "business_margin": F("float", "fraction", "operating margin of that business", default=0.0, min=0, max=1),
    "ai_substitution": F("float", "fraction", "share of that business lost when rival chatbots serve all "
                         "consumer AI demand", default=0.0, min=0, max=1),
    "stakes": F("lab_map", "fraction", "equity stakes in labs (share of their operating profit)", default={},
                min=0, max=1),
    **CAPACITY,
}

OPEN_WEIGHTS = {
    "name": F("str", "-", "display name of the publisher", default="Meta"),
    "watts": F("float", "W", "IT watts owned (ads ranking and training)", default=0.0, min=0),
    "hardware": F("str", "-", "hardware generation of those watts", default="hopper"),
    "cash_usd": F("float", "$", "cash at the start", min=0),
    "ad_revenue_usd_per_year": F("float", "$/yr", "advertising revenue, not threatened by AI", min=0),
    "ad_growth_per_year": F("float", "1/yr", "growth of ad revenue", default=0.0, min=-0.99),
    "ad_margin": F("float", "fraction", "operating margin of the ads business before AI spending", min=0, max=1),
    "talent_cost_usd_per_year": F("float", "$/yr", "AI talent cost at the start", min=0),
    "talent_cost_growth_per_year": F("float", "1/yr", "growth of talent cost with frontier competition",
                                     default=0.0, min=-0.99),
    "quality_fraction": F("float", "fraction", "q: open-weights quality as a fraction of the frontier",
                          min=0, max=1.5),
    "release_every_months": F("int", "months", "release cadence", min=1, per_scenario=True),
    "next_release_month": F("int", "months", "months after the start of the first release", default=0, min=0,
                            per_scenario=True),
    "lag_months": F("int", "months", "the frontier a release matches is this many months old", default=0,
                    min=0, per_scenario=True),
    "training_cost_usd": F("float", "$", "one-time cost of each release", min=0),
    "capex_share_of_ads": F("float", "fraction", "AI capex (ads ranking, training) as a share of ad revenue",
                            default=0.0, min=0, max=2),
    "capex_share_halflife_years": F("float", "years", "that share halves over this time (0: never)", default=0.0,
                                    min=0),
    "build_lead_months": F("int", "months", "from order to service of its builds", default=12, min=1, max=60),
}

FRINGE = {
    "name": F("str", "-", "display name", default="Open-weights fringe"),
    "watts": F("float", "W", "IT watts of the inference providers serving open weights", min=0),
    "entry_speed": F("float", "1/month", "share of the gap to planning utilisation closed by entry or exit "
                     "each month", default=0.1, min=0, max=1),
    "hardware": F("str", "-", "hardware generation of its watts at the start", default="hopper"),
    "hardware_lag_months": F("float", "months", "mean delay with which its rented watts follow the hardware "
                             "mix the rest of the market operates (a first-order lag)", default=12.0, min=1,
                             max=1200),
    "size_class_lag_months": F("int", "months", "the models it serves reach the size (compute per token) of "
                               "the frontier this many months later", default=24, min=0),
    "model_efficiency": F("float", "x", "tokens per joule relative to a frontier-class model", min=0,
                          exclusive_min=True),
    "rent_usd_per_w_year": F("float", "$/W-yr", "rent of a watt of its starting hardware to the fringe (it also "
                             "pays the watt's energy); other generations rent in proportion to their capital cost",
                             min=0),
    "margin": F("float", "fraction", "markup over cost per token", default=0.1, min=0),
    "planning_utilization": F("float", "fraction", "utilisation the fringe prices for", default=0.6,
                              min=0, max=1, exclusive_min=True),
    "affinity": F("segment_map", "utility", "appeal by segment", default={}),
}

SEGMENT = {
    "name": F("str", "-", "display name"),
    "pricing": F("choice", "-", "how the segment pays", choices=PRICING_FORMS),
    "customers": F("float", "customers", "customers at the start", min=0),
    "max_customers": F("float", "customers", "saturation level of adoption", min=0, exclusive_min=True),
    "adoption_rate_per_year": F("float", "1/yr", "logistic adoption rate (0 for a segment fed by conversions)",
                                default=0.0, min=0),
    "converts_from": F("str", "-", "id of the free segment whose users convert into this one: its customers then "
                       "follow conversions and churn, not a logistic adoption (empty: none)", default=""),
    "conversion_per_year": F("float", "1/yr", "share of the converts_from segment's customers who become customers "
                             "of this one in a year, while it is far from max_customers", default=0.0, min=0, max=1),
    "churn_per_year": F("float", "1/yr", "share of this segment's customers who leave it in a year (a segment fed "
                        "by conversions)", default=0.0, min=0, max=12),
    "tokens_per_customer_per_month": F("float", "tokens", "mean usage per customer at the start", min=0),
    "usage_growth_per_year": F("float", "1/yr", "growth of usage per customer at the start", min=-0.99),
    "usage_growth_halflife_years": F("float", "years", "the usage growth rate halves over this time "
                                     "(0: never)", default=0.0, min=0),
    "price_elasticity": F("float", "-", "ε: a customer's usage scales with (its provider's price / the "
                          "segment's reference price)^(−ε); the reference is the customer-weighted geometric mean "
                          "of the closed labs' starting list prices (0 for subscriptions: the fee buys a plan)",
                          default=0.0, min=0),
    "nest_parameter": F("float", "-", "σ of the nested logit: closed labs share a nest and the open-weights "
                        "fringe has its own (0: plain logit; toward 1: closed labs near-perfect substitutes for "
                        "one another, each far less so for open weights)", default=0.0, min=0, max=0.95),
    "open_task_affinity": F("float", "utility", "appeal of open weights for a task of a closed lab's customer, who "
                            "routes x = logistic([this + β_q·(Q_open − Q_lab) − β_p·(ln(p_open/p_ref) − "
                            "ln(p_lab/p_lab,start))]/λ) of its tokens to them (multi-homing; -1000: none)",
                            default=-1000.0),
    "premium_share": F("float", "fraction", "share of a subscription segment's subscribers on the premium tier",
                       default=0.0, min=0, max=1),
    "premium_fee_usd_per_month": F("float", "$/month", "fee of the premium tier (e.g. $100-200 plans)",
                                   default=200.0, min=0),
    "beta_quality": F("float", "1/index", "utility per unit of quality", min=0),
    "beta_price": F("float", "-", "utility per e-fold of price (0 for free)", min=0),
    "outside_utility": F("float", "utility", "utility of not using AI this month"),
    "inertia": F("float", "utility", "utility bonus per unit of last month's share", default=0.0, min=0),
    "peak_to_average": F("float", "ratio", "peak over mean load; lowers reachable utilisation", min=1),
    "demand_shock_sigma": F("float", "-", "s.d. of monthly log-demand shocks", default=0.0, min=0),
    "size_sigma": F("float", "-", "lognormal s.d. of customer sizes (0: all alike; sets the customer classes: "
                    "the same in every scenario of an ensemble)", default=0.0, min=0, per_scenario=False),
    "size_classes": F("int", "-", "customer classes the size distribution is binned into", default=1,
                      min=1, max=256),
}

#: top-level single tables
SECTIONS = {"run": RUN, "world": WORLD, "open_weights": OPEN_WEIGHTS, "fringe": FRINGE}
#: top-level tables of named entities
COLLECTIONS = {"hardware": HARDWARE, "labs": LAB, "hyperscalers": HYPERSCALER, "segments": SEGMENT}
#: signed compute commitments: take-or-pay leases the lessor builds to suit
COMMITMENT = {k: v for k, v in LEASE.items() if k != "renew"}

#: top-level lists of tables
LISTS = {"leases": LEASE, "commitments": COMMITMENT}


#: the longest span any month count may have (the longest horizon): a lease, a term or a cadence longer
#: than that is a typo, and dates stay representable (``sim.units.LAST_YEAR``)
MAX_MONTHS = 1200


def _cap_months(table: dict) -> None:
    for key, f in table.items():
        if f.kind == "int" and f.unit == "months" and f.max is None:
            table[key] = Field(**{**f.__dict__, "max": MAX_MONTHS})


for _table in (*SECTIONS.values(), *COLLECTIONS.values(), *LISTS.values(), FLEET_ENTRY, FUNDING, CAPACITY):
    _cap_months(_table)


# ----------------------------------------------------------------- ceilings
# Every number the schema accepts must run to the horizon with finite outputs (the run-time guard checks
# it). Two kinds of bound close the ranges left open above:
#
# * where the model's arithmetic breaks (found by bisecting each field at 120 months over three seeds, and
#   kept well inside the break): customer classes beyond 227 leave empty size classes; size sigmas above
#   ~155 overflow exp; adoption rates above ~12/yr overshoot the saturation level in a monthly step (and
#   diverge above ~36); price elasticities above a few hundred overflow usage; quality slopes above ~25
#   and noise above ~40 send qualities (and utilities) past what exp() can hold;
# * elsewhere, a generous multiple of anything real, so a typo (a missing "e-3", watts in kW) is caught
#   rather than run: a terawatt of IT power, $100 trillion, growth of ten times a year.
#
#: the generic ceiling of each unit
_UNIT_CEILINGS = {
    "W": 1e12, "W/yr": 1e12, "W-yr": 1e13, "$": 1e14, "$/yr": 1e14, "$/W-yr": 1e3, "$/W": 1e3, "$/MWh": 1e4,
    "$/Mtok": 1e4, "$/month": 1e5, "tokens/J": 1e2, "customers": 1e11, "tokens": 1e13, "years": 100.0, "months": 1200.0,
    "1/yr": 10.0, "x": 1e6, "fraction": 10.0, "ratio": 100.0,
}
#: (table, key, min, max): the bounds where the model breaks, and a few of plausibility (None: kept)
_CEILINGS = (
    (SEGMENT, "size_classes", None, 128),
    (SEGMENT, "size_sigma", None, 10.0),
    (SEGMENT, "adoption_rate_per_year", None, 12.0),
    (SEGMENT, "price_elasticity", None, 10.0),
    (SEGMENT, "inertia", None, 20.0),
    (SEGMENT, "beta_quality", None, 50.0),
    (SEGMENT, "beta_price", None, 20.0),
    (SEGMENT, "outside_utility", -1000.0, 100.0),
    (SEGMENT, "open_task_affinity", -1000.0, 20.0),
    (SEGMENT, "demand_shock_sigma", None, 2.0),
    (LAB, "affinity", -1000.0, 100.0),  # (a very negative affinity is how a world leaves a provider out)
    (FRINGE, "affinity", -1000.0, 100.0),
    (LAB, "quality", None, 5.0),
    (LAB, "quality_per_ln_compute", None, 0.5),
    (LAB, "quality_noise_sigma", None, 0.5),
    (WORLD, "serving_multiplier", None, 100.0),
    (LAB, "revenue_multiple", None, 1e12),  # (a tiny world's way of saying "investors pay whatever is asked")
    (WORLD, "pue", None, 10.0),
    (HARDWARE, "capex_usd_per_w", 0.1, None),  # Meta's build rule divides by it
    # efficiencies divide compute: a thousandth of the baseline's is already a world that barely computes
    # (tokens per joule keeps its open minimum: hand-solved worlds use a token per watt-month, ~4e-7 tokens/J)
    (HARDWARE, "training_efficiency", 1e-3, None),
    (LAB, "model_efficiency", 1e-3, None),
    (FRINGE, "model_efficiency", 1e-3, None),
)


def _close(table: dict, key: str, low, high) -> None:
    f = table[key]
    changes = {}
    if low is not None:
        changes["min"], changes["exclusive_min"] = low, False  # a floor given here is itself allowed
    if high is not None:
        changes["max"] = high
    table[key] = Field(**{**f.__dict__, **changes})


for _table, _key, _low, _high in _CEILINGS:
    _close(_table, _key, _low, _high)
for _table in (*SECTIONS.values(), *COLLECTIONS.values(), *LISTS.values(), FLEET_ENTRY, FUNDING, CAPACITY):
    for _key, _f in list(_table.items()):
        if _f.kind in ("float", "int", "segment_map", "lab_map") and _f.max is None and _f.unit in _UNIT_CEILINGS:
            _close(_table, _key, None, _UNIT_CEILINGS[_f.unit])
