"""What every wattyear agent has: an id from the config, a kind and a column."""

from __future__ import annotations

import mesa
import numpy as np

from wattyear.sim import capital_market


class EconomicAgent(mesa.Agent):
    """An agent with a cash ledger column and per-watt metrics.

    ``column`` indexes the last axis of the model's (scenario, agent) arrays.
    The reporter properties read scenario 0, which is the run for a single
    model; the ensemble path reads the arrays directly.
    """

    kind = "agent"

    def __init__(self, model, agent_id: str, profile: dict, column: int):
        super().__init__(model)
        self.agent_id = agent_id
        self.profile = profile
        self.column = column
        self.name = profile.get("name", agent_id)

    def _metric(self, name: str) -> float:
        values = self.model.last_metrics.get(name)
        return float(values[0, self.column]) if values is not None else 0.0

    # reporters for mesa.DataCollector (agent level)
    @property
    def cash_usd(self) -> float:
        return float(self.model.state.cash[0, self.column])

    @property
    def watts(self) -> float:
        return self._metric("watts")

    @property
    def revenue_per_watt_year(self) -> float:
        return self._metric("revenue_per_watt_year")

    @property
    def cost_per_watt_year(self) -> float:
        return self._metric("cost_per_watt_year")

    @property
    def operating_profit_usd(self) -> float:
        return self._metric("operating_profit_usd")

    def cash_buffer_usd(self, buffer_months: float) -> np.ndarray:
        """(S,) cash it keeps: ``buffer_months`` of its average outlays over the last
        year, plus the capex it has committed for the next 12 months."""
        st, c = self.model.state, self.column
        committed = self.model.fleet.capex_committed_usd(self.model.steps - 1, 12)[:, c]
        return buffer_months * st.outlays_history[:, :, c].mean(axis=1) + committed

    def settle_cash(self, buffer_months: float) -> None:
        """Borrow rather than hold negative cash; repay debt from cash; return cash no plan needs.

        Debt is recorded (``state.debt``) and pays ``world.debt_interest_per_year``;
        repayments come from cash above the buffer (``cash_buffer_usd``), and
        only an owner free of debt returns cash (``state.returned``).
        """
        st, c = self.model.state, self.column
        buffer = self.cash_buffer_usd(buffer_months)
        borrow = np.maximum(-st.cash[:, c], 0.0)
        repay = np.minimum(st.debt[:, c], np.maximum(st.cash[:, c] - buffer, 0.0))
        st.debt[:, c] += borrow - repay
        st.cash[:, c] += borrow - repay
        trailing = st.ocf_history[:, :, c].sum(axis=1)
        excess = np.where(st.debt[:, c] > 0, 0.0, capital_market.idle_cash_usd(st.cash[:, c], buffer, trailing))
        st.cash[:, c] -= excess
        st.returned[:, c] += excess
