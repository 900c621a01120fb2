"""Speed of one 10-year baseline run (run on demand: `make bench`; never part of the tests).

Prints the median wall time of model construction and of the 120 monthly steps
over several repetitions, on one core.
"""

from __future__ import annotations

import statistics
import time

from wattyear.sim.config import load_config
from wattyear.sim.model import WattyearModel


def main(repeats: int = 15) -> None:
    config = load_config()
    build, steps = [], []
    for seed in range(repeats):
        t0 = time.perf_counter()
        model = WattyearModel(config, rng=seed)
        t1 = time.perf_counter()
        model.run()
        t2 = time.perf_counter()
        build.append(t1 - t0)
        steps.append(t2 - t1)
    months = len(model.history)
    print(f"baseline, {months} months, {repeats} repeats (median):")
    print(f"  build  {statistics.median(build) * 1e3:8.1f} ms")
    print(f"  steps  {statistics.median(steps) * 1e3:8.1f} ms  ({statistics.median(steps) / months * 1e6:.0f} µs a month)")
    print(f"  total  {statistics.median(b + s for b, s in zip(build, steps)) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
