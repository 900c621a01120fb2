"""Simulation-based calibration (SBC) of the ABC-SMC sampler: is a posterior it returns as wide as it should be?

Talts, Betancourt, Simpson, Vehtari & Gelman (2018): draw parameters θ* from the prior, simulate data y* at
θ*, fit the posterior to y*, and record the rank of θ* among L draws from that posterior. If the sampler
returns the true posterior, every rank 0…L is equally likely, so over many replicates the histogram of ranks
is flat within binomial noise. A ∩-shaped histogram says the posteriors are too wide (the truth sits in the
middle too often: an ABC tolerance still large against the data's noise); a ∪ shape, too narrow; a slope,
biased. SBC does not see a sampler that returns the prior itself (that is calibrated, if useless), so
``contraction`` is reported beside it: the posterior's sd over the prior's.

The L draws are taken at random, without replacement, from the last generation's particles, so ties between
particles that resampling duplicated are rare; ABC-SMC's particles move by MCMC and stay somewhat correlated,
which is why L is kept small (``DRAWS``).

Run on the backtest world with a reduced budget (the docs' table)::

    python -m wattyear.experiments.calibration.sbc --replicates 100 --particles 100 --generations 3

which writes ``docs/sbc.md`` and its rank histograms (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from wattyear.experiments.calibration.abc import abc_smc

#: posterior draws each replicate's rank is taken among (ranks run 0…DRAWS: 20 values, so the BINS bins of the
#: histogram hold four ranks each and are equally likely when calibrated)
DRAWS = 19
#: bins of the rank histogram the uniformity check uses
BINS = 5


@dataclass
class Calibration:
    """The ranks of the truths, (replicates, D), among ``draws`` posterior draws; names and contraction."""

    names: list[str]
    ranks: np.ndarray
    draws: int
    contraction: np.ndarray  #: (D,) mean posterior sd over the prior's sd

    def histogram(self, bins: int = BINS) -> np.ndarray:
        """(D, bins) counts of ranks, the ranks 0…draws split into ``bins`` equal runs of values (``draws + 1``
        must be a multiple of ``bins``, or the bins would not be equally likely)."""
        if (self.draws + 1) % bins:
            raise ValueError(f"{self.draws + 1} ranks do not split into {bins} equal bins")
        edges = np.linspace(0, self.draws + 1, bins + 1)
        return np.stack([np.histogram(self.ranks[:, j], bins=edges)[0] for j in range(len(self.names))])

    def band(self, bins: int = BINS, level: float = 0.99) -> tuple[int, int]:
        """The counts a bin of a flat histogram lies within at ``level``, each bin alone (binomial)."""
        from scipy.stats import binom

        n = len(self.ranks)
        return int(binom.ppf((1 - level) / 2, n, 1 / bins)), int(binom.ppf(1 - (1 - level) / 2, n, 1 / bins))

    def p_values(self, bins: int = BINS) -> np.ndarray:
        """(D,) chi-square p-values of flatness, one per parameter."""
        from scipy.stats import chisquare

        return np.array([chisquare(h).pvalue for h in self.histogram(bins)])


def sbc(simulate: Callable[[np.ndarray, np.random.Generator], np.ndarray], bounds: dict[str, tuple[float, float]],
        *, replicates: int = 100, particles: int = 200, generations: int = 6, draws: int = DRAWS, seed: int = 0,
        progress: Callable[[int], None] | None = None) -> Calibration:
    """SBC of ``abc_smc`` over uniform priors ``bounds``. ``simulate(thetas, rng)`` maps (n, D) parameter rows
    to (n, K) positive summaries, drawing its noise (seeds) from ``rng``. Each replicate draws its truth from
    the prior, simulates its data, fits, and ranks the truth among ``draws`` of the posterior."""
    if draws >= particles:
        raise ValueError(f"draws ({draws}) must be fewer than particles ({particles})")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    names = list(bounds)
    low = np.array([bounds[n][0] for n in names], dtype=float)
    high = np.array([bounds[n][1] for n in names], dtype=float)
    ranks, spread = np.zeros((replicates, len(names)), dtype=int), np.zeros((replicates, len(names)))
    for r in range(replicates):
        truth = low + (high - low) * rng.random(len(names))
        observed = np.asarray(simulate(truth[None, :], rng), dtype=float)[0]
        sims = np.random.default_rng(int(rng.integers(0, 2**62)))
        post = abc_smc(lambda thetas: simulate(thetas, sims), observed, bounds, particles=particles,
                       generations=generations, seed=int(rng.integers(0, 2**31)))
        sample = post.last.particles[rng.choice(len(post.last.particles), size=draws, replace=False)]
        ranks[r] = (sample < truth).sum(axis=0)
        spread[r] = post.last.particles.std(axis=0)
        if progress:
            progress(r)
    return Calibration(names, ranks, draws, spread.mean(axis=0) / ((high - low) / np.sqrt(12)))


def plot(cal: Calibration, path: Path, title: str, bins: int = BINS) -> Path:
    """Rank histograms, one panel per parameter, with the flat histogram's 99% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist, (lo, hi) = cal.histogram(bins), cal.band(bins)
    cols = min(len(cal.names), 4)
    rows = -(-len(cal.names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(cal.names):]:
        ax.axis("off")
    for j, (ax, name) in enumerate(zip(axes.flat, cal.names)):
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.bar(np.arange(bins), hist[j], color="C0", width=0.9)
        ax.set_title(name.replace("labs.", "").replace("segments.", ""), fontsize=7)
        ax.set_xticks([])
    fig.suptitle(f"{title}: ranks of the truth ({len(cal.ranks)} replicates, {bins} bins; grey: 99% band of a "
                 "flat histogram)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def backtest_world(months: int = 8):
    """The backtest world's simulator of its in-sample summaries (its targets' metrics) and its priors: the
    parameters ``make backtest`` fits (those with bounds the world takes, and the demand affinities over the
    ranges ``wattyear calibrate --fit`` searches), at the months the targets span."""
    import wattyear
    from wattyear.experiments.calibration.outcomes import model_values, read_outcomes
    from wattyear.experiments.calibration.posterior import overrides_of, priors
    from wattyear.sim.config import CONFIG_DIR, with_overrides
    from wattyear.sim.model import WattyearModel

    cfg = wattyear.load_config(CONFIG_DIR / "backtest_2025.toml")
    table = read_outcomes(CONFIG_DIR / "backtest_targets.csv")
    from wattyear.experiments.calibration.least_squares import FREE
    from wattyear.sim.config import field_at

    bounds = priors(extra={f.path: (f.low, f.high) for f in FREE if field_at(f.path).varies}, config=cfg)
    names = list(bounds)
    short = with_overrides(cfg, {"run.months": months})

    def simulate(thetas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        configs = [with_overrides(short, o) for o in overrides_of(names, np.atleast_2d(thetas))]
        seeds = rng.integers(0, 2**62, size=len(configs)).tolist()
        return model_values(table, WattyearModel(configs, seeds=seeds).run()).T

    return simulate, bounds


def report(cal: Calibration, figure: Path, command: str) -> str:
    """The SBC page: what was run, the contraction and flatness per parameter, and the figure."""
    lo, hi = cal.band()
    hist, p = cal.histogram(), cal.p_values()
    lines = ["# Simulation-based calibration of the sampler", "",
             "Is a posterior that `wattyear calibrate --posterior` returns as wide as it should be? Each replicate "
             "draws parameters from the prior, simulates the backtest world's in-sample summaries at them, fits "
             "ABC-SMC to that simulated data and ranks the true value among "
             f"{cal.draws} posterior draws (Talts et al. 2018; `experiments/calibration/sbc.py`). A calibrated "
             "sampler gives flat rank histograms; ∩-shaped ones (too many truths in the middle) say the "
             "posterior is too wide, ∪-shaped too narrow, sloped biased. The tiny world's check, with its "
             "budget, is a test (`tests/test_validation.py`).", "", "Reproduce:", "", "```sh", command, "```", "",
             f"{len(cal.ranks)} replicates; a flat histogram's bins lie within {lo}–{hi} runs each (99%). "
             "Contraction is the posterior's sd over the prior's (1: the data taught nothing).", "",
             "| parameter | rank counts by fifth | p (flat) | contraction |", "|---|---|---|---|"]
    for j, name in enumerate(cal.names):
        lines.append(f"| `{name}` | {' '.join(str(int(c)) for c in hist[j])} | {p[j]:.2f} | {cal.contraction[j]:.2f} |")
    middle = hist[:, 1:-1].sum() / hist.sum()
    low_p = int((p < 0.05).sum())
    lines += ["", f"Across parameters, {middle:.0%} of the truths rank in the middle three fifths (60% if calibrated: "
              "fewer means the posteriors are a little too narrow, more too wide). "
              f"{low_p} of {len(p)} parameters have p < 0.05 (about {0.05 * len(p):.1f} expected by chance). "
              f"The median contraction is {np.median(cal.contraction):.2f}: where it is near 1 the in-sample "
              "figures barely inform the parameter, the posterior is nearly its prior, and a flat histogram says "
              "only that the sampler returns that prior faithfully.", "", f"![rank histograms]({figure.name})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wattyear.experiments.calibration.sbc",
                                     description="Simulation-based calibration of ABC-SMC on the backtest world")
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--doc", default="docs/sbc.md", help="the page to write (its figure goes beside it)")
    args = parser.parse_args(argv)
    for name, least in (("replicates", 2), ("particles", DRAWS + 1), ("generations", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name}: expected at least {least}, found {getattr(args, name)}")
    simulate, bounds = backtest_world()
    cal = sbc(simulate, bounds, replicates=args.replicates, particles=args.particles,
              generations=args.generations, seed=args.seed,
              progress=lambda r: print(f"replicate {r + 1} of {args.replicates}", file=sys.stderr, flush=True))
    doc = Path(args.doc)
    figure = plot(cal, doc.with_name(doc.stem + "_ranks.png"), "Backtest world")
    command = (f"python -m wattyear.experiments.calibration.sbc --replicates {args.replicates} --particles "
               f"{args.particles} --generations {args.generations} --seed {args.seed}")
    doc.write_text(report(cal, figure, command))
    print(f"wrote {doc} and {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
