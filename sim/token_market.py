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


class NestedWeights(NamedTuple):
    """A month's nested-logit weights, computed once (``nested_weights``); shapes (..., N, P) per provider,
    (..., N, G) per nest, (..., N) per cell."""

    within: np.ndarray  #: (..., N, P) exp((u − M_g)/λ): a provider's weight within its nest (≤ 1)
    top: np.ndarray  #: (..., N, G) exp(M_g − m): each nest's scale against the cell's largest utility
    scale: np.ndarray  #: (..., N) λ = 1 − σ, the nest parameter's complement (1: plain logit)
    outside: np.ndarray  #: (..., N) exp(u_out − m), the outside option's weight
    members: np.ndarray  #: (P, G) 1.0 where provider p is in nest g


def nest_members(nest_of) -> np.ndarray:
    """(P, G) 1.0 where provider p is in nest g, from each provider's nest index ``nest_of`` (P,).

    >>> nest_members([0, 0, 1]).tolist()
    [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    nest_of = np.asarray(nest_of)
    return (nest_of[:, None] == np.arange(nest_of.max() + 1)[None, :]).astype(float)


def nested_weights(utilities, outside_utility, nest_of=None, nest_scale=1.0) -> NestedWeights:
    """Weights of a nested logit (McFadden 1978; Berry 1994): providers in nests, the outside option apart.

    A customer picks provider j of nest g with probability s_j = s_(j|g)·s_g, where
    s_(j|g) = exp(u_j/λ) / D_g, D_g = Σ_(k∈g) exp(u_k/λ), and s_g = D_g^λ / (exp(u_out) + Σ_h D_h^λ);
    λ = 1 − σ with σ ∈ [0, 1) the nest parameter (σ = 0: plain logit; σ → 1: a nest's members are
    perfect substitutes). Computed stably: u − M_g within a nest (M_g its largest utility), and every
    nest's scale against the cell's largest utility m. ``nest_of`` (P,) ints (default: one nest of all);
    ``nest_scale`` λ broadcastable to (..., N). A provider with utility −∞ has weight 0.

    >>> nw = nested_weights(np.array([[0.0, np.log(3.0)]]), np.array([0.0]))
    >>> [x.round(6).tolist() for x in nested_shares(nw)]
    [[[0.2, 0.6]], [0.2]]
    """
    u = np.asarray(utilities, dtype=float)
    n_providers = u.shape[-1]
    members = nest_members(np.zeros(n_providers, dtype=int) if nest_of is None else nest_of)  # (P, G)
    outside = np.broadcast_to(np.asarray(outside_utility, dtype=float), u.shape[:-1])
    lam = np.broadcast_to(np.asarray(nest_scale, dtype=float), u.shape[:-1])
    # each nest's largest utility (−∞ for an empty or all-failed nest)
    nest_max = np.stack([max_last(np.where(members[:, g] > 0, u, -np.inf)) for g in range(members.shape[1])],
                        axis=-1)
    m = np.maximum(max_last(u), outside)
    m[~np.isfinite(m)] = 0.0
    safe_max = np.where(np.isfinite(nest_max), nest_max, 0.0)
    within = u - (safe_max @ members.T)
    within /= lam[..., None]
    np.exp(within, out=within)
    top = np.exp(np.where(np.isfinite(nest_max), nest_max - m[..., None], -np.inf))
    return NestedWeights(within, top, lam, np.exp(outside - m), members)


#: a cell whose largest remaining weight is below this (against its leader's 1) is rescaled before its sum
FAINT_WEIGHT = 1e-250


def nest_sums(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(..., G) sums of (..., P) values over each nest's members, slice after slice in provider order (the
    same bits for a scenario whatever the ensemble around it, as ``kernel.sum_last``; a batched matmul
    would leave the order of its additions to BLAS).

    >>> nest_sums(np.array([[1.0, 2.0, 4.0]]), np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).tolist()
    [[3.0, 4.0]]
    """
    out = np.zeros(values.shape[:-1] + (members.shape[1],))
    for g in range(members.shape[1]):
        for p in np.flatnonzero(members[:, g]):
            out[..., g] += values[..., p]
    return out


def nested_shares(nw: NestedWeights, available=None, out=None) -> tuple[np.ndarray, np.ndarray]:
    """(shares of the providers (..., N, P), share of the outside option (..., N)) among the providers
    ``available`` (bool broadcastable to (..., N, P); default all) and the outside option; 0 where a
    cell has no option with weight.

    The leader of a cell unavailable (full) and every other option over 708 utils below it: the remaining
    weights are subnormal (their sum's inverse overflowed: NaN shares), and their shares are those of the
    options left, e^-5 / (1 + e^-5) = 0.006693 and 0.993307:

    >>> nw = nested_weights(np.array([[0.0, -720.0]]), np.array([-715.0]))
    >>> shares, outside = nested_shares(nw, np.array([[False, True]]))
    >>> [round(float(x), 6) for x in (*shares[0], outside[0])]
    [0.0, 0.006693, 0.993307]
    """
    e = nw.within if available is None else np.multiply(nw.within, available, out=out)
    nest_sum = nest_sums(e, nw.members)  # (..., N, G)
    top = nest_sum ** nw.scale[..., None]
    top *= nw.top
    outside = nw.outside
    # with the cell's leader unavailable, every remaining weight can sit hundreds of e-folds below it: their
    # sum underflows toward a subnormal whose inverse overflows (inf × 0: NaN shares). Such cells are scaled
    # by a power of two (exact) that brings their largest weight to [0.5, 1); other cells are left as they are
    big = np.maximum(max_last(top), outside)
    faint = (big > 0) & (big < FAINT_WEIGHT)
    if faint.any():
        exponent = np.where(faint, np.frexp(np.where(faint, big, 1.0))[1], 0)
        top = np.ldexp(top, -exponent[..., None])
        outside = np.ldexp(outside, -exponent)
    total = sum_last(top)
    total += outside
    np.divide(1.0, total, out=total, where=total > 0)
    top *= total[..., None]  # each nest's share
    # s_j = (e_j / D_g) · s_g: the share within the nest first (≤ 1), so a nest whose available members all
    # sit far below an unavailable leader (D_g subnormal) does not overflow s_g / D_g
    each_sum = nest_sum @ nw.members.T  # (..., P): D_g of each provider's nest (one nest each: exact)
    shares = np.divide(e, each_sum, out=e if e is not nw.within else np.zeros(e.shape), where=each_sum > 0)
    shares *= top @ nw.members.T
    return shares, outside * total


def logit_weights(utilities, outside_utility):
    """Weights of a plain logit: ``nested_weights`` with one nest and λ = 1.

    >>> w = logit_weights(np.array([[0.0, np.log(3.0)]]), np.array([0.0]))
    >>> nested_shares(w)[0].round(6).tolist()
    [[0.2, 0.6]]
    """
    return nested_weights(utilities, outside_utility)


def logit_shares(utilities, outside_utility=None, available=None, *, nest_of=None, nest_scale=1.0):
    """(Nested-)logit choice shares over the last axis.

    With ``outside_utility`` (shape ``(..., N)``), the returned shares over
    providers sum to less than 1, the rest choosing the outside option.
    ``available`` (bool, broadcastable to ``utilities``) removes providers;
    ``nest_of`` and ``nest_scale`` as for ``nested_weights``.

    >>> s = logit_shares(np.array([[0.0, np.log(3.0)]]))
    >>> s.round(6).tolist()
    [[0.25, 0.75]]
    >>> logit_shares(np.array([[0.0, 0.0]]), outside_utility=np.array([0.0])).round(6).tolist()
    [[0.333333, 0.333333]]

    Two close substitutes in one nest (σ = 0.5) and a third option alone: the nest's members share
    what they would win as one option, not two.

    >>> logit_shares(np.array([[0.0, 0.0, 0.0]]), nest_of=[0, 0, 1], nest_scale=0.5).round(6).tolist()
    [[0.292893, 0.292893, 0.414214]]
    """
    u = np.asarray(utilities, dtype=float)
    if available is not None:
        u = np.where(available, u, -np.inf)
    outside = -np.inf if outside_utility is None else outside_utility
    return nested_shares(nested_weights(u, outside, nest_of, nest_scale))[0]


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
               weights: NestedWeights | None = None):
    """Allocate demand to providers by (nested) logit, rationing those over capacity.

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
    ``nested_weights`` (default: a plain logit of ``utilities``).

    Round 1: every cell splits its demand by the (nested) logit over all providers
    and the outside option. A provider asked for more than its remaining capacity
    serves exactly its capacity, pro rata across cells, and is then full. The
    turned-away customers take their next choices among the providers not yet full
    and the outside option: the diversion ratios of the choice model,
    (s_k(open now) − s_k(open before)) / s(just filled) (any random-utility model:
    what k gains when the full ones leave is the demand whose first choice they were,
    so a closed lab's customers go first to its nest-mates; for a plain logit this is
    the same logit with full providers removed). Repeat until nothing is
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
    nw = weights if weights is not None else logit_weights(u, outside_utility)
    n_nests = nw.members.shape[1]
    nw = NestedWeights(nw.within.reshape(shape3), nw.top.reshape(s, n_cells, n_nests),
                       np.broadcast_to(nw.scale, lead + (n_cells,)).reshape(s, n_cells),
                       np.broadcast_to(nw.outside, lead + (n_cells,)).reshape(s, n_cells), nw.members)
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
    before, before_out = np.empty(shape3), np.empty((s, n_cells))  # each cell's shares in the round before
    rows = slice(None)  # the scenarios still placing demand (all in round 1)
    rounds = 0
    for rounds in range(1, n_providers + 2):
        take = lambda a: a[rows]  # noqa: E731
        open_r, pending_r, remaining_r = take(open_), take(pending), take(remaining)
        k = open_r.shape[0]
        choosing, want, load = choosing_buf[:k], want_buf[:k], load_buf[:k]
        nw_r = NestedWeights(take(nw.within), take(nw.top), take(nw.scale), take(nw.outside), nw.members)
        # the shares are formed first: once the favourite is full the open weights can be vanishingly small
        # (utilities ~700 apart), and pending / Σ w would overflow where w / Σ w stays a share
        share, share_out = nested_shares(nw_r, open_r[:, None, :], out=choosing)
        if rounds > 1:  # the turned-away customers' next choices: what each option gains as the full ones go
            gained = np.subtract(share, take(before), out=load)
            np.maximum(gained, 0.0, out=gained)
            gained_out = np.maximum(share_out - take(before_out), 0.0)
            lost = sum_last(gained) + gained_out
            diverts = lost > 1e-12 * np.maximum(sum_last(share) + share_out, 1e-300)
            before[rows], before_out[rows] = share, share_out
            np.divide(gained, lost[..., None], out=gained, where=diverts[..., None])
            share = np.where(diverts[..., None], gained, share / np.maximum(sum_last(share) + share_out,
                                                                              1e-300)[..., None])
            choosing[...] = share
        else:
            before[rows], before_out[rows] = share, share_out
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
