"""The token market of a month, as plain functions of the ``World`` and the state: what each customer
class thinks of each provider (utility), how its usage answers prices, the compute a token takes, and
the clearing itself: logit choice and water-filling against serving capacity (``sim.token_market``
holds the pure functions), returned as a ``TokenMonth``."""

from __future__ import annotations

import numpy as np

from wattyear.sim import kernel, token_market
from wattyear.sim.records import SupplyMonth, TokenMonth
from wattyear.sim.state import WorldState
from wattyear.sim.units import DT_YEARS, per_mtok, per_token
from wattyear.sim.world import World


def segment_sums(world: World, values: np.ndarray) -> np.ndarray:
    """Sum (S, N, ...) cell values into (S, K, ...) segments.

    One ``np.add.reduceat`` over the segments' contiguous runs of cells: its
    order of summation within a segment depends on the segment's length, never
    on the number of scenarios, so each scenario's sums are those of its single
    run.
    """
    return np.add.reduceat(np.ascontiguousarray(values), world.segment_starts, axis=1)


def priced_sums(world: World, by_segment: np.ndarray) -> np.ndarray:
    """(S, K, P) segment sums to (S, P) over the priced segments (free ones add exact zeros)."""
    return (by_segment * world.segment_priced[:, :, None]).sum(axis=1)


def utilities(world: World, st: WorldState) -> np.ndarray:
    """(S, N, P) utility of each provider to each customer class (``token_market.utility``); −∞ for a
    failed lab. All but the habit term are the same for every class of a segment: they are
    formed by segment and then copied to the classes."""
    log_price = np.log(np.maximum(st.price, token_market.PRICE_FLOOR_USD_PER_MTOK))
    by_segment = token_market.utility(st.quality[:, None, :], log_price, world.segment_affinity, 0.0,
                                      beta_quality=world.segment_beta_quality[:, :, None],
                                      beta_price=world.segment_beta_price[:, :, None], inertia=0.0)
    # a routed model is a smaller one: compute ω per flagship token is worth θ·ln(ω) of quality (θ =
    # world.routing_quality_per_ln_compute: distilled models lose less than a smaller frontier run would)
    theta = world.config["world"]["routing_quality_per_ln_compute"][:, None, None]
    by_segment += world.segment_beta_quality[:, :, None] * theta * np.log(np.maximum(st.routing, 1e-12))
    if st.failed.any():
        alive = np.concatenate([~st.failed, np.ones((st.failed.shape[0], 1), dtype=bool)], axis=1)
        by_segment[~alive[:, None, :].repeat(by_segment.shape[1], axis=1)] = -np.inf
    u = by_segment.take(world.cell_segment, axis=1)  # C order: a fancy index would put classes first
    u += world.cell_inertia * st.prev_share
    return u


def choice_weights(world: World, u: np.ndarray) -> token_market.NestedWeights:
    """The month's nested-logit weights of utilities ``u`` (S, N, P): closed labs in one nest, the
    fringe in its own, the outside option apart."""
    return token_market.nested_weights(u, world.cell_outside, world.nest_of, world.cell_nest_scale)


def reference_price(world: World, cell_share: np.ndarray, cell_weight: np.ndarray) -> np.ndarray:
    """(S, K) the common reference each priced segment's usage is measured against: the geometric mean
    of the closed labs' starting list prices, weighted by the customers each lab starts with
    (``cell_share`` (S, N, P), the starting habits; ``cell_weight`` (N,) each class's share of its
    segment's customers); 0 in a free segment."""
    labs = slice(0, world.n_labs)
    customers = segment_sums(world, cell_share * cell_weight[None, :, None])[:, :, labs]  # (S, K, L)
    log_price = np.log(np.maximum(world.start_price[:, :, labs], token_market.PRICE_FLOOR_USD_PER_MTOK))
    mean = kernel.safe_divide((customers * log_price).sum(axis=-1), customers.sum(axis=-1))
    return np.where(world.segment_priced, np.exp(mean), 0.0)


def usage(world: World, st: WorldState) -> np.ndarray:
    """(S, K, P) tokens a customer of each provider uses per token the segment's trend counts:
    (price / the segment's reference price)^(−ε) (1 where a segment or provider is free, and in a segment
    sold by the month: a plan's fee buys the plan, its use grows with the segment's trend).

    One reference for every provider of a segment: a cheaper provider's customers use more tokens
    (agents, longer contexts) and a fall of every price raises usage by ε, while a provider's spend
    per customer, p^(1−ε)·p̄^ε·τ, follows its own price (never pinned to where it started).
    """
    ref = world.reference_price[:, :, None]
    ratio = kernel.safe_divide(st.price, ref)
    ratio = np.where((ref > 0) & (st.price > 0) & ~world.segment_by_plan[:, :, None], np.maximum(ratio, 1e-12), 1.0)
    return ratio ** -world.segment_price_elasticity[:, :, None]


#: the largest share of a closed lab's tokens its customers may route to open weights (keeps 1 − x > 0)
MAX_OPEN_TASK_SHARE = 1.0 - 1e-9


def open_task_share(world: World, st: WorldState, fringe_open: np.ndarray) -> np.ndarray:
    """(S, K, P) share x of a closed lab's customers' tokens that they route, task by task, to open weights
    (multi-homing: a developer or business with a closed lab's key also calls an open model for the tasks
    it does well enough, cheaper); 0 for the fringe and for failed labs, in free and plan segments, and where
    the fringe has no serving capacity (``fringe_open`` (S,) bool).

    A task goes to open weights or stays with the customer's lab by a logit at the closed nest's scale (a
    customer that already calls both moves a task between them as readily as between two closed labs):

        x_kp = 1 / (1 + exp(−z)),  z = [a_k + β_q·(Q_o − Q_p) − β_p·(ln(p_o/p̄_k) − ln(p_kp/p_kp,0))] / λ_k

    a_k the segment's ``open_task_affinity`` (−1000: nothing is routed), Q_o the open weights' quality,
    p_o their price, p̄_k the segment's reference price, p_kp,0 the lab's starting price: its customers chose
    it at that price, so a lab's own price enters as its move since the start (a dear lab's customers are
    those who value it; a lab that raises its price sees more tasks leave). The customer's tokens at its
    lab are then r·(1 − x) and those it routes r·x, so the lab's token demand has the extra own-price
    elasticity ∂ln(1 − x)/∂ln p = (β_p/λ)·x (``pricing.own_price_elasticity``'s ``routed_share``)."""
    n_labs, f = world.n_labs, world.fringe_column
    floor = token_market.PRICE_FLOOR_USD_PER_MTOK
    lam = world.segment_nest_scale[:, :, None]
    ref = world.reference_price[:, :, None]
    log_open = np.log(np.maximum(st.price[:, :, f:f + 1], floor)) - np.log(np.maximum(ref, floor))
    log_move = (np.log(np.maximum(st.price[:, :, :n_labs], floor))
                - np.log(np.maximum(world.start_price[:, :, :n_labs], floor)))
    z = (world.segment_task_affinity[:, :, None]
         + world.segment_beta_quality[:, :, None] * (st.quality[:, None, f:f + 1] - st.quality[:, None, :n_labs])
         - world.segment_beta_price[:, :, None] * (log_open - log_move)) / lam
    x = np.exp(-np.logaddexp(0.0, -z))  # the logistic, without overflow for any z
    routes = (world.segment_priced & ~world.segment_by_plan)[:, :, None] & (ref > 0) & fringe_open[:, None, None]
    out = np.zeros(st.price.shape)
    out[:, :, :n_labs] = np.where(routes & ~st.failed[:, None, :], np.minimum(x, MAX_OPEN_TASK_SHARE), 0.0)
    return out


def compute_per_token(world: World, st: WorldState, fringe_size_quality: np.ndarray) -> np.ndarray:
    """(S, K, P) compute a token of each segment takes at each provider (routing × quality cost).

    A lab's frontier token costs more compute as its quality rises past where it started. The
    fringe's is set by the size class of the models it serves (``fringe.model_efficiency`` at the
    start), which follows the frontier's size ``fringe.size_class_lag_months`` later
    (``fringe_size_quality`` (S,), the frontier's quality then), whatever the open weights' quality: a
    better, or fresher, open model of the same size class costs the same to serve (the quality
    fraction, cadence and lag of releases change what it is worth, not what it costs)."""
    gamma = world.config["world"]["quality_compute_elasticity"][:, None, None]
    relative = st.quality - world.start_quality + 1.0
    relative[:, world.fringe_column] = (fringe_size_quality - world.start_quality[:, :world.n_labs].max(axis=1)
                                        + 1.0)
    return kernel.compute_per_token(relative[:, None, :], gamma, st.routing)


def clear_token_market(world: World, st: WorldState, supply: SupplyMonth, phi_segment: np.ndarray,
                       customers: np.ndarray, demand: np.ndarray) -> TokenMonth:
    """Logit choice and water-filling against serving capacity; ``phi_segment`` (S, K, P) is this
    month's compute per token, ``customers`` and ``demand`` (S, N) each customer class's customers and
    tokens wanted at the segment's reference price (the segments').

    Capacity is in compute tokens: the operated fleet's tokens at full
    load, less its training share, over the peak-to-average of the load it
    would serve (weighted by first choices in compute).
    """
    n_prov, f = world.n_providers, world.fringe_column
    u = utilities(world, st)
    phi = phi_segment.take(world.cell_segment, axis=1)  # (S, N, P)
    routed_share = open_task_share(world, st, supply.capacity_year[:, f] > 0)
    # the tokens a customer uses at its provider: its usage at that price, less the tasks it routes away
    usage_by_segment = usage(world, st) * (1.0 - routed_share)
    cell_usage = usage_by_segment.take(world.cell_segment, axis=1)
    weights = choice_weights(world, u)
    first, _ = token_market.nested_shares(weights)
    first *= demand[..., None]
    first *= cell_usage
    first *= phi
    first = segment_sums(world, first)  # (S, K, P) compute asked by first choices
    peak = kernel.safe_divide((first * world.segment_peak[:, :, None]).sum(axis=1), first.sum(axis=1))
    peak = np.where(peak > 0, peak, 1.0)
    serving_share = 1.0 - supply.training_share[:, :n_prov]
    capacity = supply.capacity_year[:, :n_prov] * DT_YEARS * serving_share / peak
    cleared = token_market.water_fill(demand, u, world.cell_outside, capacity, compute_per_token=phi,
                                      usage=cell_usage, weights=weights)
    sums = lambda x: segment_sums(world, x)  # noqa: E731
    # customers served: tokens served over the tokens one of the class's customers uses at that provider
    # (divided last: a usage that underflows to almost nothing at an absurd price serves almost nobody)
    served_customers = kernel.safe_divide(cleared.served * kernel.safe_divide(customers, demand)[..., None],
                                          cell_usage)
    asked, served = sums(cleared.asked), sums(cleared.served)
    routed_asked, routed_served = route_tasks(served, routed_share, phi_segment, capacity, f)
    asked[:, :, f] += routed_asked
    asked[:, :, :f] += routed_served[:, :, :f]  # tasks the fringe could not serve, asked back of their lab
    served += routed_served
    return TokenMonth(customers, demand, cleared, phi, cell_usage, usage_by_segment, peak, serving_share, capacity,
                      phi_segment, asked, served, sums(cleared.first_choice), sums(served_customers),
                      routed_share, routed_asked, routed_served)


def route_tasks(served: np.ndarray, routed_share: np.ndarray, phi: np.ndarray, capacity: np.ndarray,
                fringe: int) -> tuple[np.ndarray, np.ndarray]:
    """The tasks closed labs' customers route to open weights: (S, K) tokens asked of the fringe, and (S, K, P)
    tokens of routed tasks served, by the fringe (its column) and, where it could not, by their lab.

    A lab that served T tokens of a segment to customers routing x of their tokens away sent
    T·x/(1 − x) tokens to the fringe. The fringe serves them with the compute its own customers left
    (``served`` (S, K, P) before routing, ``phi`` (S, K, P) compute per token, ``capacity`` (S, P) in
    compute), pro rata across segments and labs when they do not fit. A task the fringe cannot take goes back
    to the customer's lab, which does it with the compute its own customers left (pro rata across segments);
    what neither can serve is the fringe's rate limit.

    Lab 0 served 60 tokens to customers routing a quarter of theirs: 20 asked of the fringe, which has 10 of
    its 40 left; the other 10 go back to lab 0, which has 5 left (capacity 65):

    >>> served = np.array([[[60.0, 30.0]]]); x = np.array([[[0.25, 0.0]]])
    >>> asked, done = route_tasks(served, x, np.ones((1, 1, 2)), np.array([[65.0, 40.0]]), 1)
    >>> asked.tolist(), done.tolist()
    ([[20.0]], [[[5.0, 10.0]]])
    """
    n_labs = fringe  # the closed labs are the columns before the fringe
    by_lab = served[:, :, :n_labs] * (routed_share[:, :, :n_labs] / (1.0 - routed_share[:, :, :n_labs]))
    routed = kernel.sum_last(by_lab)
    fringe_phi = phi[:, :, fringe]
    need = kernel.sum_last(routed * fringe_phi)
    left = np.maximum(capacity[:, fringe] - kernel.sum_last(served[:, :, fringe] * fringe_phi), 0.0)
    fill = _share_that_fits(need, left)
    done = np.zeros(served.shape)
    done[:, :, fringe] = routed * fill[:, None]
    if np.any(fill < 1.0):  # back to their labs, within what each has left
        back = by_lab * (1.0 - fill)[:, None, None]  # (S, K, L)
        lab_phi = phi[:, :, :n_labs]
        need_lab = kernel.sum_axis1(back * lab_phi)  # (S, L)
        left_lab = np.maximum(capacity[:, :n_labs] - kernel.sum_axis1(served[:, :, :n_labs] * lab_phi), 0.0)
        done[:, :, :n_labs] = back * _share_that_fits(need_lab, left_lab)[:, None, :]
    return routed, done


def _share_that_fits(need: np.ndarray, left: np.ndarray) -> np.ndarray:
    """The share of ``need`` that ``left`` can serve, pro rata: 1 where it all fits."""
    return np.where(need > left, kernel.safe_divide(left, need), 1.0)


def paid_usd_per_mtok(world: World, tokens: TokenMonth, price: np.ndarray) -> np.ndarray:
    """(S, K, P) what a token served cost its buyer, $/Mtok: the list price, or in a segment sold by the
    month its subscribers' fees over the tokens they used (0 where a plan served nothing)."""
    by_plan = world.segment_by_plan[:, :, None]
    if not by_plan.any():
        return price
    return np.where(by_plan, per_mtok(kernel.safe_divide(spend_usd(world, tokens, price), tokens.served)), price)


def spend_usd(world: World, tokens: TokenMonth, price: np.ndarray) -> np.ndarray:
    """(S, K, P) what each segment pays each provider this month at ``price`` (S, K, P): tokens served × the
    price per token, or, in a segment sold by the month, subscribers served × the monthly fee."""
    return np.where(world.segment_by_plan[:, :, None], tokens.served_customers * price,
                    tokens.served * per_token(price))
