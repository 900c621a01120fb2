"""The arrays the model steps: every one has a leading scenario axis S.

A single run has S = 1. The same arrays with S > 1 step an ensemble of
scenarios through the same code (see ``docs/model.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattyear.sim import kernel
from wattyear.sim.records import Observation, TokenMonth
from wattyear.sim.world import World, per_scenario_columns


@dataclass
class WorldState:
    """Mutable state of the world; shapes use S scenarios, A ledger agents,
    P providers (labs then the fringe: provider p is ledger column p),
    L labs, K segments, N demand cells."""

    cash: np.ndarray  #: (S, A) $
    quality: np.ndarray  #: (S, P) index
    price: np.ndarray  #: (S, K, P) $/Mtok
    prev_share: np.ndarray  #: (S, N, P) share of each cell's demand served last month
    run_compute: np.ndarray  #: (S, L) reference watt-years toward the next run
    last_run_compute: np.ndarray  #: (S, L) reference watt-years of the last run
    customers: np.ndarray  #: (S, K)
    tokens_per_customer: np.ndarray  #: (S, K) tokens per customer per month
    demand_shock: np.ndarray  #: (S, K) AR(1) log shock
    fringe_watts: np.ndarray  #: (S,)
    fringe_mix: np.ndarray  #: (S, H) share of the fringe's watts on each hardware generation
    serving_multiplier: np.ndarray  #: (S,)
    outside_capital: np.ndarray  #: (S, A) $ raised from outside since the start
    raised: np.ndarray  #: (S, A) $ raised this month
    invested: np.ndarray  #: (S, A) $ a partner put into labs this month (negative: a parent took cash back)
    returned: np.ndarray  #: (S, A) $ paid out to owners this month (cash no plan needs)
    written_off: np.ndarray  #: (S, A) $ of a failing lab's unpaid bills its creditors wrote off this month
    debt: np.ndarray  #: (S, A) $ owed by hyperscalers and the publisher (they borrow rather than hold negative cash)
    ocf_history: np.ndarray  #: (S, 12, A) operating cash flow of the last 12 months, newest last
    outlays_history: np.ndarray  #: (S, 12, A) cash costs and capex of the last 12 months
    replacement_capex_history: np.ndarray  #: (S, 12, A) capex on replacements of the last 12 months
    lease_income_history: np.ndarray  #: (S, 12, A) rent received for watts let, the last 12 months
    revenue_history: np.ndarray  #: (S, 13, A) revenue of the last 13 months (growth over a year), newest last
    first_choice_history: np.ndarray  #: (S, 15, P) compute tokens of each provider's first-choice customers, newest last
    failed: np.ndarray  #: (S, L) bool: the lab has failed (out of the market for good)
    generations: np.ndarray  #: (S, L) training runs completed since the start
    last_round_step: np.ndarray  #: (S, L) month of the lab's last funding round
    parent_purse: np.ndarray  #: (S, L) money a lab's parent has set aside for it and not yet put in
    overhead: np.ndarray  #: (S, L) each lab's overhead this month, $/yr
    next_cluster_watts: np.ndarray  #: (S, A) watts of the next cluster each owner's build rule plans
    target_watts: np.ndarray  #: (S, A) watts a lab's last capacity plan wants at the end of its lead (inf: none yet)
    shadow_price: np.ndarray  #: (S, K, P) capacity premium in each lab's target price, $/Mtok
    routing: np.ndarray  #: (S, K, P) compute per token of each provider's model mix in each segment

def starting_state(world: World) -> WorldState:
    """The state of month 0 as configured (the fringe's price and the habits are set by the model)."""
    cfg, s = world.config, world.n_scenarios
    rows = lambda values: per_scenario_columns(values, s)  # noqa: E731

    n_agents, n_prov, n_labs = world.n_agents, world.n_providers, world.n_labs
    n_seg, n_cells = len(world.segment_ids), len(world.cell_segment)
    labs = [cfg["labs"][i] for i in world.lab_ids]
    seg = lambda key: rows([cfg["segments"][sid][key] for sid in world.segment_ids])  # noqa: E731
    return WorldState(
        cash=rows([p["cash_usd"] if "cash_usd" in p else 0.0 for p in world.profiles()]),
        quality=world.start_quality.copy(),
        price=world.start_price.copy(),
        prev_share=np.zeros((s, n_cells, n_prov)),
        run_compute=rows([lab["run_progress"] * lab["last_run_compute_watt_years"]
                          * lab["generation_compute_multiple"] for lab in labs]),
        last_run_compute=rows([lab["last_run_compute_watt_years"] for lab in labs]),
        customers=seg("customers"),
        tokens_per_customer=seg("tokens_per_customer_per_month"),
        demand_shock=np.zeros((s, n_seg)),
        fringe_watts=np.array(cfg["fringe"]["watts"], dtype=float),
        fringe_mix=np.eye(len(world.hardware.ids))[np.full(s, world.fringe_hardware)],
        serving_multiplier=np.array(cfg["world"]["serving_multiplier"], dtype=float),
        outside_capital=np.zeros((s, n_agents)),
        raised=np.zeros((s, n_agents)),
        invested=np.zeros((s, n_agents)),
        returned=np.zeros((s, n_agents)),
        written_off=np.zeros((s, n_agents)),
        debt=np.zeros((s, n_agents)),
        ocf_history=np.zeros((s, 12, n_agents)),
        replacement_capex_history=np.zeros((s, 12, n_agents)),
        lease_income_history=np.zeros((s, 12, n_agents)),
        outlays_history=np.zeros((s, 12, n_agents)),
        revenue_history=np.zeros((s, 13, n_agents)),
        first_choice_history=np.zeros((s, 15, n_prov)),
        failed=np.zeros((s, n_labs), dtype=bool),
        generations=np.zeros((s, n_labs), dtype=int),
        last_round_step=np.full((s, n_labs), -10**6),
        parent_purse=np.zeros((s, n_labs)),
        overhead=rows([lab["overhead_usd_per_year"] for lab in labs]),
        next_cluster_watts=np.zeros((s, n_agents)),
        target_watts=np.full((s, n_agents), np.inf),
        shadow_price=np.zeros((s, n_seg, n_prov)),
        routing=world.segment_routing.copy(),
    )


def remember(st: WorldState, obs: Observation, tokens: TokenMonth, replacement_capex_usd: np.ndarray,
             overhead_growth_per_year: np.ndarray | None = None) -> None:
    """Carry what next month's choices and decisions depend on (state, not the output log): habits, the
    trailing histories of first-choice demand, revenue, operating cash flow, outlays and replacement capex
    (``replacement_capex_usd``, (S, A), paid this month), and each lab's overhead (growing at
    ``overhead_growth_per_year`` (S, L) while its revenue grows, shrinking with it where it fell:
    ``kernel.overhead_next_month``)."""
    # habits form on the share of each class's customers served (tokens over each provider's usage)
    st.prev_share = kernel.safe_divide(kernel.safe_divide(tokens.cleared.served, tokens.usage),
                                       tokens.demand[..., None])
    # histories not yet a year long are padded with the first month: no growth before the start is assumed
    first = obs.step == 0
    st.first_choice_history = _push(st.first_choice_history, obs.first_choice_compute.sum(axis=1), first)
    st.revenue_history = _push(st.revenue_history, obs.revenue_usd, first)
    if overhead_growth_per_year is not None:
        n_labs = st.overhead.shape[1]
        year = kernel.revenue_ratio_year(st.revenue_history[:, -1, :n_labs], st.revenue_history[:, 0, :n_labs])
        st.overhead = kernel.overhead_next_month(st.overhead, overhead_growth_per_year, year)
    st.ocf_history = np.roll(st.ocf_history, -1, axis=1)
    st.ocf_history[:, -1, :] = obs.operating_cash_flow_usd
    st.outlays_history = _push(st.outlays_history, obs.outlays_usd, first)
    st.replacement_capex_history = np.roll(st.replacement_capex_history, -1, axis=1)
    st.replacement_capex_history[:, -1, :] = replacement_capex_usd
    st.lease_income_history = np.roll(st.lease_income_history, -1, axis=1)
    st.lease_income_history[:, -1, :] = obs.lease_income_usd


def _push(history: np.ndarray, newest: np.ndarray, fill: bool) -> np.ndarray:
    """A (S, months, X) history with ``newest`` appended (oldest dropped), or filled with it."""
    if fill:
        return np.repeat(newest[:, None, :], history.shape[1], axis=1)
    history = np.roll(history, -1, axis=1)
    history[:, -1, :] = newest
    return history
