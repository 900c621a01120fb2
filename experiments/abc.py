"""Approximate Bayesian computation by sequential Monte Carlo (ABC-SMC), on the scenario axis.

A small implementation rather than a library: each generation's particles are
simulated as one batched ensemble (``simulate`` gets every parameter row at
once), which is what makes thousands of simulations a generation cheap here;
pyabc and elfi call the model one parameter set at a time and bring a
database or a graph framework along.

The algorithm is the adaptive ABC-SMC of Del Moral, Doucet & Jasra (2012) with
the perturbation kernel of Beaumont et al. (2009):

1. Generation 0: draw ``particles`` parameter sets from the prior (uniform on
   each range), simulate, and keep them all with equal weights.
2. Generation g: the tolerance ε_g is the ``quantile`` of the previous
   generation's distances. Draw particles from the previous generation by
   weight, perturb each with a Gaussian of twice the weighted covariance,
   reject those outside the prior, simulate, and accept those within ε_g,
   until ``particles`` are accepted (or ``max_rounds`` batches are spent).
   Weights: w ∝ prior(θ) / Σ_j w_j K(θ | θ_j).
3. Stop after ``generations``, or when a generation's acceptance rate falls
   below ``min_acceptance``.

The distance is the root mean square of the log ratios of simulated to
observed summaries (every summary must be positive), so a figure off by a
factor of 2 counts the same whatever its unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd


def log_distance(simulated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Root mean square of log(simulated / observed) per row; a non-positive simulated value is infinitely far.

    >>> log_distance(np.array([[2.0, 1.0], [1.0, 1.0]]), np.array([1.0, 1.0])).round(4).tolist()
    [0.4901, 0.0]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(simulated / observed)
    distance = np.sqrt(np.mean(logs**2, axis=1))
    return np.where(np.all(simulated > 0, axis=1), distance, np.inf)


@dataclass
class Generation:
    """One generation: its tolerance, accepted particles, weights, distances, and the simulations spent."""

    epsilon: float
    particles: np.ndarray  #: (N, D)
    weights: np.ndarray  #: (N,) normalised
    distances: np.ndarray  #: (N,)
    simulations: int

    @property
    def acceptance(self) -> float:
        return len(self.particles) / self.simulations if self.simulations else 1.0

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, 1 / Σ w²."""
        return float(1.0 / np.sum(self.weights**2))


@dataclass
class Posterior:
    """The result: the last generation's weighted particles, and every generation's diagnostics."""

    names: list[str]
    bounds: dict[str, tuple[float, float]]
    generations: list[Generation] = field(default_factory=list)

    @property
    def last(self) -> Generation:
        return self.generations[-1]

    def sample(self) -> pd.DataFrame:
        """The posterior sample: one row per particle, a column per parameter, ``weight`` and ``distance``."""
        frame = pd.DataFrame(self.last.particles, columns=self.names)
        return frame.assign(weight=self.last.weights, distance=self.last.distances)

    def diagnostics(self) -> pd.DataFrame:
        """One row per generation: tolerance, simulations, acceptance rate, effective sample size."""
        return pd.DataFrame([{"generation": g, "epsilon": gen.epsilon, "simulations": gen.simulations,
                              "acceptance": gen.acceptance, "ess": gen.ess, "median_distance":
                              float(np.median(gen.distances))} for g, gen in enumerate(self.generations)])

    def quantiles(self, q=(0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Weighted posterior quantiles of each parameter (rows: parameters; columns: the quantiles)."""
        rows = {}
        for j, name in enumerate(self.names):
            order = np.argsort(self.last.particles[:, j])
            values, cum = self.last.particles[order, j], np.cumsum(self.last.weights[order])
            rows[name] = [float(values[min(np.searchsorted(cum, x), len(values) - 1)]) for x in q]
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(q))


def abc_smc(simulate: Callable[[np.ndarray], np.ndarray], observed: np.ndarray,
            bounds: dict[str, tuple[float, float]], *, particles: int = 500, generations: int = 5,
            quantile: float = 0.5, seed: int = 0, min_acceptance: float = 0.01, max_rounds: int = 20,
            progress: Callable[[int, Generation], None] | None = None) -> Posterior:
    """Run ABC-SMC. ``simulate(thetas)`` maps (n, D) parameter rows (columns in ``bounds``' order) to (n, K)
    positive summaries, one row per parameter row, comparable with ``observed`` (K,)."""
    rng = np.random.default_rng(seed)
    names = list(bounds)
    low = np.array([bounds[n][0] for n in names], dtype=float)
    high = np.array([bounds[n][1] for n in names], dtype=float)
    observed = np.asarray(observed, dtype=float)
    post = Posterior(names, dict(bounds))

    theta = low + (high - low) * rng.random((particles, len(names)))
    dist = log_distance(np.asarray(simulate(theta), dtype=float), observed)
    post.generations.append(Generation(float(np.inf), theta, np.full(particles, 1.0 / particles), dist, particles))
    if progress:
        progress(0, post.last)
    for g in range(1, generations):
        prev = post.last
        finite = np.isfinite(prev.distances)
        epsilon = float(np.quantile(prev.distances[finite], quantile)) if finite.any() else np.inf
        cov = 2.0 * np.atleast_2d(np.cov(prev.particles.T, aweights=prev.weights))
        cov += np.eye(len(names)) * 1e-12 * np.maximum(high - low, 1.0) ** 2  # keep it positive definite
        chol = np.linalg.cholesky(cov)
        accepted, acc_dist, spent = [], [], 0
        for _ in range(max_rounds):
            picks = rng.choice(len(prev.particles), size=particles, p=prev.weights)
            proposal = prev.particles[picks] + rng.standard_normal((particles, len(names))) @ chol.T
            inside = np.all((proposal >= low) & (proposal <= high), axis=1)
            proposal = proposal[inside]
            if len(proposal):
                d = log_distance(np.asarray(simulate(proposal), dtype=float), observed)
                spent += len(proposal)
                keep = d <= epsilon
                accepted.append(proposal[keep])
                acc_dist.append(d[keep])
            if sum(len(a) for a in accepted) >= particles:
                break
        theta = np.concatenate(accepted)[:particles] if accepted else np.empty((0, len(names)))
        dist = np.concatenate(acc_dist)[:particles] if acc_dist else np.empty(0)
        if len(theta) < 2:
            break  # the tolerance cannot be met: keep the last generation
        # Beaumont et al. (2009): uniform prior, so w ∝ 1 / Σ_j w_j K(θ | θ_j)
        inv = np.linalg.inv(cov)
        mix = np.empty(len(theta))
        for i in range(0, len(theta), 256):  # in blocks: (block, previous particles, D) stays small
            diff = theta[i:i + 256, None, :] - prev.particles[None, :, :]
            mix[i:i + 256] = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff)) @ prev.weights
        weights = 1.0 / mix
        post.generations.append(Generation(epsilon, theta, weights / weights.sum(), dist, spent))
        if progress:
            progress(g, post.last)
        if post.last.acceptance < min_acceptance:
            break
    return post
