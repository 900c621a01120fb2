"""Owned vintages and leases as columnar tables (one row per vintage or lease).

Like PyPSA's component tables: static columns (owner, hardware, dates) are 1-d
arrays over rows; quantities that can differ by scenario (watts, price) have a
leading scenario axis. Aggregation to (scenario, hardware, agent) adds rows into
cells in table order (``sum_into``), never a loop in Python over rows.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from wattyear.sim import kernel

#: months before retirement a replacement vintage is ordered: within the 12-24
#: month build leads of the specification, and long enough to spread its capex
#: (an assumption)
REPLACEMENT_LEAD_MONTHS = 12


def sum_into(values: np.ndarray, index: np.ndarray, n_cells: int) -> np.ndarray:
    """Sum the rows' values (last axis) into cells: ``out[..., index[r]] += values[..., r]``.

    Rows are added one after another in order (``np.bincount`` over the
    flattened array, each scenario's bins apart), so each scenario's sums are
    the same whatever the number of scenarios (a BLAS product, or a reduction
    whose order depends on the array's shape, would not promise that), which
    keeps an ensemble member bit-identical to a single run. Rows left out
    because they are zero change no sum: adding +0.0 is exact.

    >>> sum_into(np.array([[1.0, 2.0, 4.0]]), np.array([1, 0, 1]), 3).tolist()
    [[2.0, 5.0, 0.0]]
    """
    lead = values.shape[:-1]
    m = int(np.prod(lead, dtype=np.int64))
    if values.shape[-1] == 0 or m == 0:
        return np.zeros(lead + (n_cells,))
    flat = (np.arange(m, dtype=np.int64)[:, None] * n_cells + np.asarray(index, dtype=np.int64)).reshape(-1)
    out = np.bincount(flat, weights=np.ascontiguousarray(values, dtype=float).reshape(-1), minlength=m * n_cells)
    return out.reshape(lead + (n_cells,))


class RowSums:
    """Sums of a growing table's chosen rows into cells, kept per question (``key``) and brought up to date
    by the rows appended since, instead of summed again over every row.

    ``sum_into`` adds each (scenario, cell)'s rows one after another in row order, starting from 0. A row
    appended later comes last in that order, so the sum with it is the kept sum plus its value, the same
    IEEE addition ``sum_into`` would make: an updated sum is bit-identical to a fresh one. Rows appended
    together are added one at a time, in order. An edit of existing rows (``edits`` counts them: a cut, a
    write-off, a renewal flag) makes every kept sum stale; they are dropped and summed again when asked.
    Each month a table grows by a few rows while its owners ask the same questions many times between the
    appends; the update costs O(S) per new row instead of O(S × rows).
    """

    def __init__(self, limit: int = 64):
        self.limit = limit  #: questions kept at most (then the least recently asked goes: a fresh sum is always right)
        self._edits = -1
        self._kept: OrderedDict = OrderedDict()  #: key → (rows counted, (S, cells) sums, read-only), oldest first
        self._derived: dict = {}  #: key → (the sums it was made from, a value made from them)

    def get(self, key, table: "Columns", edits: int, chosen, cell: np.ndarray, n_cells: int) -> np.ndarray:
        """(S, n_cells) sums of ``table``'s columns over the rows ``chosen(first)`` picks (a bool array over rows
        ``first`` … the last), each into its ``cell``; read-only (do not modify the result)."""
        n_rows = table.n
        if edits != self._edits:
            self._kept.clear()
            self._derived.clear()
            self._edits = edits
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            if kept[0] == n_rows:
                return kept[1]
        if kept is None:
            if len(self._kept) >= self.limit:
                gone, _ = self._kept.popitem(last=False)
                self._derived.pop(gone, None)
            rows = np.flatnonzero(chosen(0))
            sums = sum_into(table.take(rows), cell[rows], n_cells)
        else:
            first, sums = kept
            new = first + np.flatnonzero(chosen(first))
            if new.size:
                sums = sums.copy()
                values = table.view
                for row in new:  # one at a time, in row order: the order sum_into adds them in
                    sums[:, cell[row]] += values[:, row]
        sums.flags.writeable = False
        self._kept[key] = (n_rows, sums)
        return sums

    def forget(self, stale) -> None:
        """Drop the sums of the questions ``stale(key)`` marks (those of months gone by: never asked again)."""
        for key in [k for k in self._kept if stale(k)]:
            del self._kept[key]
            self._derived.pop(key, None)

    def derived(self, key, sums: np.ndarray, make) -> np.ndarray:
        """``make(sums)`` for the sums ``get`` returned for ``key``, kept while those sums stand (asked for again
        with the same sums, the same array; read-only)."""
        kept = self._derived.get(key)
        if kept is None or kept[0] is not sums:
            value = make(sums)
            value.flags.writeable = False
            self._derived[key] = kept = (sums, value)
        return kept[1]


class Columns:
    """An (S, n) table of per-scenario values that grows by whole columns.

    The columns live in a buffer that grows by half when full, so appending a
    column costs O(S) on average, not a copy of the whole table (which made a
    large ensemble's appends quadratic), and at most a third of the buffer is
    slack (doubling left up to half of it: at S = 10,000 about 0.3 GB of the
    vintage and lease tables). ``view`` is the table (a view: writes go
    through; it is stale after the next append that grows the buffer).
    """

    def __init__(self, initial: np.ndarray):
        initial = np.asarray(initial, dtype=float)
        self._buf = np.array(initial, order="C")
        self.n = initial.shape[1]

    @property
    def view(self) -> np.ndarray:
        return self._buf[:, : self.n]

    def take(self, rows: np.ndarray) -> np.ndarray:
        """(S, len(rows)) the given columns, C-ordered (a fancy index would give another memory order,
        slower to reduce)."""
        return np.take(self._buf, rows, axis=1)

    def append(self, column) -> None:
        s = self._buf.shape[0]
        if self.n == self._buf.shape[1]:
            grown = np.zeros((s, max(16, self.n + self.n // 2)))
            grown[:, : self.n] = self._buf[:, : self.n]
            self._buf = grown
        self._buf[:, self.n] = np.broadcast_to(np.asarray(column, dtype=float), (s,))
        self.n += 1


class Fleet:
    """Vintages of owned watts: static columns over rows (owner, hardware, dates), and watts and
    capex per watt with a leading scenario axis, (S, V)."""

    def __init__(self, n_hardware: int, n_agents: int, watts: np.ndarray | None = None):
        self.n_hardware, self.n_agents = n_hardware, n_agents
        s = 1 if watts is None else watts.shape[0]
        self.owner = np.zeros(0, dtype=int)
        self.hardware = np.zeros(0, dtype=int)
        self.order_step = np.zeros(0, dtype=int)
        self.start_step = np.zeros(0, dtype=int)
        self.end_step = np.zeros(0, dtype=int)
        self.replacement = np.zeros(0, dtype=bool)  #: rebuilds a retiring vintage
        self._watts = Columns(np.zeros((s, 0)) if watts is None else watts)
        self._capex = Columns(np.zeros((s, 0)))
        self._edits = 0  #: edits of existing rows (cuts, write-offs): a cached sum is stale after one
        self._committed_key: tuple = ()
        self._committed: np.ndarray | None = None
        self._owned = RowSums()
        self._retiring = RowSums()
        self._ordered = RowSums()

    @property
    def watts(self) -> np.ndarray:
        """(S, V) watts of each vintage (a view: writes go through)."""
        return self._watts.view

    @property
    def capex_usd_per_w(self) -> np.ndarray:
        """(S, V) capex per watt of each vintage."""
        return self._capex.view

    def add(self, owner: int, hardware: int, watts, start_step: int, life_months: float,
            capex_usd_per_w, order_step: int | None = None, replacement: bool = False) -> int:
        """Append a vintage (watts and capex scalar or shape (S,)); return its row.

        ``order_step`` < ``start_step`` makes it a build: capex is paid in equal
        monthly parts from the order until it enters service. Without an order
        step the capex is paid when it enters service (if after month 0).
        """
        self.owner = np.append(self.owner, owner)
        self.hardware = np.append(self.hardware, hardware)
        self.order_step = np.append(self.order_step, start_step if order_step is None else order_step)
        self.start_step = np.append(self.start_step, start_step)
        self.end_step = np.append(self.end_step, start_step + int(round(life_months)))
        self.replacement = np.append(self.replacement, replacement)
        self._capex.append(capex_usd_per_w)
        self._watts.append(watts)
        return len(self.owner) - 1

    def active(self, step: int) -> np.ndarray:
        return (self.start_step <= step) & (step < self.end_step)

    def by_cell(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sum (S, len(rows)) values of the given rows into (S, H, A) (the other rows are zero)."""
        cell = (self.hardware * self.n_agents + self.owner)[rows]
        cells = sum_into(values, cell, self.n_hardware * self.n_agents)
        return cells.reshape(values.shape[0], self.n_hardware, self.n_agents)

    def by_owner(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sum (S, len(rows)) values of the given rows into (S, A) by owner."""
        return sum_into(values, self.owner[rows], self.n_agents)

    def owned_watts(self, step: int) -> np.ndarray:
        """(S, H, A) watts in service (kept and brought up to date as rows are added: ``RowSums``; do not
        modify the result)."""
        cells = self._owned_cells(step)
        return cells.reshape(cells.shape[0], self.n_hardware, self.n_agents)

    def forget_before(self, step: int) -> None:
        """Drop kept sums about months before ``step`` (the model moves on; nothing asks about them again)."""
        self._owned.forget(lambda k: k < step)
        self._retiring.forget(lambda k: k[1] < step)
        self._ordered.forget(lambda k: k[1] < step)

    def owned_by_owner(self, step: int) -> np.ndarray:
        """(S, A) watts in service by owner, ``owned_watts(step).sum(axis=1)`` (kept beside it; do not modify)."""
        cells = self._owned_cells(step)
        return self._owned.derived(step, cells, lambda flat: flat.reshape(
            flat.shape[0], self.n_hardware, self.n_agents).sum(axis=1))

    def _owned_cells(self, step: int) -> np.ndarray:
        """(S, H·A) watts in service by (hardware, owner) cell (``RowSums``: the same array while it stands)."""
        chosen = lambda first: (self.start_step[first:] <= step) & (step < self.end_step[first:])  # noqa: E731
        return self._owned.get(step, self._watts, self._edits, chosen, self.hardware * self.n_agents + self.owner,
                               self.n_hardware * self.n_agents)

    def depreciation_usd_per_w_year(self, rows: np.ndarray) -> np.ndarray:
        """(S, len(rows)) straight-line depreciation of the given vintages over their lives (retirement −
        service)."""
        # a life under half a month rounds to 0
        life_months = np.maximum(self.end_step[rows] - self.start_step[rows], 1)
        return kernel.depreciation_usd_per_watt_year(self._capex.take(rows), life_months / 12)

    def retiring(self, step: int) -> np.ndarray:
        """Rows whose life ends at ``step``."""
        return np.flatnonzero(self.end_step == step)

    def write_off(self, owner: int, scenarios: np.ndarray) -> None:
        """Retire every vintage of ``owner`` now in the ``scenarios`` (bool (S,)) where it failed:
        its watts leave service and its unpaid capex is not paid."""
        rows = self.owner == owner
        self.watts[np.ix_(scenarios, rows)] = 0.0
        self._edits += 1

    def cut_builds(self, owner: int, scenarios: np.ndarray, step: int) -> None:
        """Stop ``owner``'s builds under way at ``step`` in the ``scenarios`` (bool (S,)): each
        enters service now at the share of its watts already paid for, and costs nothing more.

        Its start moves to ``step`` in every scenario (rows are shared by scenarios), so
        where it is not cut the row is left as it was; the cut part is a new row (appended
        in the same place a single run of the cut scenario would append it, so sums over
        rows keep their order and an ensemble member stays bit-identical to its single run).
        """
        rows = np.flatnonzero((self.owner == owner) & (self.order_step <= step) & (step < self.start_step))
        self._edits += 1
        for row in rows:
            lead = max(int(self.start_step[row] - self.order_step[row]), 1)
            paid = min(max(step - int(self.order_step[row]), 0), lead) / lead
            finished = np.where(scenarios, self.watts[:, row] * paid, 0.0)
            if np.any(finished > 0):
                self.add(owner, int(self.hardware[row]), finished, step,
                         int(self.end_step[row] - self.start_step[row]), self.capex_usd_per_w[:, row],
                         replacement=bool(self.replacement[row]))
                # already paid for: no capex when it enters service
                self.order_step[-1] = self.start_step[-1] = step
            self.watts[:, row] = np.where(scenarios, 0.0, self.watts[:, row])

    def retiring_between(self, first: int, last: int) -> np.ndarray:
        """(S, A) watts of vintages whose life ends in steps first..last (kept until the table changes; do not
        modify the result)."""
        chosen = lambda lo: (self.end_step[lo:] >= first) & (self.end_step[lo:] <= last)  # noqa: E731
        return self._retiring.get((first, last), self._watts, self._edits, chosen, self.owner, self.n_agents)

    def ordered_between(self, first: int, last: int, growth_only: bool = False) -> np.ndarray:
        """(S, A) watts of builds ordered in steps first..last (replacements left out if ``growth_only``;
        kept and brought up to date as rows are added: ``RowSums``)."""
        def chosen(lo: int) -> np.ndarray:
            order = self.order_step[lo:]
            ordered = (order >= first) & (order <= last) & (order < self.start_step[lo:])
            return ordered & ~self.replacement[lo:] if growth_only else ordered

        return self._ordered.get((first, last, growth_only), self._watts, self._edits, chosen, self.owner,
                                 self.n_agents).copy()

    def capex_committed_usd(self, step: int, months: int) -> np.ndarray:
        """(S, A) capex already committed for the ``months`` after ``step`` (kept until the table changes)."""
        key = (step, months, len(self.owner), self._edits)
        if self._committed_key != key:
            steps = step + np.arange(1, months + 1)[:, None]
            share = self._capex_share(steps).sum(axis=0)
            rows = np.flatnonzero(share)
            self._committed = self.by_owner(rows, self._watts.take(rows) * share[rows] * self._capex.take(rows))
            self._committed_key = key
        return self._committed.copy()

    def _capex_share(self, steps) -> np.ndarray:
        """Share of each vintage's capex paid at ``steps`` (any shape broadcasting against rows)."""
        lead = self.start_step - self.order_step
        building = (self.order_step < steps) & (steps <= self.start_step)
        share = np.where(building, 1.0 / np.maximum(lead, 1), 0.0)
        return np.where((lead == 0) & (self.start_step == steps) & (steps > 0), 1.0, share)

    def under_construction(self, step: int) -> np.ndarray:
        """(S, A) watts ordered and not yet in service."""
        rows = np.flatnonzero((self.order_step <= step) & (step < self.start_step))
        return self.by_owner(rows, self._watts.take(rows))

    def capex_due_usd(self, step: int, replacement_only: bool = False) -> np.ndarray:
        """(S, A) capex paid this step.

        Builds pay capex / lead each month after the order, the last payment in
        the month they enter service (an order is placed after that month's
        books are closed); vintages with no lead pay it all when they enter
        service, unless that is month 0 or earlier (paid before the run).
        """
        share = self._capex_share(step) * (self.replacement if replacement_only else 1.0)
        rows = np.flatnonzero(share)
        return self.by_owner(rows, self._watts.take(rows) * share[rows] * self._capex.take(rows))


class LeaseBook:
    """Leases of watts from a lessor to a lessee. ``watts`` and ``price`` are (S, L).

    A lease lets watts, not particular chips: the leased watts carry the
    lessor's fleet mix of hardware (pro rata to what it owns that month). If a
    lessor's fleet shrinks below what it has let, all its leases shrink pro
    rata, so a watt is never let twice.
    """

    def __init__(self, n_hardware: int, n_agents: int, watts: np.ndarray | None = None,
                 price_usd_per_w_year: np.ndarray | None = None):
        self.n_hardware, self.n_agents = n_hardware, n_agents
        s = 1 if watts is None else watts.shape[0]
        self.lessor = np.zeros(0, dtype=int)
        self.lessee = np.zeros(0, dtype=int)
        self.start_step = np.zeros(0, dtype=int)
        self.end_step = np.zeros(0, dtype=int)
        self.renew = np.zeros(0, dtype=bool)
        self._watts = Columns(np.zeros((s, 0)) if watts is None else watts)
        self._price = Columns(np.zeros((s, 0)) if price_usd_per_w_year is None else price_usd_per_w_year)
        self.note: list[str] = []
        self._edits = 0  #: edits of existing rows (renewal flags, ended leases): a cached sum is stale after one
        self._nominal = RowSums()

    @property
    def watts(self) -> np.ndarray:
        """(S, L) watts of each lease (a view: writes go through)."""
        return self._watts.view

    @property
    def price_usd_per_w_year(self) -> np.ndarray:
        """(S, L) rent of each lease, $/W-yr."""
        return self._price.view

    def add(self, lessor: int, lessee: int, watts, start_step: int, months: int, price_usd_per_w_year,
            note: str = "", renew: bool = False) -> int:
        self.lessor = np.append(self.lessor, lessor)
        self.lessee = np.append(self.lessee, lessee)
        self.start_step = np.append(self.start_step, start_step)
        self.end_step = np.append(self.end_step, start_step + months)
        self.renew = np.append(self.renew, renew)
        self._watts.append(watts)
        self._price.append(price_usd_per_w_year)
        self.note.append(note)
        return len(self.lessor) - 1

    def renew_expiring(self, step: int, keep: np.ndarray | None = None, rent_now: np.ndarray | None = None) -> None:
        """Roll over leases marked ``renew`` that end at ``step`` for the same term.

        ``keep`` ((S, A) in [0, 1]): the share of the watts of its expiring
        leases each lessee renews (0: it lets them lapse; the rest go back to
        the lessor at the end of the term, which costs no penalty). ``rent_now``
        ((S, A), NaN where a lessor has no list rent): the renewal is at the
        lessor's rent of the day; where that is not a finite number (scenario
        by scenario), at the old price.
        """
        for row in np.flatnonzero(self.renew & (self.end_step == step)):
            self.renew[row] = False
            self._edits += 1
            lessee, lessor = int(self.lessee[row]), int(self.lessor[row])
            watts = self.watts[:, row] if keep is None else self.watts[:, row] * keep[:, lessee]
            price = self.price_usd_per_w_year[:, row]
            if rent_now is not None:
                price = np.where(np.isfinite(rent_now[:, lessor]), rent_now[:, lessor], price)
            self.add(lessor, lessee, watts, step, int(self.end_step[row] - self.start_step[row]), price,
                     self.note[row], renew=True)

    def expiring_watts(self, step: int, party: int) -> np.ndarray:
        """(S,) watts of the leases to ``party`` marked to renew whose term ends at ``step``."""
        rows = np.flatnonzero(self.renew & (self.end_step == step) & (self.lessee == party))
        return self._watts.take(rows).sum(axis=1) if rows.size else np.zeros(self.watts.shape[0])

    def end_for(self, party: int, scenarios: np.ndarray) -> None:
        """End every lease to or from ``party`` in the ``scenarios`` (bool (S,)) where it failed."""
        rows = (self.lessee == party) | (self.lessor == party)
        self.watts[np.ix_(scenarios, rows)] = 0.0
        self._edits += 1

    def nominal_watts(self, step: int, party: int | None, role: str) -> np.ndarray:
        """Watts signed to be let at ``step`` (leases marked to renew counted as renewed), by
        ``role`` (``"lessee"`` or ``"lessor"``): (S,) for one ``party``, (S, A) for None."""
        chosen = lambda lo: (self.start_step[lo:] <= step) & ((step < self.end_step[lo:]) | self.renew[lo:])  # noqa: E731
        by_party = self._nominal.get((step, role), self._watts, self._edits, chosen,
                                     self.lessee if role == "lessee" else self.lessor, self.n_agents)
        return by_party.copy() if party is None else by_party[:, party].copy()

    def active(self, step: int) -> np.ndarray:
        return (self.start_step <= step) & (step < self.end_step)

    def forget_before(self, step: int) -> None:
        """Drop kept sums about months before ``step`` (the model moves on; nothing asks about them again)."""
        self._nominal.forget(lambda k: (k[1] if k[0] == "pending" else k[0]) < step)

    def _by_party(self, rows: np.ndarray, values: np.ndarray, role: str) -> np.ndarray:
        """Sum (..., len(rows)) values of the given leases into (..., A) by lessor or lessee."""
        party = self.lessee if role == "lessee" else self.lessor
        return sum_into(values, party[rows], self.n_agents)

    def _effective(self, step: int, owned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The leases running at ``step`` and the (S, rows) watts each delivers, given ``owned`` (S, H, A)."""
        rows = np.flatnonzero(self.active(step))
        nominal = self._watts.take(rows)
        let = self._by_party(rows, nominal, "lessor")  # (S, A) total let by each lessor
        owned_total = owned.sum(axis=1)
        over = let > owned_total
        if not over.any():  # the usual case: every lease delivers its watts
            return rows, nominal
        scale = np.ones_like(let)
        np.divide(owned_total, let, out=scale, where=over)
        return rows, nominal * scale[:, self.lessor[rows]]

    def pending_in(self, step: int, within: int | None = None) -> np.ndarray:
        """(S, A) watts each lessee has signed for that start after ``step``
        (and no later than ``step + within``, if given; do not modify the result: every lab bidding in
        a month reads the same sums)."""
        def chosen(lo: int) -> np.ndarray:
            future = self.start_step[lo:] > step
            return future if within is None else future & (self.start_step[lo:] <= step + within)

        return self._nominal.get(("pending", step, within), self._watts, self._edits, chosen, self.lessee,
                                 self.n_agents)

    def pending_out(self, step: int) -> np.ndarray:
        """(S, A) watts each lessor has promised that start after ``step``."""
        rows = np.flatnonzero(self.start_step > step)
        return self._by_party(rows, self._watts.take(rows), "lessor")

    def let_watts(self, step: int, owned: np.ndarray, party: int | None = None) -> np.ndarray:
        """(S, A) watts each lessor has let at ``step``; (S,) for one lessor ``party`` (its leases
        running then, at most all it owns)."""
        if party is not None:
            rows = np.flatnonzero(self.active(step) & (self.lessor == party))
            nominal = self._by_party(rows, self._watts.take(rows), "lessor")[:, party]
            return np.minimum(nominal, owned.sum(axis=1)[:, party])
        rows, eff = self._effective(step, owned)
        return self._by_party(rows, eff, "lessor")

    def flows(self, step: int, owned: np.ndarray) -> "LeaseFlows":
        """Watts let and used by (hardware, agent), and annual rent paid and received."""
        rows, eff = self._effective(step, owned)  # (S, rows)
        owned_total = owned.sum(axis=1, keepdims=True)
        mix = np.divide(owned, owned_total, out=np.zeros_like(owned), where=owned_total > 0)  # (S, H, A)
        # watts let from each lessor to each lessee, then spread over the lessor's hardware mix
        n = self.n_agents
        pair = sum_into(eff, self.lessor[rows] * n + self.lessee[rows], n * n).reshape(-1, n, n)  # (S, A, A)
        leased_in = np.zeros(owned.shape)
        for lessor in np.unique(self.lessor[rows]):  # in order of lessor: the same sums in any batch
            leased_in += mix[:, :, lessor, None] * pair[:, None, lessor, :]
        rent = sum_into(eff * self._price.take(rows), self.lessor[rows] * n + self.lessee[rows],
                        n * n).reshape(-1, n, n)  # (S, lessor, lessee) rent a year
        return LeaseFlows(leased_out=mix * pair.sum(axis=2)[:, None, :], leased_in=leased_in,
                          rent_paid_usd_per_year=rent.sum(axis=1), rent_received_usd_per_year=rent.sum(axis=2))


@dataclass(frozen=True, slots=True)
class LeaseFlows:
    """What the leases running in a month move: watts by (hardware, agent), rent a year by agent."""

    leased_out: np.ndarray  #: (S, H, A)
    leased_in: np.ndarray  #: (S, H, A)
    rent_paid_usd_per_year: np.ndarray  #: (S, A)
    rent_received_usd_per_year: np.ndarray  #: (S, A)
