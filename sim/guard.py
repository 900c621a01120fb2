"""The run-time guard: a cheap check of every month before it is recorded.

Validation decides which configs may run; the guard makes sure a run that got past it never reports a
number it should not have: every output finite, compute served within serving capacity, every watt in use
once (leased in = leased out; operated = owned), and money conserved (segments' spend is providers' token
revenue, rent paid is rent received, each agent's cash moves by exactly its flows). A month that fails
stops the run with a ``ModelError`` naming the month, the scenario, the agent and the quantity; a sweep
records such a run as failed, never as ok. The checks are whole-array numpy operations over the scenario
axis: about 0.3 ms a month against about 7 ms for the month itself (0.5 ms against 23 ms for an ensemble
of 200 scenarios).
"""

from __future__ import annotations

import numpy as np

from wattyear.sim.outputs import MAY_BE_NAN
from wattyear.sim.records import Books, MarketMonth, TokenMonth, as_dict
from wattyear.sim.units import step_date
from wattyear.sim.world import World

#: relative tolerance of the conservation checks (sums of up to ~10 terms of up to ~1e12 in float64)
RTOL = 1e-9
#: absolute tolerances: a tenth of a cent, a milliwatt (a total of exactly 0 against a rounding residual)
ATOL_USD = 1e-3
ATOL_W = 1e-3


class ModelError(ArithmeticError):
    """A month that broke an invariant: where and what."""

    def __init__(self, step: int, date: str, scenario: int, agent: str, quantity: str, detail: str):
        self.step, self.date, self.scenario, self.agent, self.quantity = step, date, scenario, agent, quantity
        self.detail = detail
        where = f"month {step} ({date})" + (f", scenario {scenario}" if scenario else "")
        super().__init__(f"{where}, {agent}: {quantity} {detail}")

    def __reduce__(self):  # (crosses process boundaries whole: a pool's worker, a Dask task)
        return type(self), (self.step, self.date, self.scenario, self.agent, self.quantity, self.detail)


def _first(bad: np.ndarray) -> tuple[int, int]:
    """(scenario, column) of the first True of a (S, X) mask."""
    s, x = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return int(s), int(x)


def check_month(world: World, step: int, books: Books, market: MarketMonth, tokens: TokenMonth,
                previous_cash: np.ndarray) -> None:
    """Raise ``ModelError`` if the month's books break an invariant. ``tokens`` is the month's token
    market; ``previous_cash`` (S, A) each agent's cash at the end of the month before (its starting
    cash in month 0)."""
    date = step_date(world.start, step).strftime("%Y-%m")
    agents, segments = list(world.agent_ids), list(world.segment_ids)

    def fail(mask: np.ndarray, names: list[str], quantity: str, detail) -> None:
        s, x = _first(np.atleast_2d(mask))
        name = names[x] if x < len(names) else f"column {x}"
        raise ModelError(step, date, s, name, quantity, detail(s, x) if callable(detail) else detail)

    for table, names in ((as_dict(books), agents), (as_dict(market), segments)):
        for key, arr in table.items():
            # a ratio the books record as undefined is NaN by construction (its denominator, an amount,
            # is checked here too); it may never be infinite
            finite = (~np.isinf(arr)) if key in MAY_BE_NAN else np.isfinite(arr)
            if not finite.all():
                bad = ~finite.reshape(arr.shape[0], -1) if arr.ndim > 1 else ~finite[:, None]
                cols = bad.shape[1]
                s, x = _first(bad)
                # a (S, K, P) market array: name the segment (its leading column)
                per = max(cols // max(len(names), 1), 1)
                name = names[x // per] if x // per < len(names) else f"column {x}"
                value = arr.reshape(arr.shape[0], -1)[s, x]
                raise ModelError(step, date, s, name, key, f"is {value} (not a finite number)")

    # served within capacity, in the units the market clears: compute tokens (a token of a smaller model
    # takes less of the fleet than a flagship token, so tokens served may exceed the fleet's flagship tokens)
    served, capacity = tokens.served_compute.sum(axis=1), tokens.capacity
    over = served > capacity * (1 + RTOL) + 1.0
    if over.any():
        fail(over, agents, "tokens_served", lambda s, x: f"takes {served[s, x]:.6g} compute tokens, above its "
                                                         f"serving capacity of {capacity[s, x]:.6g}")

    def conserved(a: np.ndarray, b: np.ndarray, quantity: str, what: str, atol: float = 0.0) -> None:
        gap = np.abs(a - b) > RTOL * np.maximum(np.abs(a), np.abs(b)) + atol
        if gap.any():
            s = int(np.argmax(gap))
            raise ModelError(step, date, s, "all agents", quantity, f"{what}: {a[s]:.12g} against {b[s]:.12g}")

    conserved(books.leased_in_watts.sum(axis=1), books.leased_out_watts.sum(axis=1), "watts",
              "leased in and leased out differ", ATOL_W)
    operated = books.watts.copy()
    operated[:, world.fringe_column] = 0.0  # the fringe rents watts from outside the model
    conserved(operated.sum(axis=1), books.owned_watts.sum(axis=1), "watts", "operated and owned differ",
              ATOL_W)
    conserved(market.spend_usd.reshape(len(operated), -1).sum(axis=1), books.token_revenue_usd.sum(axis=1),
              "token_revenue_usd", "segments' spend and providers' token revenue differ", ATOL_USD)
    conserved(books.rent_paid_usd.sum(axis=1), books.lease_income_usd.sum(axis=1), "rent_paid_usd",
              "rent paid and rent received differ", ATOL_USD)
    terms = [getattr(books, k) for k in ("token_revenue_usd", "lease_income_usd", "rent_paid_usd", "external_in_usd",
                                   "external_out_usd", "raised_usd", "invested_usd", "borrowed_usd", "returned_usd",
                                   "written_off_usd")]
    signs = (1, 1, -1, 1, -1, 1, -1, 1, -1, 1)
    flows = sum(sign * term for sign, term in zip(signs, terms))
    change = books.cash_usd - previous_cash
    # rounding grows with the size of the terms, not of their (possibly near-zero) sum, and with the stocks
    # they are differences of (borrowing is the change in a debt that may be a million times larger)
    scale = (sum(np.abs(term) for term in terms) + np.abs(books.cash_usd) + np.abs(previous_cash)
             + 2 * np.abs(books.debt_usd))
    off = np.abs(change - flows) > RTOL * scale + ATOL_USD
    if off.any():
        fail(off, agents, "cash_usd", lambda s, x: f"moved by {change[s, x]:.12g} but its flows add up to "
                                                   f"{flows[s, x]:.12g}")


def check_frame(name: str, frame, scenario: int = 0) -> None:
    """Raise ``ModelError`` if a numeric column of an output table (``metrics``, ``market``, ``leases``,
    ``funding``) holds a non-finite value (NaN is let through in the metrics ``sim.outputs`` may leave
    undefined): the guard checks the arrays the model records each month, and this
    checks the columns derived from them afterwards, before anything is written. Names the month, the row's
    agent (or segment and provider) and the column; ``scenario``: the run's place in its ensemble."""
    import pandas as pd

    numeric = frame.select_dtypes(include=[np.number])
    if numeric.empty:
        return
    values = numeric.to_numpy(dtype=float)
    may_be_nan = np.array([c in MAY_BE_NAN and name == "metrics" for c in numeric.columns])
    bad = np.isinf(values) | (np.isnan(values) & ~may_be_nan)
    if not bad.any():
        return
    row, col = np.unravel_index(int(np.argmax(bad)), bad.shape)
    record = frame.iloc[int(row)]
    step = int(record["step"]) if "step" in frame and pd.notna(record["step"]) else -1
    date = str(record["date"])[:7] if "date" in frame else "?"
    who = "/".join(str(record[k]) for k in ("agent", "segment", "provider", "lessor", "lab") if k in frame)
    raise ModelError(step, date, scenario, who or name, f"{name}.{numeric.columns[col]}",
                     f"is {values[row, col]} (not a finite number)")
