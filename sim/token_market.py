"""The token market: logit choice, capacity-constrained water-filling, pricing.

Pure numpy over arrays shaped ``(..., N, P)``: leading axes (scenarios), demand
cells ``N`` (customer classes of every segment) and providers ``P`` (labs and
the open-weights fringe). The outside option (not using AI this month) is an
extra utility per cell with unlimited capacity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Prices are floored here before taking logs, so a free tier (price 0) gives a
#: finite log; free segments carry ``beta_price = 0`` so the term vanishes.
PRICE_FLOOR_USD_PER_MTOK = 1e-9


def utility(quality, log_price, affinity, prev_share, *, beta_quality, beta_price, inertia):
    """Deterministic utility of each provider for each demand cell.

    u = β_q·quality − β_p·ln(price) + affinity + inertia·(last month's share).

    Shapes: ``quality`` ``(..., 1, P)``; ``log_price``, ``affinity``,
    ``prev_share`` ``(..., N, P)``; ``beta_*`` and ``inertia`` ``(N, 1)``.
    """
    return beta_quality * quality - beta_price * log_price + affinity + inertia * prev_share


def logit_shares(utilities, outside_utility=None, available=None):
    """Multinomial-logit choice shares over the last axis.

    With ``outside_utility`` (shape ``(..., N)``), the returned shares over
    providers sum to less than 1, the rest choosing the outside option.
    ``available`` (bool, broadcastable to ``utilities``) removes providers.
    Numerically stable (the max utility is subtracted first).

    >>> s = logit_shares(np.array([[0.0, np.log(3.0)]]))
    >>> s.round(6).tolist()
    [[0.25, 0.75]]
    >>> logit_shares(np.array([[0.0, 0.0]]), outside_utility=np.array([0.0])).round(6).tolist()
    [[0.333333, 0.333333]]
    """
    u = np.asarray(utilities, dtype=float)
    if outside_utility is not None:
        outside = np.broadcast_to(np.asarray(outside_utility, dtype=float), u.shape[:-1])
        u = np.concatenate([u, outside[..., None]], axis=-1)
    mask = np.ones(u.shape, dtype=bool)
    if available is not None:
        av = np.broadcast_to(available, u.shape[:-1] + (u.shape[-1] - (outside_utility is not None),))
        if outside_utility is not None:
            av = np.concatenate([av, np.ones(av.shape[:-1] + (1,), dtype=bool)], axis=-1)
        mask = np.broadcast_to(av, u.shape)
    u_max = np.max(np.where(mask, u, -np.inf), axis=-1, keepdims=True)
    u_max = np.where(np.isfinite(u_max), u_max, 0.0)
    w = np.where(mask, np.exp(u - u_max), 0.0)
    total = w.sum(axis=-1, keepdims=True)
    shares = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    return shares[..., :-1] if outside_utility is not None else shares


class Clearing(NamedTuple):
    """Result of one month's token market."""

    first_choice: np.ndarray  #: (..., N, P) tokens asked of each provider before rationing
    asked: np.ndarray  #: (..., N, P) all tokens asked of each provider, spill-over included
    served: np.ndarray  #: (..., N, P) tokens served
    outside: np.ndarray  #: (..., N) demand of customers who chose the outside option first
    unserved: np.ndarray  #: (..., N) demand turned away everywhere (spilled to the outside option)
    served_demand: np.ndarray  #: (..., N) demand served, in the units of ``demand`` (tokens at reference prices)
    rounds: int  #: water-filling rounds used


def water_fill(demand, utilities, outside_utility, capacity, *, compute_per_token=None, usage=None, tol=1e-12):
    """Allocate demand to providers by logit, rationing those over capacity.

    ``demand`` ``(..., N)`` tokens wanted by each cell; ``utilities``
    ``(..., N, P)``; ``outside_utility`` ``(..., N)``; ``capacity`` ``(..., P)``
    tokens each provider can serve this month. With ``compute_per_token``
    (broadcastable to ``(..., N, P)``), capacity is in compute and a token of
    cell n at provider p takes φ[n, p] of it (a frontier token costs more than
    a small model's); tokens are still what customers ask for and are served.
    With ``usage`` (broadcastable to ``(..., N, P)``), a customer of provider p
    uses ``usage[n, p]`` times the tokens ``demand`` counts (its usage responds
    to that provider's price): the logit splits customers (demand at reference
    prices), who then ask for their provider's tokens; a customer turned away
    re-chooses with the demand it came with.

    Round 1: every cell splits its demand by logit over all providers and the
    outside option. A provider asked for more than its remaining capacity serves
    exactly its capacity, pro rata across cells, and is then full. The turned-away
    tokens re-choose among the providers not yet full and the outside option (the
    customers' next choices; logit's independence of irrelevant alternatives makes
    this the same logit with full providers removed). Repeat until nothing is
    turned away. Each round fills at least one provider, so at most P + 1 rounds.
    Tokens that end in the outside option after being turned away are
    *unserved*: demand nobody could serve.

    Two providers of equal utility, capacities 30 and 100, no outside option to
    speak of, demand 100: round 1 asks 50 of each; A serves 30, 20 spill to B,
    which serves 70 in all.

    >>> c = water_fill(np.array([100.0]), np.array([[0.0, 0.0]]), np.array([-50.0]),
    ...                np.array([30.0, 100.0]))
    >>> c.served.round(9).tolist(), c.unserved.round(9).tolist()
    ([[30.0, 70.0]], [0.0])
    """
    demand = np.asarray(demand, dtype=float)
    u = np.asarray(utilities, dtype=float)
    phi = None if compute_per_token is None else np.asarray(compute_per_token, dtype=float)
    r = np.ones(u.shape) if usage is None else np.broadcast_to(np.asarray(usage, dtype=float), u.shape)
    served_demand = np.zeros(demand.shape)
    remaining = np.array(np.broadcast_to(capacity, u.shape[:-2] + u.shape[-1:]), dtype=float)
    open_ = remaining > 0
    served = np.zeros(u.shape)
    asked = np.zeros(u.shape)
    pending = demand.copy()
    outside = np.zeros(demand.shape)
    unserved = np.zeros(demand.shape)
    first_choice = None
    n_providers = u.shape[-1]
    rounds = 0
    for rounds in range(1, n_providers + 2):
        shares = logit_shares(u, outside_utility, available=open_[..., None, :])
        choosing = pending[..., None] * shares  # (..., N, P) demand choosing each provider
        want = choosing * r  # tokens they ask for
        to_outside = pending - choosing.sum(axis=-1)
        if first_choice is None:
            first_choice = want
            outside += to_outside
        else:
            unserved += to_outside
        asked += want
        want_total = (want if phi is None else want * phi).sum(axis=-2)  # (..., P) in capacity units
        over = want_total > remaining
        ratio = np.where(over, np.divide(remaining, want_total, out=np.ones_like(remaining),
                                         where=want_total > 0), 1.0)
        got = want * ratio[..., None, :]
        served += got
        served_demand += (choosing * ratio[..., None, :]).sum(axis=-1)
        remaining = np.where(over, 0.0, remaining - (got if phi is None else got * phi).sum(axis=-2))
        open_ &= ~over
        pending = (choosing * (1.0 - ratio[..., None, :])).sum(axis=-1)
        # a cell with next to nothing left is done, here and now: its remainder is unserved and it
        # takes no further round, so a scenario ends the same whatever other scenarios still do
        done = pending <= tol * np.maximum(demand, 1.0)
        unserved += np.where(done, pending, 0.0)
        pending = np.where(done, 0.0, pending)
        if not np.any(pending > 0):
            break
    unserved += pending  # only non-zero if every provider is full
    return Clearing(first_choice, asked, served, outside, unserved, served_demand, rounds)
