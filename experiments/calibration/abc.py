"""Approximate Bayesian computation by sequential Monte Carlo (ABC-SMC), on the scenario axis.

A small implementation rather than a library: each generation's particles are
simulated as one batched ensemble (``simulate`` gets every parameter row at
once), which is what makes thousands of simulations a generation cheap here;
pyabc and elfi call the model one parameter set at a time and bring a
database or a graph framework along.

The algorithm is the adaptive ABC-SMC of Del Moral, Doucet & Jasra (2012),
with an MCMC move, so the particles keep equal weights (importance weights,
as in Beaumont et al. 2009, degenerate in a dozen dimensions: a test world of
15 parameters kept an effective sample of 2 of 400 after four generations):

1. Generation 0: draw ``particles`` parameter sets from the prior (uniform on
   each range) and simulate them.
2. Generation g: the tolerance ε_g is the ``quantile`` of the current
   distances. Keep the particles within ε_g and resample them back to
   ``particles``. Then move each ``moves`` times by Metropolis–Hastings: a
   multivariate Student-t step (``KERNEL_DF`` degrees of freedom, scale
   matrix 2.38²/D times the particles' covariance), accepted when the
   proposal's simulation lies within ε_g and with probability
   prior(z′) / prior(z). The moves refresh the duplicates resampling made.
3. Stop after ``generations``, or when the moves' acceptance rate falls below
   ``min_acceptance`` (the tolerance has become too tight to move in).

Particles move in an unbounded space, z = logit((θ − low) / (high − low)) for
each parameter, where the uniform prior on [low, high] has the density
Π σ(z)(1 − σ(z)): no proposal falls outside the prior.

The distance is the root mean square of the log ratios of simulated to
observed summaries (every summary must be positive), so a figure off by a
factor of 2 counts the same whatever its unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

#: degrees of freedom of the Student-t move
KERNEL_DF = 4


def log_distance(simulated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Root mean square of log(simulated / observed) per row: a loss compares with a loss; a simulated value
    of the other sign than the observed one (or zero) is infinitely far. Observed values must not be 0.

    >>> log_distance(np.array([[2.0, -1.0], [1.0, -1.0], [1.0, 1.0]]), np.array([1.0, -1.0])).round(4).tolist()
    [0.4901, 0.0, inf]
    """
    ratio = simulated / observed
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.sqrt(np.mean(np.log(np.where(ratio > 0, ratio, 1.0)) ** 2, axis=1))
    return np.where(np.all(ratio > 0, axis=1), distance, np.inf)


@dataclass
class Generation:
    """One generation: its tolerance, accepted particles, weights, distances, and the simulations spent."""

    epsilon: float
    particles: np.ndarray  #: (N, D)
    weights: np.ndarray  #: (N,) normalised
    distances: np.ndarray  #: (N,)
    simulations: int
    acceptance: float = 1.0  #: share of the moves' proposals accepted (generation 0: 1)

    @property
    def ess(self) -> int:
        """Effective sample size, counted as distinct particles (the weights are equal; the duplicates
        resampling left and no move refreshed count once). A particle moved once is still near its parent,
        so this overstates the independent draws."""
        return int(len(np.unique(self.particles, axis=0)))


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
                              "acceptance": gen.acceptance, "distinct_particles": gen.ess, "median_distance":
                              float(np.median(gen.distances))} for g, gen in enumerate(self.generations)])

    def quantiles(self, q=(0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Weighted posterior quantiles of each parameter (rows: parameters; columns: the quantiles)."""
        rows = {}
        for j, name in enumerate(self.names):
            order = np.argsort(self.last.particles[:, j])
            values, cum = self.last.particles[order, j], np.cumsum(self.last.weights[order])
            cum = cum / cum[-1]  # the first order statistic whose cumulative weight reaches q (no drift past it)
            rows[name] = [float(values[min(np.searchsorted(cum, x - 1e-12), len(values) - 1)]) for x in q]
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(q))


def abc_smc(simulate: Callable[[np.ndarray], np.ndarray], observed: np.ndarray,
            bounds: dict[str, tuple[float, float]], *, particles: int = 500, generations: int = 5,
            quantile: float = 0.5, moves: int = 2, seed: int = 0, min_acceptance: float = 0.02,
            progress: Callable[[int, Generation], None] | None = None) -> Posterior:
    """Run ABC-SMC. ``simulate(thetas)`` maps (n, D) parameter rows (columns in ``bounds``' order) to (n, K)
    positive summaries, one row per parameter row, comparable with ``observed`` (K,)."""
    if particles < 2:
        raise ValueError(f"ABC-SMC needs at least 2 particles, got {particles}")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])  # the simulations' seeds use the other
    names = list(bounds)
    dims = len(names)
    low = np.array([bounds[n][0] for n in names], dtype=float)
    high = np.array([bounds[n][1] for n in names], dtype=float)
    observed = np.asarray(observed, dtype=float)
    post = Posterior(names, dict(bounds))
    to_theta = lambda z: low + (high - low) / (1.0 + np.exp(-z))  # noqa: E731
    log_prior = lambda z: np.sum(-np.abs(z) - 2.0 * np.log1p(np.exp(-np.abs(z))), axis=1)  # noqa: E731  Π σ(z)(1 − σ(z))
    distance = lambda z: log_distance(np.asarray(simulate(to_theta(z)), dtype=float), observed)  # noqa: E731
    equal = np.full(particles, 1.0 / particles)

    unit = np.clip(rng.random((particles, dims)), 1e-9, 1 - 1e-9)
    z = np.log(unit / (1 - unit))
    dist = distance(z)
    if not np.isfinite(dist).any():
        raise ValueError("no prior draw comes near the observed values (every simulated value has the wrong sign or "
                         "is zero): check the targets and the priors")
    post.generations.append(Generation(float(np.inf), to_theta(z), equal, dist, particles))
    if progress:
        progress(0, post.last)
    for g in range(1, generations):
        finite = np.isfinite(dist)
        if not finite.any():
            break
        epsilon = float(np.quantile(dist[finite], quantile))
        alive = np.flatnonzero(dist <= epsilon)
        picks = alive[rng.integers(0, len(alive), size=particles)]
        z, dist = z[picks], dist[picks]
        cov = 2.38**2 / dims * np.atleast_2d(np.cov(z.T)) + np.eye(dims) * 1e-9
        chol = np.linalg.cholesky(cov)
        accepted = spent = 0
        for _ in range(moves):
            scale = np.sqrt(KERNEL_DF / rng.chisquare(KERNEL_DF, size=(particles, 1)))
            proposal = z + scale * (rng.standard_normal((particles, dims)) @ chol.T)
            d = distance(proposal)
            spent += particles
            move = (d <= epsilon) & (np.log(rng.random(particles)) < log_prior(proposal) - log_prior(z))
            z[move], dist[move] = proposal[move], d[move]
            accepted += int(move.sum())
        post.generations.append(Generation(epsilon, to_theta(z), equal, dist, spent, accepted / spent))
        if progress:
            progress(g, post.last)
        if post.last.acceptance < min_acceptance:
            break
    return post
