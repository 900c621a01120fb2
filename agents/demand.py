"""Demand segments: consumer free, consumer paid, enterprise, API developers."""

from __future__ import annotations

import functools

import mesa
import numpy as np
from scipy import stats

from wattyear.sim import kernel
from wattyear.sim.records import SegmentGrowth
from wattyear.sim.schema import Pricing
from wattyear.sim.units import DT_YEARS

#: a large customer spends more than this a year at one provider (the "1,000+ customers over $1M" count)
LARGE_CUSTOMER_USD_PER_YEAR = 1e6

#: points of the size distribution used to bin a segment's customers into classes
SIZE_POINTS = 200_000
#: the classes resolve the tail down to this share of customers
TAIL_SHARE = 1e-4


@functools.lru_cache(maxsize=32)
def size_classes(sigma: float, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin a heavy-tailed (lognormal) customer-size distribution into classes.

    Customer sizes are ``SIZE_POINTS`` evenly spaced quantiles of a lognormal
    with log-s.d. ``sigma``, scaled to mean 1. Class edges are quantiles spaced
    evenly in log of the upper-tail share (1, 10^-4/n, ..., 10^-4), so the few
    very large customers that make up "1,000+ customers over $1M a year" get
    classes of their own instead of vanishing into an equal-count bin.
    Deterministic (no draws), so every scenario and every run shares it.

    Returns (weight, relative size) per class, the sorted sizes and each
    class's first index into them: weights sum to 1 and the customer-weighted
    mean size is 1, so a segment's total demand does not depend on the binning.
    ``sigma = 0`` gives classes of size 1.

    >>> w, z, sizes, edges = size_classes(1.5, 4)
    >>> float(w.sum()), round(float((w * z).sum()), 12), bool(np.all(np.diff(z) > 0)), len(edges)
    (1.0, 1.0, True, 5)
    """
    if sigma == 0 or n_classes == 1:
        edges = np.round(np.arange(n_classes + 1) * SIZE_POINTS / n_classes).astype(int)
        return np.full(n_classes, 1.0 / n_classes), np.ones(n_classes), np.ones(SIZE_POINTS), edges
    u = (np.arange(SIZE_POINTS) + 0.5) / SIZE_POINTS
    sizes = np.exp(sigma * stats.norm.ppf(u))
    sizes /= sizes.mean()
    tail = np.logspace(0.0, np.log10(TAIL_SHARE), n_classes)  # upper-tail share at each lower edge
    lower = np.round((1.0 - tail) * SIZE_POINTS).astype(int)
    edges = np.append(lower, SIZE_POINTS)
    weight = np.diff(edges) / SIZE_POINTS
    size = np.add.reduceat(sizes, edges[:-1]) / np.diff(edges)
    for arr in (weight, size, sizes, edges):
        arr.flags.writeable = False  # shared through the cache
    return weight, size, sizes, edges


class DemandSegment(mesa.Agent):
    """A population of customers held as arrays of classes, never one agent each.

    State (in ``model.state``, column ``k``): customers, tokens per customer per
    month and an AR(1) log-demand shock. Each month (``grow``): logistic
    adoption, compounding usage growth, and a shock drawn from the model's
    generator. ``cell_demand`` is what its classes want at the segment's reference price;
    ``large_customers`` counts those spending over $1M a year at a provider.
    """

    kind = "segment"

    def __init__(self, model, segment_id: str, profile: dict, k: int, cells: slice):
        super().__init__(model)
        self.agent_id = segment_id
        self.profile = profile
        self.name = profile["name"]
        self.k = k
        self.cells = cells  #: this segment's rows in the (S, N, P) market arrays
        self.world = model.world  #: the static side of the run (``sim.world.World``)
        self.class_weight, self.class_size, self._sizes, self._edges = size_classes(
            float(profile["size_sigma"]), int(profile["size_classes"]))

    def grow(self, t: int, draws: np.ndarray) -> SegmentGrowth:
        """Month ``t``'s customers, tokens per customer and shock; ``draws`` (S, K) are the month's
        standard normals (``WattyearModel.demand_draws``)."""
        st, p, k = self.model.state, self.profile, self.k
        n = st.customers[:, k]
        rho = self.world.config["world"]["demand_shock_persistence"]
        return SegmentGrowth(
            k, n + self.customer_growth(n) * DT_YEARS,
            st.tokens_per_customer[:, k] * kernel.grown(self.usage_growth(t), DT_YEARS),
            rho * st.demand_shock[:, k] + p["demand_shock_sigma"] * draws[:, k])

    def customer_growth(self, n: np.ndarray) -> np.ndarray:
        """(S,) customers gained a year, from ``n`` now: logistic adoption r·n·(1 − n/N̄), or, for a
        segment fed by conversions (``converts_from``), c·F·(1 − n/N̄) − δ·n: a share c of the free
        segment's F users convert a year, slowing as payers near their ceiling N̄, and a share δ churns.
        """
        p = self.profile
        ceiling = 1 - n / p["max_customers"]
        if not p["converts_from"]:
            return p["adoption_rate_per_year"] * n * ceiling
        free = self.model.state.customers[:, self.world.segment_ids.index(p["converts_from"])]
        return p["conversion_per_year"] * free * ceiling - p["churn_per_year"] * n

    def usage_growth(self, t: int) -> np.ndarray:
        """(S,) annual usage growth in month ``t``: g0 · 2^(−t/halflife), or g0 if no half-life."""
        p = self.profile
        halflife, g0 = p["usage_growth_halflife_years"], p["usage_growth_per_year"]
        return g0 * kernel.halved(t * DT_YEARS, halflife)

    def cell_demand(self) -> tuple[np.ndarray, np.ndarray]:
        """(customers, tokens wanted at the reference price) per class this month, shape (S, classes) each.

        How many tokens a customer uses at its provider's price today is the
        model's ``usage`` (usage responds to that provider's price, with the
        segment's ``price_elasticity``)."""
        st = self.model.state
        customers = st.customers[:, self.k, None] * self.class_weight
        sigma = self.profile["demand_shock_sigma"]
        # mean-one shock: exp(x - var/2) with the AR(1) stationary variance
        var = sigma**2 / np.maximum(1e-12, 1 - self.world.config["world"]["demand_shock_persistence"] ** 2)
        shock = np.exp(st.demand_shock[:, self.k] - 0.5 * var)[:, None]
        tokens = customers * st.tokens_per_customer[:, self.k, None] * self.class_size * shock
        return customers, tokens

    def large_customers(self, served: np.ndarray, price_usd_per_token: np.ndarray,
                        customers: np.ndarray) -> np.ndarray:
        """(S, P) its customers spending over ``LARGE_CUSTOMER_USD_PER_YEAR`` a year at each provider,
        from the month's tokens ``served`` (S, N, P) and ``customers`` (S, N) by class (all classes)
        and the prices (S, K, P), $/token. A free segment has no one above it."""
        if self.profile["pricing"] == Pricing.FREE:
            return np.zeros((served.shape[0], served.shape[-1]))
        spend_year = served[:, self.cells, :] * (price_usd_per_token[:, self.k, None, :] * 12)
        return self.customers_spending_over(spend_year, customers[:, self.cells], LARGE_CUSTOMER_USD_PER_YEAR)

    def customers_spending_over(self, spend_year: np.ndarray, customers: np.ndarray,
                                threshold_usd: float) -> np.ndarray:
        """Customers whose own yearly spend at a provider exceeds ``threshold_usd``, (S, P).

        ``spend_year`` (S, classes, P) is each class's spend at each provider;
        ``customers`` (S, classes). A customer of size z in class c spends
        z / z̄_c times the class average, so the count is read from the sorted
        sizes, customer by customer, not class by class.
        """
        lo, hi = self._edges[:-1], self._edges[1:]
        # a class whose largest customer spends under the threshold has no one above it: only the
        # others are looked up in the sorted sizes (most classes of most segments are far below it)
        crossing = threshold_usd * self.class_size / self._sizes[hi - 1]  # class-average spend at which
        # the class's largest customer crosses the threshold
        reach = (spend_year > customers[..., None] * crossing[:, None]) & (customers[..., None] > 0)
        if not np.any(reach):
            return np.zeros((spend_year.shape[0], spend_year.shape[-1]))
        where = np.nonzero(reach)
        per_customer = spend_year[where] / customers[where[:2]]  # average spend per customer of the class
        z_star = threshold_usd * self.class_size[where[1]] / per_customer
        idx = np.clip(np.searchsorted(self._sizes, z_star, side="right"), lo[where[1]], hi[where[1]])
        share = np.zeros(spend_year.shape)
        share[where] = (hi[where[1]] - idx) / (hi - lo)[where[1]]  # share of the class above the threshold
        return (customers[..., None] * share).sum(axis=1)

