"""Owned vintages and leases as columnar tables (one row per vintage or lease).

Like PyPSA's component tables: static columns (owner, hardware, dates) are 1-d
arrays over rows; quantities that can differ by scenario (watts, price) have a
leading scenario axis. Aggregation to (scenario, hardware, agent) is a matrix
product with a one-hot map, never a loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def starting_cohorts(watts: float, age_months: int, cohorts: int = 6) -> list[tuple[float, int]]:
    """Split starting watts into equal cohorts of evenly spread age.

    Returns ``(watts, in-service step)`` pairs; steps are ≤ 0 (already in
    service, their capex sunk). ``age_months = 0`` gives one new cohort.

    >>> starting_cohorts(6.0, 36, 3)
    [(2.0, -30), (2.0, -18), (2.0, -6)]
    """
    if age_months == 0:
        return [(watts, 0)]
    step = age_months / cohorts
    return [(watts / cohorts, -int(round(age_months - step * (i + 0.5)))) for i in range(cohorts)]


def one_hot(owner: np.ndarray, hardware: np.ndarray, n_hardware: int, n_agents: int) -> np.ndarray:
    """(rows, H·A) map from rows to (hardware, agent) cells."""
    out = np.zeros((len(owner), n_hardware * n_agents))
    out[np.arange(len(owner)), hardware * n_agents + owner] = 1.0
    return out


@dataclass
class Fleet:
    """Vintages of owned watts. ``watts`` has shape (S, V)."""

    n_hardware: int
    n_agents: int
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    hardware: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    start_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    end_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    capex_usd_per_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    watts: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))

    def add(self, owner: int, hardware: int, watts, start_step: int, life_months: float,
            capex_usd_per_w: float) -> int:
        """Append a vintage (watts scalar or shape (S,)); return its row."""
        self.owner = np.append(self.owner, owner)
        self.hardware = np.append(self.hardware, hardware)
        self.start_step = np.append(self.start_step, start_step)
        self.end_step = np.append(self.end_step, start_step + int(round(life_months)))
        self.capex_usd_per_w = np.append(self.capex_usd_per_w, capex_usd_per_w)
        column = np.broadcast_to(np.asarray(watts, dtype=float), (self.watts.shape[0],))[:, None]
        self.watts = np.concatenate([self.watts, column], axis=1)
        return len(self.owner) - 1

    def active(self, step: int) -> np.ndarray:
        return (self.start_step <= step) & (step < self.end_step)

    def by_cell(self, values: np.ndarray) -> np.ndarray:
        """Sum (S, V) row values into (S, H, A)."""
        s = values.shape[0]
        onehot = one_hot(self.owner, self.hardware, self.n_hardware, self.n_agents)
        return (values @ onehot).reshape(s, self.n_hardware, self.n_agents)

    def owned_watts(self, step: int) -> np.ndarray:
        """(S, H, A) watts in service."""
        return self.by_cell(self.watts * self.active(step))

    def retiring(self, step: int) -> np.ndarray:
        """Rows whose life ends at ``step``."""
        return np.flatnonzero(self.end_step == step)

    def capex_due_usd(self, step: int) -> np.ndarray:
        """(S, A) capex paid this step: vintages entering service after the start."""
        due = (self.start_step == step) & (step > 0)
        return self.by_cell(self.watts * due * self.capex_usd_per_w).sum(axis=1)


@dataclass
class LeaseBook:
    """Leases of watts from a lessor to a lessee. ``watts`` and ``price`` are (S, L).

    A lease lets watts, not particular chips: the leased watts carry the
    lessor's fleet mix of hardware (pro rata to what it owns that month). If a
    lessor's fleet shrinks below what it has let, all its leases shrink pro
    rata, so a watt is never let twice.
    """

    n_hardware: int
    n_agents: int
    lessor: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    lessee: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    start_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    end_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    renew: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    watts: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    price_usd_per_w_year: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    note: list = field(default_factory=list)

    def add(self, lessor: int, lessee: int, watts, start_step: int, months: int, price_usd_per_w_year,
            note: str = "", renew: bool = False) -> int:
        self.lessor = np.append(self.lessor, lessor)
        self.lessee = np.append(self.lessee, lessee)
        self.start_step = np.append(self.start_step, start_step)
        self.end_step = np.append(self.end_step, start_step + months)
        self.renew = np.append(self.renew, renew)
        s = self.watts.shape[0]
        self.watts = np.concatenate([self.watts, np.broadcast_to(np.asarray(watts, float), (s,))[:, None]], 1)
        price = np.broadcast_to(np.asarray(price_usd_per_w_year, float), (s,))[:, None]
        self.price_usd_per_w_year = np.concatenate([self.price_usd_per_w_year, price], axis=1)
        self.note.append(note)
        return len(self.lessor) - 1

    def renew_expiring(self, step: int) -> None:
        """Roll over leases marked ``renew`` that end at ``step``, same terms."""
        for row in np.flatnonzero(self.renew & (self.end_step == step)):
            self.renew[row] = False
            self.add(int(self.lessor[row]), int(self.lessee[row]), self.watts[:, row], step,
                     int(self.end_step[row] - self.start_step[row]), self.price_usd_per_w_year[:, row],
                     self.note[row], renew=True)

    def active(self, step: int) -> np.ndarray:
        return (self.start_step <= step) & (step < self.end_step)

    def _party_map(self, party: np.ndarray) -> np.ndarray:
        out = np.zeros((len(party), self.n_agents))
        out[np.arange(len(party)), party] = 1.0
        return out

    def effective_watts(self, step: int, owned: np.ndarray) -> np.ndarray:
        """(S, L) watts each lease delivers this step, given ``owned`` (S, H, A)."""
        nominal = self.watts * self.active(step)
        let = nominal @ self._party_map(self.lessor)  # (S, A) total let by each lessor
        owned_total = owned.sum(axis=1)
        scale = np.ones_like(let)
        np.divide(owned_total, let, out=scale, where=let > owned_total)
        return nominal * scale[:, self.lessor]

    def flows(self, step: int, owned: np.ndarray) -> dict[str, np.ndarray]:
        """Watts let and used by (hardware, agent), and annual rent paid and received."""
        s = owned.shape[0]
        eff = self.effective_watts(step, owned)  # (S, L)
        owned_total = owned.sum(axis=1, keepdims=True)
        mix = np.divide(owned, owned_total, out=np.zeros_like(owned), where=owned_total > 0)  # (S, H, A)
        by_lease = mix[:, :, self.lessor] * eff[:, None, :]  # (S, H, L)
        lessor_map, lessee_map = self._party_map(self.lessor), self._party_map(self.lessee)
        rent = eff * self.price_usd_per_w_year
        return {
            "leased_out": by_lease @ lessor_map if len(self.lessor) else np.zeros((s, self.n_hardware,
                                                                                   self.n_agents)),
            "leased_in": by_lease @ lessee_map if len(self.lessor) else np.zeros((s, self.n_hardware,
                                                                                  self.n_agents)),
            "rent_paid_usd_per_year": rent @ lessee_map,
            "rent_received_usd_per_year": rent @ lessor_map,
            "lease_watts": eff,
        }
