"""The token-market kernel's throughput as a fraction of numpy's element-wise ceiling (run on demand).

    .venv/bin/python benchmarks/kernel_ceiling.py [--sizes 1000,10000] [--months 24] [--repeats 5]

The kernel is the month's demand allocation, the array code every scenario
runs through each month: the nested-logit weights of every customer class
and provider (``token_market.nested_weights``) and the capacity-constrained
water-filling (``token_market.water_fill``). Its inputs are captured from month
``--months`` of an ensemble of S baseline scenarios (a month with rationing,
so the water-filling takes several rounds).

Work is counted, not guessed: the kernel runs once on arrays of a subclass
whose ``__array_ufunc__`` adds up the elements every ufunc call writes (and
every reduction reads), so each multiply, add, divide, exp, comparison and
sum counts one operation an element. It then runs on plain arrays, timed
(best of ``--repeats``). Kernel throughput = counted operations / seconds.

Ceiling: ``c += a*b - d`` on float64 arrays of the kernel's size (S × N × P,
its (scenario, class, provider) arrays), in the same process: three
operations an element, best of ``--repeats``. The fraction is the kernel's
operations a second over the ceiling's.
"""

from __future__ import annotations

import argparse
import time
import timeit

import numpy as np

from machine import format_table, machine_header


class Counted(np.ndarray):
    """An array that counts the element operations done on it (class attribute ``ops``)."""

    ops = 0

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, Counted) else x for x in inputs]
        if isinstance(kwargs.get("where"), Counted):
            kwargs["where"] = kwargs["where"].view(np.ndarray)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Counted) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if method == "__call__":
            Counted.ops += int(np.size(result[0] if isinstance(result, tuple) else result))
        else:  # reduce, reduceat, accumulate: every element read is one operation
            Counted.ops += int(np.size(plain[0]))
        if out is not None:
            return out[0] if len(out) == 1 else out
        if isinstance(result, tuple):
            return tuple(r.view(Counted) if isinstance(r, np.ndarray) else r for r in result)
        return result.view(Counted) if isinstance(result, np.ndarray) else result


def capture(n: int, month: int) -> dict:
    """The token-market inputs of month ``month`` of an n-scenario baseline ensemble."""
    from wattyear.sim import token_market
    from wattyear.sim.config import load_config
    from wattyear.sim.model import WattyearModel

    captured = {}
    original = token_market.water_fill

    def spy(demand, utilities, outside, capacity, **kwargs):
        captured.update(demand=demand, utilities=utilities, outside=outside, capacity=capacity,
                        phi=kwargs["compute_per_token"], usage=kwargs["usage"],
                        nest_of=kwargs["weights"].members.argmax(axis=1), nest_scale=kwargs["weights"].scale)
        return original(demand, utilities, outside, capacity, **kwargs)

    token_market.water_fill = spy
    try:
        WattyearModel(load_config(overrides={"run.months": month + 1}), seeds=list(range(n))).run()
    finally:
        token_market.water_fill = original
    return captured


def kernel(inputs: dict):
    from wattyear.sim import token_market

    weights = token_market.nested_weights(inputs["utilities"], inputs["outside"], inputs["nest_of"],
                                          inputs["nest_scale"])
    return token_market.water_fill(inputs["demand"], inputs["utilities"], inputs["outside"], inputs["capacity"],
                                   compute_per_token=inputs["phi"], usage=inputs["usage"], weights=weights)


def count_ops(inputs: dict) -> tuple[int, int]:
    """(element operations, water-filling rounds) of one kernel call.

    While counting, ``np.asarray`` and ``np.broadcast_to`` keep the subclass
    (the kernel converts its inputs with them) and ``np.empty``, ``np.zeros``,
    ``np.ones`` and ``np.array`` make it, so every array the kernel works on
    counts.
    """
    Counted.ops = 0
    counted = {k: np.asarray(v).view(Counted) for k, v in inputs.items()}
    saved = {name: getattr(np, name) for name in ("asarray", "broadcast_to", "empty", "zeros", "ones", "array")}
    np.asarray = lambda a, dtype=None, **kw: np.asanyarray(a, dtype=dtype)
    np.broadcast_to = lambda a, shape, subok=True: saved["broadcast_to"](a, shape, subok=True)
    for name in ("empty", "zeros", "ones"):
        np.__dict__[name] = lambda shape, dtype=float, _make=saved[name], **kw: _make(shape, dtype, **kw).view(Counted)
    np.array = lambda a, dtype=None, **kw: saved["array"](a, dtype=dtype, **kw).view(Counted)
    try:
        result = kernel(counted)
    finally:
        for name, fn in saved.items():
            setattr(np, name, fn)
    return Counted.ops, result.rounds


def best_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ceiling_ops_per_second(elements: int, repeats: int) -> float:
    """Operations a second of ``c += a*b - d`` (three an element) on float64 arrays of ``elements``."""
    rng = np.random.default_rng(0)
    arrays = {name: rng.random(elements) for name in ("a", "b", "d", "c0")}
    timer = timeit.Timer("c += a*b - d", setup="c = c0", globals=arrays)  # c is updated in place
    number, _ = timer.autorange()
    return 3 * elements / (min(timer.repeat(repeat=repeats, number=number)) / number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="scenario counts S (default %(default)s)")
    parser.add_argument("--months", type=int, default=24, help="the month whose market is timed (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timings of each (default %(default)s)")
    args = parser.parse_args()
    print(machine_header())
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        inputs = capture(n, args.months)
        ops, rounds = count_ops(inputs)
        seconds = best_seconds(lambda: kernel(inputs), args.repeats)
        elements = int(np.prod(inputs["utilities"].shape))
        kernel_rate = ops / seconds
        ceiling = ceiling_ops_per_second(elements, args.repeats)
        rows.append([f"{n:,}", f"{elements:,}", rounds, f"{ops / elements:.0f}", f"{seconds * 1e3:.2f}",
                     f"{kernel_rate:.3g}", f"{ceiling:.3g}", f"{kernel_rate / ceiling:.0%}"])
    print(f"\nkernel: logit weights and water-filling of month {args.months}, operations counted per ufunc "
          "element; ceiling: c += a*b - d (3 operations an element) on arrays of S x N x P elements")
    print(format_table(["S", "S x N x P", "rounds", "ops/element", "kernel ms", "kernel ops/s", "ceiling ops/s",
                        "fraction"], rows))


if __name__ == "__main__":
    main()
