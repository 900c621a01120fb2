"""One run: a config in; metrics, market, plots, summary and the exact config out."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from wattyear.experiments.plots import plot_market, plot_per_watt, plot_self_funding
from wattyear.experiments.results import funding_frame, leases_frame, market_frame, metrics_frame
from wattyear.experiments.summary import format_crossings, format_summary
from wattyear.sim.model import WattyearModel


@dataclass
class RunResult:
    model: WattyearModel
    metrics: pd.DataFrame
    market: pd.DataFrame
    leases: pd.DataFrame
    funding: pd.DataFrame
    seconds: float


def run(config: dict, seed: int | None = None) -> RunResult:
    """Run a validated config to its horizon; ``seed`` overrides ``run.seed``."""
    config = dict(config, run=dict(config["run"], **({} if seed is None else {"seed": seed})))
    t0 = time.perf_counter()
    model = WattyearModel(config).run()
    seconds = time.perf_counter() - t0
    return RunResult(model, metrics_frame(model), market_frame(model), leases_frame(model), funding_frame(model),
                     seconds)


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary name, then rename: a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _toml_ready(value):
    """tomli-w cannot write None or numpy scalars; configs hold neither, but be safe."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_outputs(result: RunResult, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write the resolved config, run record, Parquet tables, plots and summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = result.model
    written = []
    cfg_path = out_dir / "config.resolved.toml"
    config = model.scenario_config(0)
    _atomic_write(cfg_path, lambda p: p.write_text(tomli_w.dumps(_toml_ready(config))))
    record = {
        "seed": int(config["run"]["seed"]),
        "start": model.start,
        "months": model.horizon,
        "run_seconds": round(result.seconds, 4),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    run_path = out_dir / "run.json"
    _atomic_write(run_path, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    written += [cfg_path, run_path]
    for name, frame in (("metrics.parquet", result.metrics), ("market.parquet", result.market),
                        ("leases.parquet", result.leases), ("funding.parquet", result.funding)):
        path = out_dir / name
        _atomic_write(path, lambda p, f=frame: f.to_parquet(p, index=False))
        written.append(path)
    summary = summary_text(result)
    summary_path = out_dir / "summary.txt"
    _atomic_write(summary_path, lambda p: p.write_text(summary + "\n"))
    written.append(summary_path)
    if plots:
        written.append(plot_per_watt(result.metrics, out_dir / "per_watt_metrics.png"))
        written.append(plot_market(result.market, out_dir / "market.png"))
        written.append(plot_self_funding(result.metrics, result.funding, out_dir / "self_funding.png"))
    return written


def summary_text(result: RunResult) -> str:
    model = result.model
    table = format_summary(result.metrics, str(model.date(0))[:7], str(model.date(len(model.history) - 1))[:7])
    return table + "\n\n" + format_crossings(result.metrics, model.date)
