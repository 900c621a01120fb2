"""Prices, pure numpy: a provider's own-price elasticity under the nested logit, its Bertrand–Nash best
response (the Lerner rule) and the price rise that clears a rate-limited lab's capacity (Kreps–Scheinkman).
Used by ``FrontierLab.set_prices`` and the fringe."""

from __future__ import annotations

import numpy as np


def own_price_elasticity(beta_price, own_share, usage_elasticity=0.0, nest_share=None, nest_scale=1.0,
                         routed_share=0.0):
    """Elasticity of a provider's token demand to its own price: nested-logit choice, then usage.

    Customers choose a provider by a nested logit on −β_p·ln p (Berry 1994, with λ = 1 − σ): its share s
    responds as ∂ln s/∂ln p = −β_p·(1/λ − (1/λ − 1)·s_(j|g) − s), s_(j|g) its share of its nest; each of
    its customers then uses tokens in proportion to p^(−ε). Tokens = customers × s × usage, so
    η = β_p·(1/λ − (1/λ − 1)·s_(j|g) − s) + ε (the discrete–continuous demand of the IO literature). With
    λ = 1 (or alone in its nest, s_(j|g) = 1) this is the plain logit's β_p·(1 − s) + ε.
    ``own_share`` and ``nest_share`` are demand-weighted over the segment's customer classes (Σ d·s² / Σ d·s).
    Customers who route a share x of their tasks to open weights by a logit at the nest's scale
    (``routed_share``, ``token_month.open_task_share``) keep 1 − x at the lab, whose own-price elasticity
    is (β_p/λ)·x, so η gains that term.

    >>> float(own_price_elasticity(3.0, 0.5, 1.0))
    2.5
    >>> float(own_price_elasticity(1.0, 0.2, 0.0, nest_share=0.5, nest_scale=0.5))  # 2 − 1·0.5 − 0.2
    1.3
    >>> float(own_price_elasticity(1.0, 0.2, 0.0, nest_share=0.5, nest_scale=0.5, routed_share=0.25))  # + 2·0.25
    1.8
    """
    s = np.asarray(own_share, dtype=float)
    lam = np.asarray(nest_scale, dtype=float)
    within = s if nest_share is None else np.asarray(nest_share, dtype=float)
    return (np.asarray(beta_price, dtype=float) * (1.0 / lam - (1.0 / lam - 1.0) * within - s)
            + np.asarray(usage_elasticity, dtype=float)
            + np.asarray(beta_price, dtype=float) / lam * np.asarray(routed_share, dtype=float))


def best_response_price(marginal_cost, elasticity, max_markup):
    """Profit-maximising price given rivals' prices: the Lerner rule, capped.

    (p − c)/p = 1/η, so p = c·η/(η − 1): a markup of 1/(η − 1) over marginal
    cost. Where demand is inelastic (η ≤ 1 + 1/max_markup) the markup is
    capped at ``max_markup`` (list prices a lab would not dare to charge).

    One lab alone in a logit market with β_p = 3 and half the customers
    (η = 1.5) would charge 3× its cost; a cap of 1.5 holds it at 2.5×:

    >>> best_response_price(np.array([1.0, 1.0]), np.array([3.0, 1.5]), 1.5).tolist()
    [1.5, 2.5]
    """
    eta = np.asarray(elasticity, dtype=float)
    markup = np.where(eta > 1.0, 1.0 / np.where(eta > 1.0, eta - 1.0, 1.0), np.inf)
    return np.maximum(np.asarray(marginal_cost, dtype=float), 0.0) * (1.0 + np.minimum(markup, max_markup))


def capacity_price_multiplier(demand, elasticity, capacity, max_multiplier, iterations=30):
    """Kreps–Scheinkman: the common price rise m ≥ 1 that brings demand down to capacity.

    Solves Σ_k D_k·m^(−η_k) = K for m, where D_k is what segment k asks at
    today's prices and η_k its price elasticity (η = 0 for free tiers, whose
    demand does not respond). m = 1 when demand fits; ``max_multiplier`` when
    no price would make it fit. Newton's method on x = ln m from x = 0 (the
    function is convex and decreasing, so the iterates rise monotonically to
    the root). Shapes: ``demand``, ``elasticity`` (..., K); ``capacity`` (...).

    One segment with elasticity 2 asking 4 units of a capacity of 1: m = 2.

    >>> round(float(capacity_price_multiplier(np.array([4.0]), np.array([2.0]), 1.0, 10.0)), 9)
    2.0
    >>> float(capacity_price_multiplier(np.array([0.5]), np.array([2.0]), 1.0, 10.0))
    1.0
    """
    d = np.asarray(demand, dtype=float)
    eta = np.asarray(elasticity, dtype=float)
    cap = np.asarray(capacity, dtype=float)
    x_max = np.log(max_multiplier)
    x = np.zeros(np.broadcast(d.sum(axis=-1), cap).shape)
    done = np.zeros(x.shape, dtype=bool)  # converged: frozen, so a scenario's answer is the same in any batch
    for _ in range(iterations):
        weights = d * np.exp(-eta * x[..., None])
        f = weights.sum(axis=-1) - cap
        moving = (f > 0) & ~done
        if not np.any(moving):
            break
        slope = -(eta * weights).sum(axis=-1)
        step = np.divide(-f, slope, out=np.full(f.shape, np.inf), where=slope < 0)
        x_new = np.where(moving, np.clip(x + step, 0.0, x_max), x)
        done |= np.abs(x_new - x) <= 1e-13 * np.maximum(np.abs(x_new), 1.0)
        x = x_new
    return np.exp(x)
