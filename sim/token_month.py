"""The token market of a month, as the model's methods: what each customer class thinks of each
provider (utility), how its usage answers prices, the compute a token takes, and the clearing itself:
logit choice and water-filling against serving capacity (``sim.token_market`` holds the pure functions).
``WattyearModel`` takes them as a mixin."""

from __future__ import annotations

import numpy as np

from wattyear.sim import kernel, token_market
from wattyear.sim.observe import TokenMonth, segment_sums
from wattyear.sim.units import DT_YEARS


class TokenMarketMonth:
    """Utilities, usage, compute per token and the month's clearing, on the model's arrays."""

    def _utilities(self) -> np.ndarray:
        """(S, N, P) utility of each provider to each customer class (``token_market.utility``); −∞ for a
        failed lab. All but the habit term are the same for every class of a segment: they are
        formed by segment and then copied to the classes."""
        st = self.state
        log_price = np.log(np.maximum(st.price, token_market.PRICE_FLOOR_USD_PER_MTOK))
        by_segment = token_market.utility(st.quality[:, None, :], log_price, self.segment_affinity, 0.0,
                                          beta_quality=self.segment_beta_quality[:, :, None],
                                          beta_price=self.segment_beta_price[:, :, None], inertia=0.0)
        if st.failed.any():
            alive = np.concatenate([~st.failed, np.ones((st.failed.shape[0], 1), dtype=bool)], axis=1)
            by_segment[~alive[:, None, :].repeat(by_segment.shape[1], axis=1)] = -np.inf
        u = by_segment.take(self.cell_segment, axis=1)  # C order: a fancy index would put classes first
        u += self.cell_inertia * st.prev_share
        return u

    def usage(self) -> np.ndarray:
        """(S, K, P) tokens a customer of each provider uses, relative to the starting prices:
        (price / starting price)^(−ε) per segment (1 where a segment or provider is free).

        Cheaper tokens get used more (agents, longer contexts): with ε = 1,
        halving a provider's price doubles the tokens each of its customers asks for.
        """
        ratio = kernel.safe_divide(self.state.price, self.start_price)
        ratio = np.where(self.start_price > 0, np.maximum(ratio, 1e-12), 1.0)
        return ratio ** -self.segment_price_elasticity[:, :, None]

    def compute_per_token(self) -> np.ndarray:
        """(S, K, P) compute a token of each segment takes at each provider (routing × quality cost)."""
        gamma = self.config["world"]["quality_compute_elasticity"][:, None, None]
        return kernel.compute_per_token(self.state.quality[:, None, :] - self.start_quality[:, None, :] + 1.0,
                                        gamma, self.segment_routing)

    def _clear_token_market(self, supply, phi_segment: np.ndarray) -> TokenMonth:
        """Demand by customer class, logit choice and water-filling against serving capacity;
        ``phi_segment`` (S, K, P) is this month's compute per token.

        Capacity is in compute tokens: the operated fleet's tokens at full
        load, less its training share, over the peak-to-average of the load it
        would serve (weighted by first choices in compute).
        """
        customers, demand = zip(*(seg.cell_demand() for seg in self.segments))
        customers, demand = np.concatenate(customers, axis=1), np.concatenate(demand, axis=1)
        u = self._utilities()
        phi = phi_segment.take(self.cell_segment, axis=1)  # (S, N, P)
        usage_by_segment = self.usage()
        usage = usage_by_segment.take(self.cell_segment, axis=1)
        weights = token_market.logit_weights(u, self.cell_outside)
        first = token_market._shares(*weights)
        first *= demand[..., None]
        first *= usage
        first *= phi
        first = segment_sums(self, first)  # (S, K, P) compute asked by first choices
        peak = kernel.safe_divide((first * self.segment_peak[:, :, None]).sum(axis=1), first.sum(axis=1))
        peak = np.where(peak > 0, peak, 1.0)
        serving_share = 1.0 - supply["training_share"][:, : self.n_providers]
        capacity = supply["capacity_year"][:, : self.n_providers] * DT_YEARS * serving_share / peak
        cleared = token_market.water_fill(demand, u, self.cell_outside, capacity, compute_per_token=phi,
                                          usage=usage, weights=weights)
        sums = lambda x: segment_sums(self, x)  # noqa: E731
        return TokenMonth(customers, demand, cleared, phi, usage, usage_by_segment, peak, serving_share, capacity,
                          phi_segment, sums(cleared.asked), sums(cleared.served), sums(cleared.first_choice))
