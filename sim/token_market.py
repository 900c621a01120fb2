"""The token market: logit choice, capacity-constrained water-filling, pricing.

Pure numpy over arrays shaped ``(..., N, P)``: leading axes (scenarios), demand
cells ``N`` (customer classes of every segment) and providers ``P`` (labs and
the open-weights fringe). The outside option (not using AI this month) is an
extra utility per cell with unlimited capacity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from wattyear.sim.kernel import max_last, sum_axis1, sum_last

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


def logit_weights(utilities, outside_utility):
    """Unnormalised logit weights of the providers and of the outside option.

    ``w = exp(u − m)``, ``w_out = exp(u_out − m)`` with ``m`` each cell's
    largest utility (the outside option included), so nothing overflows; a
    provider's share among any set of open ones is its weight over their sum
    plus ``w_out``. Computed once a month: a provider that fills up is removed
    by leaving its weight out, with no new exponentials (utilities within
    ~700 of each other, as any real ones are, lose nothing to underflow).
    Shapes ``(..., N, P)`` and ``(..., N)``.

    >>> w, w_out = logit_weights(np.array([[0.0, np.log(3.0)]]), np.array([0.0]))
    >>> (w / (w.sum(axis=-1) + w_out)[:, None]).round(6).tolist()
    [[0.2, 0.6]]
    """
    u = np.asarray(utilities, dtype=float)
    outside = np.broadcast_to(np.asarray(outside_utility, dtype=float), u.shape[:-1])
    m = np.maximum(max_last(u), outside)
    m[~np.isfinite(m)] = 0.0
    w = u - m[..., None]
    np.exp(w, out=w)
    return w, np.exp(outside - m)


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
    if available is not None:
        u = np.where(available, u, -np.inf)
    outside = -np.inf if outside_utility is None else outside_utility
    w, w_out = logit_weights(u, outside)
    return _shares(w, w_out)


def _shares(w, w_out, out=None):
    """Shares from weights: w / (Σ w + w_out), 0 where everything has weight 0."""
    total = sum_last(w)
    total += w_out
    np.divide(1.0, total, out=total, where=total > 0)
    return np.multiply(w, total[..., None], out=out)


class Clearing(NamedTuple):
    """Result of one month's token market."""

    first_choice: np.ndarray  #: (..., N, P) tokens asked of each provider before rationing
    asked: np.ndarray  #: (..., N, P) all tokens asked of each provider, spill-over included
    served: np.ndarray  #: (..., N, P) tokens served
    outside: np.ndarray  #: (..., N) demand of customers who chose the outside option first
    unserved: np.ndarray  #: (..., N) demand turned away everywhere (spilled to the outside option)
    served_demand: np.ndarray  #: (..., N) demand served, in the units of ``demand`` (tokens at reference prices)
    rounds: int  #: water-filling rounds used


def water_fill(demand, utilities, outside_utility, capacity, *, compute_per_token=None, usage=None, tol=1e-12,
               weights=None):
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
    re-chooses with the demand it came with. ``weights``: the month's
    ``logit_weights`` if already computed.

    Round 1: every cell splits its demand by logit over all providers and the
    outside option. A provider asked for more than its remaining capacity serves
    exactly its capacity, pro rata across cells, and is then full. The turned-away
    tokens re-choose among the providers not yet full and the outside option (the
    customers' next choices; logit's independence of irrelevant alternatives makes
    this the same logit with full providers removed). Repeat until nothing is
    turned away. Each round fills at least one provider, so at most P + 1 rounds.
    Tokens that end in the outside option after being turned away are
    *unserved*: demand nobody could serve.

    Leading axes are scenarios: a round after the first works only on the
    scenarios with something still to place, each exactly as it would alone.

    Two providers of equal utility, capacities 30 and 100, no outside option to
    speak of, demand 100: round 1 asks 50 of each; A serves 30, 20 spill to B,
    which serves 70 in all.

    >>> c = water_fill(np.array([100.0]), np.array([[0.0, 0.0]]), np.array([-50.0]),
    ...                np.array([30.0, 100.0]))
    >>> c.served.round(9).tolist(), c.unserved.round(9).tolist()
    ([[30.0, 70.0]], [0.0])
    """
    u = np.asarray(utilities, dtype=float)
    lead, (n_cells, n_providers) = u.shape[:-2], u.shape[-2:]
    s = int(np.prod(lead, dtype=np.int64))
    shape3 = (s, n_cells, n_providers)
    demand = np.broadcast_to(np.asarray(demand, dtype=float), lead + (n_cells,)).reshape(s, n_cells)
    w, w_out = weights if weights is not None else logit_weights(u, outside_utility)
    w, w_out = w.reshape(shape3), np.broadcast_to(w_out, lead + (n_cells,)).reshape(s, n_cells)
    phi = None if compute_per_token is None else np.broadcast_to(
        np.asarray(compute_per_token, dtype=float), lead + (n_cells, n_providers)).reshape(shape3)
    r = None if usage is None else np.broadcast_to(
        np.asarray(usage, dtype=float), lead + (n_cells, n_providers)).reshape(shape3)
    remaining = np.array(np.broadcast_to(capacity, lead + (n_providers,)), dtype=float).reshape(s, n_providers)
    open_ = remaining > 0
    served, asked = np.zeros(shape3), np.zeros(shape3)
    served_demand, outside, unserved = np.zeros((s, n_cells)), np.zeros((s, n_cells)), np.zeros((s, n_cells))
    pending = demand.copy()
    first_choice = None
    # three working arrays for the whole call (a round writes into their first rows): a fresh
    # (S, N, P) array each operation would cost more in page faults than the arithmetic does
    choosing_buf, want_buf, load_buf = np.empty(shape3), np.empty(shape3), np.empty(shape3)
    rows = slice(None)  # the scenarios still placing demand (all in round 1)
    rounds = 0
    for rounds in range(1, n_providers + 2):
        take = lambda a: a[rows]  # noqa: E731
        w_r, open_r, pending_r, remaining_r = take(w), take(open_), take(pending), take(remaining)
        k = w_r.shape[0]
        choosing, want, load = choosing_buf[:k], want_buf[:k], load_buf[:k]
        # demand choosing each provider: pending × w / (Σ open w + w_out). The shares are formed first:
        # once the favourite is full the open weights can be vanishingly small (utilities ~700 apart), and
        # pending / Σ w would overflow where w / Σ w stays a share
        np.multiply(w_r, open_r[:, None, :], out=choosing)
        scale = sum_last(choosing)
        scale += take(w_out)
        positive = (scale > 0)[..., None]
        np.divide(choosing, scale[..., None], out=choosing, where=positive)  # (1 / Σ w itself can overflow)
        choosing *= positive
        choosing *= pending_r[..., None]
        if r is None:  # tokens they ask for
            want[...] = choosing
        else:
            np.multiply(choosing, take(r), out=want)
        to_outside = pending_r - sum_last(choosing)
        if first_choice is None:
            first_choice = want.copy()
            outside += to_outside
        else:
            unserved[rows] += to_outside
        asked[rows] += want
        if phi is None:  # in capacity units
            load[...] = want
        else:
            np.multiply(want, take(phi), out=load)
        want_total = sum_axis1(load)  # (k, P)
        over = want_total > remaining_r
        ratio = np.ones_like(remaining_r)
        np.divide(remaining_r, want_total, out=ratio, where=over & (want_total > 0))
        ratio3 = ratio[:, None, :]
        want *= ratio3
        served[rows] += want
        load *= ratio3
        remaining_r = np.where(over, 0.0, remaining_r - sum_axis1(load))
        remaining[rows] = remaining_r
        open_[rows] = open_r & ~over
        kept = np.multiply(choosing, ratio3, out=load)  # demand served, in demand units
        served_demand[rows] += sum_last(kept)
        choosing -= kept
        pending_r = sum_last(choosing)
        # a cell with next to nothing left is done, here and now: its remainder is unserved and it
        # takes no further round, so a scenario ends the same whatever other scenarios still do
        done = pending_r <= tol * np.maximum(take(demand), 1.0)
        unserved[rows] += np.where(done, pending_r, 0.0)
        pending[rows] = np.where(done, 0.0, pending_r)
        still = np.any(pending > 0, axis=-1)
        if not np.any(still):
            break
        # the next round works on the scenarios with demand left (copying them out costs more than it
        # saves when most have some; a scenario with none left adds exact zeros either way)
        rows = np.flatnonzero(still) if still.mean() < 0.5 else slice(None)
    unserved += pending  # only non-zero if every provider is full
    out = (first_choice, asked, served)
    return Clearing(*(a.reshape(lead + (n_cells, n_providers)) for a in out),
                    *(a.reshape(lead + (n_cells,)) for a in (outside, unserved, served_demand)), rounds)
