"""Frontier labs: OpenAI, Anthropic, xAI, Google's Gemini unit (profiles from config)."""

from __future__ import annotations

import numpy as np

from agents.base import EconomicAgent
from sim import market


class FrontierLab(EconomicAgent):
    """A lab that trains models, serves tokens and prices them.

    Decisions each month:

    * ``train``: the training share of its operated compute advances the next
      run; a run needs g× the compute of the last. On completion quality rises
      by κ·ln g (plus noise from the model's generator) — log-linear in compute.
    * ``set_prices``: per priced segment, up with the rate-limited share, down
      with the idle share, bounded below by marginal cost and above by the
      quality- and brand-adjusted open-weights price (see ``sim.market``).
    """

    kind = "lab"

    def __init__(self, model, agent_id, profile, column, lab_index):
        super().__init__(model, agent_id, profile, column)
        self.lab_index = lab_index  #: row in the (S, L) training arrays
        self.releases: list[int] = []  #: steps at which a new model generation shipped

    def train(self, training_compute_wy: np.ndarray) -> None:
        """Add this month's training compute (reference watt-years, shape (S,))."""
        st, p, i = self.model.state, self.profile, self.lab_index
        st.run_compute[:, i] += training_compute_wy
        needed = st.last_run_compute[:, i] * p["generation_compute_multiple"]
        done = st.run_compute[:, i] >= needed
        if not np.any(done):
            return
        noise = p["quality_noise_sigma"] * self.model.rng.standard_normal(done.shape)
        gain = p["quality_per_ln_compute"] * np.log(p["generation_compute_multiple"]) + noise
        st.quality[:, self.column] += np.where(done, np.maximum(gain, 0.0), 0.0)
        st.run_compute[:, i] = np.where(done, st.run_compute[:, i] - needed, st.run_compute[:, i])
        st.last_run_compute[:, i] = np.where(done, needed, st.last_run_compute[:, i])
        self.releases.append(self.model.steps)

    def set_prices(self, *, rate_limited_share, idle_share, marginal_usd_per_mtok) -> None:
        """Nudge this lab's prices in every priced segment for next month.

        ``rate_limited_share`` (S, K) for this lab; ``idle_share`` and
        ``marginal_usd_per_mtok`` (S,).
        """
        st, model, c = self.model.state, self.model, self.column
        p = self.profile
        fringe = model.fringe.column
        cap = market.indifference_price(st.price[:, :, fringe], st.quality[:, None, c], st.quality[:, None, fringe],
                                        beta_quality=model.segment_beta_quality,
                                        beta_price=model.segment_beta_price,
                                        affinity_gap=model.segment_affinity[:, c] - model.segment_affinity[:, fringe])
        floor = (marginal_usd_per_mtok * (1 + p["min_markup"]))[:, None]
        new = market.nudge_prices(st.price[:, :, c], rate_limited_share=rate_limited_share,
                                  idle_share=idle_share[:, None], up=p["price_up"], down=p["price_down"],
                                  floor=floor, cap=cap)
        st.price[:, :, c] = np.where(model.segment_priced, new, 0.0)

    @property
    def quality(self) -> float:
        return float(self.model.state.quality[0, self.column])

    @property
    def revenue_per_token(self) -> float:
        return self._metric("revenue_per_token")

    @property
    def tokens_per_watt_year(self) -> float:
        return self._metric("tokens_per_watt_year")

    @property
    def utilization(self) -> float:
        return self._metric("utilization")

    @property
    def rate_limited_share(self) -> float:
        return self._metric("rate_limited_share")

