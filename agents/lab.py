"""Frontier labs: OpenAI, Anthropic, xAI, Google's Gemini unit (profiles from config)."""

from __future__ import annotations

import numpy as np

from agents.base import EconomicAgent
from agents.builder import CapacityOwner
from sim import capital_market, lease_market, token_market
from sim.schema import FUNDING
from sim.units import month_index

#: a lab with no funding table raises from investors, every other field at its schema default
DEFAULT_FUNDING = {**{k: f.default for k, f in FUNDING.items() if not f.required},
                   "source": "investors", "share": 1.0}


class FrontierLab(CapacityOwner, EconomicAgent):
    """A lab that trains models, serves tokens and prices them.

    Decisions each month:

    * ``train``: the training share of its operated compute advances the next
      run; a run needs g× the compute of the last. On completion quality rises
      by κ·ln g (plus noise from the model's generator) — log-linear in compute.
    * ``set_prices``: per priced segment, up with the rate-limited share, down
      with the idle share, bounded below by marginal cost and above by the
      quality- and brand-adjusted open-weights price (see ``sim.token_market``).
    * ``plan_capacity`` (from ``CapacityOwner``): order the next cluster when
      the rate-limited share of paid demand exceeds ``order_trigger``.
    * ``capacity_bid``: when rate-limited, bid for the watts that would serve
      the paid tokens it turned away, up to what a watt-year earns it.
    * ``capacity_ask``: when idle, offer idle owned watts at cost × (1 + markup).
    * ``raise_capital``: when cash covers fewer than ``runway_months`` of burn,
      raise ``raise_months`` of burn from its funding sources.
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
        noise = np.zeros(done.shape)
        for scenario in np.flatnonzero(done):  # a draw only where a run finished, as a single run would
            noise[scenario] = p["quality_noise_sigma"] * self.model.generators[scenario].standard_normal()
        gain = p["quality_per_ln_compute"] * np.log(p["generation_compute_multiple"]) + noise
        st.quality[:, self.column] += np.where(done, np.maximum(gain, 0.0), 0.0)
        st.run_compute[:, i] = np.where(done, st.run_compute[:, i] - needed, st.run_compute[:, i])
        st.last_run_compute[:, i] = np.where(done, needed, st.last_run_compute[:, i])
        self.releases.append(self.model.steps - 1)  # month index

    def set_prices(self, *, rate_limited_share, idle_share, marginal_usd_per_mtok) -> None:
        """Nudge this lab's prices in every priced segment for next month.

        ``rate_limited_share`` (S, K) for this lab; ``idle_share`` and
        ``marginal_usd_per_mtok`` (S,).
        """
        st, model, c = self.model.state, self.model, self.column
        p = self.profile
        fringe = model.fringe.column
        cap = token_market.indifference_price(st.price[:, :, fringe], st.quality[:, None, c], st.quality[:, None, fringe],
                                        beta_quality=model.segment_beta_quality,
                                        beta_price=model.segment_beta_price,
                                        affinity_gap=model.segment_affinity[:, c] - model.segment_affinity[:, fringe])
        floor = (marginal_usd_per_mtok * (1 + p["min_markup"]))[:, None]
        new = token_market.nudge_prices(st.price[:, :, c], rate_limited_share=rate_limited_share,
                                  idle_share=idle_share[:, None], up=p["price_up"], down=p["price_down"],
                                  floor=floor, cap=cap)
        st.price[:, :, c] = np.where(model.segment_priced, new, 0.0)

    def capacity_bid(self, ctx) -> tuple[np.ndarray, np.ndarray]:
        """(watts wanted, $/W-yr it would pay), each shape (S,).

        A leased watt serves (its training runs are planned in watts, not as a
        share), so it yields TPWY / peak-to-average tokens a year.
        """
        c = self.column
        watts = lease_market.shortfall_watts(ctx["rejected_paid_tokens"][:, c], ctx["tpwy"][:, c],
                                         ctx["serving_reach"][:, c])
        price = lease_market.willingness_to_pay(ctx["paid_price_usd_per_token"][:, c], ctx["tpwy"][:, c],
                                            ctx["serving_reach"][:, c])
        return watts, price

    def capacity_ask(self, ctx) -> tuple[np.ndarray, np.ndarray]:
        """(idle owned watts offered, asking rent $/W-yr), each shape (S,).

        Idle watts are those not needed to serve this month's tokens at the
        reachable utilisation; only watts it owns and has not let can be let.
        """
        c, p = self.column, self.profile
        per_watt = ctx["tpwy"][:, c] / 12 * ctx["reachable"][:, c]
        needed = np.divide(ctx["served_tokens"][:, c], per_watt, out=np.zeros_like(per_watt), where=per_watt > 0)
        idle = np.maximum(ctx["watts"][:, c] - needed, 0.0)
        free_owned = np.maximum(ctx["owned_watts"][:, c] - ctx["leased_out_watts"][:, c], 0.0)
        offered = np.minimum(idle * p["idle_offered"], free_owned)
        return offered, ctx["owned_cost_per_watt_year"][:, c] * (1 + p["lease_markup"])

    def raise_capital(self, t: int, operating_cash_flows: np.ndarray) -> list[dict]:
        """Raise outside money if the runway is short; return one record per source.

        Burn = the recent operating cash outflow (``operating_cash_flows``,
        (S, months)) plus the capex already committed for the next 12 months,
        a month's worth. Money from a cloud partner comes out of the partner's
        cash; the committed share is spent back as a lease of its watts.
        """
        st, p, model, c = self.model.state, self.profile, self.model, self.column
        committed = model.fleet.capex_committed_usd(t, 12)[:, c] / 12
        burn = capital_market.monthly_burn(operating_cash_flows[:, :, None])[:, 0] + committed
        amount = capital_market.raise_needed(st.cash[:, c], burn, p["runway_months"], p["raise_months"])
        if not np.any(amount > 0):
            return []
        entries = p["funding"] or [DEFAULT_FUNDING]
        open_now = np.array([month_index(e["from_month"], model.start) <= t for e in entries])
        shares = capital_market.source_shares(np.array([e["share"] for e in entries]), open_now)
        if shares.sum() == 0:  # every source closed: investors of last resort
            entries, shares = [dict(entries[0], source="investors", partner="", cloud_commitment=0.0)], np.ones(1)
        records = []
        for entry, share in zip(entries, shares):
            if share == 0:
                continue
            money = amount * share
            st.cash[:, c] += money
            st.outside_capital[:, c] += money
            st.raised[:, c] += money
            commitment = np.zeros_like(money)
            lease_watts = np.zeros_like(money)
            if entry["source"] == "cloud_partner":
                partner = model.by_id[entry["partner"]]
                st.cash[:, partner.column] -= money
                st.invested[:, partner.column] += money
                commitment = money * entry["cloud_commitment"]
                lease_watts = partner.commit_capacity(self, commitment, entry["commitment_months"], t)
            records.append({"step": t, "lab": self.agent_id, "source": entry["source"],
                            "partner": entry["partner"], "amount_usd": money, "cloud_commitment_usd": commitment,
                            "commitment_watts": lease_watts})
        return records

    @property
    def quality(self) -> float:
        return float(self.model.state.quality[0, self.column])

    @property
    def self_funding_ratio(self) -> float:
        return self._metric("self_funding_ratio")

    @property
    def outside_capital_usd(self) -> float:
        return float(self.model.state.outside_capital[0, self.column])

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

