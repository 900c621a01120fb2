"""How long validating a config takes as its lease table grows (run on demand, never in the tests).

    .venv/bin/python benchmarks/lease_validation.py [--leases 200,800,1600]

Each config is the baseline plus N one-year leases of 1 MW from Amazon to Anthropic, starting a month
apart (so the let total changes every month and the check has the most months to look at). The lessor
check sweeps the months where a lease or a vintage starts or ends once per lessor: its time grows with
N log N, where checking every lease at every such month grew with N³ (800 leases: 20 s; 1,600: 218 s).
"""

from __future__ import annotations

import argparse
import time

from machine import machine_header


def config_with(n: int) -> dict:
    from wattyear.sim.config import BASELINE, read_toml

    raw = read_toml(BASELINE)
    months = [f"{2026 + (k % 108) // 12}-{(k % 108) % 12 + 1:02d}" for k in range(n)]
    raw["leases"] = list(raw.get("leases", [])) + [
        {"lessor": "amazon", "lessee": "anthropic", "watts": 1e6, "start": m, "months": 12,
         "price_usd_per_w_year": 15.0, "note": "bench"} for m in months]
    return raw


def main() -> None:
    from wattyear.sim.config import resolve

    parser = argparse.ArgumentParser()
    parser.add_argument("--leases", default="200,800,1600")
    args = parser.parse_args()
    print(machine_header())
    print(f"{'leases':>8} {'validate s':>11}")
    for n in (int(x) for x in args.leases.split(",")):
        raw = config_with(n)
        t0 = time.perf_counter()
        resolve(raw, source="bench")
        print(f"{n:>8,} {time.perf_counter() - t0:>11.3f}")


if __name__ == "__main__":
    main()
