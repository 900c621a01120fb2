"""What every wattyear agent has: an id from the config, a kind and a column."""

from __future__ import annotations

import mesa
import numpy as np


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

    def settle_cash(self, outlays_usd: np.ndarray, buffer_months: float) -> None:
        """Borrow rather than hold negative cash; repay debt from cash; return cash beyond the buffer.

        Debt is recorded (``state.debt``) and pays ``world.debt_interest_per_year``;
        cash above ``buffer_months`` of this month's outlays (after repaying) is
        returned to the owners (``state.returned``).
        """
        st, c = self.model.state, self.column
        borrow = np.maximum(-st.cash[:, c], 0.0)
        repay = np.minimum(st.debt[:, c], np.maximum(st.cash[:, c] - buffer_months * outlays_usd, 0.0))
        st.debt[:, c] += borrow - repay
        st.cash[:, c] += borrow - repay
        excess = np.maximum(st.cash[:, c] - buffer_months * outlays_usd, 0.0)
        st.cash[:, c] -= excess
        st.returned[:, c] += excess
