"""What every wattyear agent has: an id from the config, a kind, a column, and the rule by which an
owner that may borrow settles its cash."""

from __future__ import annotations

import mesa
import numpy as np

from wattyear.sim import capital_market
from wattyear.sim.records import CashSettlement
from wattyear.sim.world import World


class EconomicAgent(mesa.Agent):
    """An agent with a cash ledger column.

    ``column`` indexes the last axis of the model's (scenario, agent) arrays.
    Agents decide; they never write the model's state: each decision is a
    record (``sim.records``) that the markets (``sim.clearing``) apply.
    """

    kind = "agent"

    def __init__(self, model, agent_id: str, profile: dict, column: int):
        super().__init__(model)
        self.agent_id = agent_id
        self.profile = profile
        self.column = column
        self.name = profile.get("name", agent_id)
        self.world: World = model.world  #: the static side of the run (``sim.world.World``)

    def cash_buffer_usd(self, buffer_months: float) -> np.ndarray:
        """(S,) cash it keeps: ``buffer_months`` of its average outlays over the last
        year, plus the capex it has committed for the next 12 months."""
        st, c = self.model.state, self.column
        committed = self.model.fleet.capex_committed_usd(self.model.steps - 1, 12)[:, c]
        return buffer_months * st.outlays_history[:, :, c].mean(axis=1) + committed

    def settle_cash(self, buffer_months: float) -> CashSettlement:
        """Borrow rather than hold negative cash; repay debt from cash; return cash no plan needs.

        Debt pays ``world.debt_interest_per_year``; repayments come from cash
        above the buffer (``cash_buffer_usd``), and only an owner free of debt
        returns cash.
        """
        st, c = self.model.state, self.column
        buffer = self.cash_buffer_usd(buffer_months)
        borrow = np.maximum(-st.cash[:, c], 0.0)
        repay = np.minimum(st.debt[:, c], np.maximum(st.cash[:, c] - buffer, 0.0))
        change = borrow - repay
        debt, cash = st.debt[:, c] + change, st.cash[:, c] + change
        trailing = st.ocf_history[:, :, c].sum(axis=1)
        excess = np.where(debt > 0, 0.0, capital_market.idle_cash_usd(cash, buffer, trailing))
        return CashSettlement(c, borrow, repay, excess)
