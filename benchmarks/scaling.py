"""How the model scales with the number of scenarios stepped together (run on demand, never in the tests).

    .venv/bin/python benchmarks/scaling.py [--sizes 1,10,100,1000,10000] [--months 120] [--timeout 1800] [--same]
        [--keep all|summary]

For each size S the scenarios are run two ways, side by side in one fresh
interpreter (after an untimed one-month warm-up run, so imports and first
calls are not timed):

* one at a time: ``WattyearModel(cfg_i, rng=seed_i).run()`` for each
  scenario. Only min(S, 5) runs are timed; their time is scaled by
  S / min(S, 5) (the table marks extrapolated rows).
* ensemble: ``WattyearModel([cfg_0, ...], seeds=[...]).run()``, one model
  whose arrays carry the S scenarios; timed from construction to the
  horizon. The interpreter's peak resident memory
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the ensemble being the
  largest thing it ran) is reported, so memory is measured size by size.

Agent-steps are S x months x agents, with agents = ``len(model.ledger_agents)
+ len(model.segments)``. The speed-up is the one-at-a-time time over the
ensemble's. A size that runs past ``--timeout`` or out of memory gets a row
saying so instead of numbers.

With ``--keep summary`` both ways keep only the last month's records (``WattyearModel(keep_months=...)``,
what a study that keeps summaries does; crossings are still followed over every month), so memory shows what
a scenario costs without its history.

The S scenarios are S distinct design points: each perturbs
``world.energy_usd_per_mwh`` and ``open_weights.quality_fraction`` by up to
±10% (through ``sim.config.resolve``); with ``--same`` they are the baseline
with S seeds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from machine import format_table, machine_header

#: single runs timed per size; the rest are extrapolated
SINGLES_TIMED = 5
#: the parameters ``--distinct`` perturbs, each by a factor in [1 - PERTURBATION, 1 + PERTURBATION]
PERTURBED = ("world.energy_usd_per_mwh", "open_weights.quality_fraction")
PERTURBATION = 0.10


def scenario_configs(n: int, months: int, distinct: bool) -> list[dict]:
    """n configs of ``months``-month runs: the baseline n times, or n perturbed copies of it.

    Scenario i's factors come from its own generator (``default_rng([2026, i])``),
    so the first k configs are the same whatever n is.
    """
    from wattyear.sim.config import load_config, resolve, value_at

    base = load_config(overrides={"run.months": months})
    if not distinct:
        return [base] * n
    configs = []
    for i in range(n):
        factors = np.random.default_rng([2026, i]).uniform(1 - PERTURBATION, 1 + PERTURBATION, len(PERTURBED))
        overrides = {key: float(value_at(base, key)) * f for key, f in zip(PERTURBED, factors)}
        configs.append(resolve(base, overrides=overrides))
    return configs


def warm_up() -> None:
    """One untimed one-month run: imports and first calls are not part of any timing."""
    from wattyear.sim.config import load_config
    from wattyear.sim.model import WattyearModel

    WattyearModel(load_config(overrides={"run.months": 1}), rng=0).run()


def kept(months: int, keep: str) -> list[int] | None:
    """The months a run keeps: all (None) or the last."""
    return None if keep == "all" else [months - 1]


def time_ensemble(n: int, months: int, distinct: bool, keep: str = "all") -> dict:
    """Step n scenarios as one ensemble; seconds, months, agents and this process's peak memory."""
    from wattyear.sim.model import WattyearModel

    configs = scenario_configs(n, months, distinct)
    warm_up()
    t0 = time.perf_counter()
    model = WattyearModel(configs if distinct else configs[0], seeds=list(range(n)), keep_months=kept(months, keep))
    model.run()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "months": model.months_run,
            "agents": len(model.ledger_agents) + len(model.segments),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def time_singles(n: int, months: int, distinct: bool, keep: str = "all") -> dict:
    """Time min(n, SINGLES_TIMED) single runs (seeds 0, 1, ...) and scale their time to n runs."""
    from wattyear.sim.model import WattyearModel

    timed = min(n, SINGLES_TIMED)
    configs = scenario_configs(timed, months, distinct)
    warm_up()
    t0 = time.perf_counter()
    for seed, cfg in enumerate(configs):
        WattyearModel(cfg, rng=seed, keep_months=kept(months, keep)).run()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds * n / timed, "timed": timed}


def in_fresh_process(what: str, n: int, months: int, distinct: bool, timeout: float, keep: str = "all") -> dict:
    """Time ``what`` ("both": one at a time, then the ensemble) for n scenarios in a new interpreter; the
    result, or why there is none."""
    cmd = [sys.executable, __file__, "--child", "--sizes", str(n), "--months", str(months), "--keep", keep]
    if not distinct:
        cmd.append("--same")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": "did not finish", "detail": f"still running after {timeout:.0f} s"}
    if out.returncode == 0:
        return json.loads(out.stdout.strip().splitlines()[-1])
    last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
    if "MemoryError" in out.stderr:
        return {"failed": "out of memory", "detail": last}
    if out.returncode == -9:
        return {"failed": "out of memory", "detail": "killed by SIGKILL (the kernel's out-of-memory killer?)"}
    return {"failed": "failed", "detail": last}


def row(n: int, months: int, agents: int | None, ensemble: dict, singles: dict) -> list:
    """One table row; a failed measurement shows its reason in the place of its numbers."""
    def per_run_and_rate(result: dict) -> list:
        if "failed" in result:
            return [result["failed"], "", ""]
        steps = n * result.get("months", months) * agents if agents else float("nan")
        return [f"{result['seconds']:.2f}", f"{result['seconds'] / n:.4f}", f"{steps / result['seconds']:,.0f}"]

    speedup = (f"{singles['seconds'] / ensemble['seconds']:.1f}x"
               if "failed" not in ensemble and "failed" not in singles else "")
    memory = f"{ensemble['peak_rss_mib']:.0f}" if "failed" not in ensemble else ""
    timed = "" if "failed" in singles else f"{singles['timed']} of {n}" + (" *" if singles["timed"] < n else "")
    return [f"{n:,}", *per_run_and_rate(ensemble), memory, *per_run_and_rate(singles), timed, speedup]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,1000,10000", help="scenario counts S (default %(default)s)")
    parser.add_argument("--months", type=int, default=120, help="months a run (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed each measurement of a size "
                        "(default %(default)s)")
    parser.add_argument("--same", action="store_true", help="the baseline S times (seeds only), not S design points")
    parser.add_argument("--keep", choices=("all", "summary"), default="all",
                        help="months each run keeps: all (default) or the last (a study keeping summaries)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    args.distinct = not args.same

    if args.child:  # one size: one at a time, then the ensemble, in this process
        singles = time_singles(sizes[0], args.months, args.distinct, args.keep)
        print(json.dumps({"singles": singles,
                          "ensemble": time_ensemble(sizes[0], args.months, args.distinct, args.keep)}))
        return

    print(machine_header())
    rows, agents = [], None
    for n in sizes:
        both = in_fresh_process("both", n, args.months, args.distinct, args.timeout, args.keep)
        ensemble, singles = (both, both) if "failed" in both else (both["ensemble"], both["singles"])
        agents = ensemble.get("agents", agents)
        rows.append((n, ensemble, singles))
    scenarios = "S distinct configs (±10% on " + ", ".join(PERTURBED) + ")" if args.distinct else "the baseline"
    print(f"\n{scenarios}, {args.months} months a run ({'every month kept' if args.keep == 'all' else 'the last month kept'}),"
          f" {agents or '?'} agents (ledger agents + segments); times from construction to horizon")
    print(format_table(
        ["S", "ensemble s", "s/run", "agent-steps/s", "peak RSS MiB",
         "1-at-a-time s", "s/run", "agent-steps/s", "timed", "speed-up"],
        [row(n, args.months, agents, ensemble, singles) for n, ensemble, singles in rows]))
    for n, ensemble, singles in rows:
        for what, result in (("ensemble", ensemble), ("one at a time", singles)):
            if "failed" in result:
                print(f"S={n:,} {what}: {result['failed']}: {result['detail']}")
    if any(singles.get("timed", n) < n for n, _, singles in rows):
        print(f"* one-at-a-time: only the first {SINGLES_TIMED} runs were timed; the time is extrapolated linearly"
              f" to S runs")


if __name__ == "__main__":
    main()
