"""Demand segments: consumer free, consumer paid, enterprise, API developers."""

from __future__ import annotations

import numpy as np
import mesa

from sim.units import DT_YEARS

#: draws used to bin a segment's customer-size distribution into classes
SIZE_DRAWS = 200_000
#: the classes resolve the tail down to this share of customers
TAIL_SHARE = 1e-4


def size_classes(rng: np.random.Generator, sigma: float, n_classes: int,
                 with_draws: bool = False):
    """Bin a heavy-tailed (lognormal) customer-size distribution into classes.

    Class edges are quantiles spaced evenly in log of the upper-tail share
    (1, 10^-4/n, ..., 10^-4), so the few very large customers that make up "1,000+
    customers over $1M a year" get classes of their own instead of vanishing
    into an equal-count bin. Sizes come from ``SIZE_DRAWS`` draws of the model's
    generator. Returns (weight, relative size) per class: weights sum to 1 and
    the customer-weighted mean size is 1, so a segment's total demand does not
    depend on the binning. ``sigma = 0`` gives classes of size 1.

    With ``with_draws`` it also returns the sorted draws and each class's
    first draw index, so counts of customers can be read per customer.

    >>> w, z = size_classes(np.random.default_rng(0), 1.5, 4)
    >>> float(w.sum()), round(float((w * z).sum()), 12), bool(np.all(np.diff(z) > 0))
    (1.0, 1.0, True)
    """
    if sigma == 0 or n_classes == 1:
        weight, size = np.full(n_classes, 1.0 / n_classes), np.ones(n_classes)
        if with_draws:
            edges = np.round(np.arange(n_classes + 1) * SIZE_DRAWS / n_classes).astype(int)
            return weight, size, np.ones(SIZE_DRAWS), edges
        return weight, size
    draws = np.sort(rng.lognormal(0.0, sigma, SIZE_DRAWS))
    draws /= draws.mean()
    tail = np.logspace(0.0, np.log10(TAIL_SHARE), n_classes)  # upper-tail share at each lower edge
    lower = np.round((1.0 - tail) * SIZE_DRAWS).astype(int)
    edges = np.append(lower, SIZE_DRAWS)
    weight = np.diff(edges) / SIZE_DRAWS
    sums = np.add.reduceat(draws, edges[:-1])
    size = sums / np.diff(edges)
    return (weight, size, draws, edges) if with_draws else (weight, size)


class DemandSegment(mesa.Agent):
    """A population of customers held as arrays of classes, never one agent each.

    State (in ``model.state``, column ``k``): customers, tokens per customer per
    month and an AR(1) log-demand shock. Each month: logistic adoption,
    compounding usage growth, and a shock drawn from the model's generator.
    """

    kind = "segment"

    def __init__(self, model, segment_id: str, profile: dict, k: int, cells: slice):
        super().__init__(model)
        self.agent_id = segment_id
        self.profile = profile
        self.name = profile["name"]
        self.k = k
        self.cells = cells  #: this segment's rows in the (S, N, P) market arrays
        self.class_weight, self.class_size, self._draws, self._edges = size_classes(
            model.rng, profile["size_sigma"], profile["size_classes"], with_draws=True)

    def grow(self) -> None:
        st, p = self.model.state, self.profile
        n = st.customers[:, self.k]
        st.customers[:, self.k] = n + p["adoption_rate_per_year"] * n * (1 - n / p["max_customers"]) * DT_YEARS
        st.tokens_per_customer[:, self.k] *= (1 + self.usage_growth(self.model.steps - 1)) ** DT_YEARS
        rho = self.model.config["world"]["demand_shock_persistence"]
        eps = self.model.rng.standard_normal(st.customers.shape[0])
        st.demand_shock[:, self.k] = rho * st.demand_shock[:, self.k] + p["demand_shock_sigma"] * eps

    def usage_growth(self, t: int) -> float:
        """Annual usage growth in month ``t``: g0 · 2^(−t/halflife), or g0 if no half-life."""
        p = self.profile
        halflife = p["usage_growth_halflife_years"]
        if halflife == 0:
            return p["usage_growth_per_year"]
        return p["usage_growth_per_year"] * 2.0 ** (-(t * DT_YEARS) / halflife)

    def cell_demand(self) -> tuple[np.ndarray, np.ndarray]:
        """(customers, tokens wanted) per class this month, shape (S, classes) each."""
        st = self.model.state
        customers = st.customers[:, self.k, None] * self.class_weight
        sigma = self.profile["demand_shock_sigma"]
        # mean-one shock: exp(x - var/2) with the AR(1) stationary variance
        var = sigma**2 / max(1e-12, 1 - self.model.config["world"]["demand_shock_persistence"] ** 2)
        shock = np.exp(st.demand_shock[:, self.k] - 0.5 * var)[:, None]
        tokens = customers * st.tokens_per_customer[:, self.k, None] * self.class_size * shock
        return customers, tokens * self.price_response()[:, None]

    def price_response(self) -> np.ndarray:
        """Usage multiplier from prices, shape (S,): (index / start index)^(−ε).

        Cheaper tokens get used more (agents, longer contexts): with ε = 1,
        halving the price doubles the tokens each customer asks for.
        """
        st, eps = self.model.state, self.profile["price_elasticity"]
        ratio = np.divide(st.price_index[:, self.k], st.price_index_start[:, self.k],
                          out=np.ones(st.price_index.shape[0]), where=st.price_index_start[:, self.k] > 0)
        return np.maximum(ratio, 1e-12) ** (-eps)

    def customers_spending_over(self, spend_year: np.ndarray, customers: np.ndarray,
                                threshold_usd: float) -> np.ndarray:
        """Customers whose own yearly spend at a provider exceeds ``threshold_usd``, (S, P).

        ``spend_year`` (S, classes, P) is each class's spend at each provider;
        ``customers`` (S, classes). A customer of size z in class c spends
        z / z̄_c times the class average, so the count is read from the sorted
        size draws, customer by customer, not class by class.
        """
        lo, hi = self._edges[:-1], self._edges[1:]
        per_customer = np.divide(spend_year, customers[..., None], out=np.zeros_like(spend_year),
                                 where=customers[..., None] > 0)  # average spend per customer of each class
        with np.errstate(divide="ignore"):
            z_star = np.where(per_customer > 0, threshold_usd * self.class_size[:, None] / per_customer, np.inf)
        idx = np.clip(np.searchsorted(self._draws, z_star, side="right"), lo[:, None], hi[:, None])
        share = (hi[:, None] - idx) / (hi - lo)[:, None]  # share of the class above the threshold
        return (customers[..., None] * share).sum(axis=1)

    @property
    def customers(self) -> float:
        return float(self.model.state.customers[0, self.k])
