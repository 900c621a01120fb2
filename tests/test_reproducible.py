"""Same config and seed: bit-identical results; another seed: different ones."""

import pandas as pd

from experiments.run import run, write_outputs
from sim.config import load_config


def test_same_seed_gives_identical_metrics_parquet(tmp_path):
    config = load_config(overrides={"run.months": 36})
    a, b = run(config, seed=7), run(config, seed=7)
    write_outputs(a, tmp_path / "a", plots=False)
    write_outputs(b, tmp_path / "b", plots=False)
    for name in ("metrics.parquet", "market.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name),
                                      check_exact=True)
    assert (tmp_path / "a" / "config.resolved.toml").read_text() == (tmp_path / "b" / "config.resolved.toml").read_text()


def test_another_seed_changes_the_random_parts():
    config = load_config(overrides={"run.months": 36})
    a, b = run(config, seed=7), run(config, seed=8)
    assert not a.metrics["revenue_usd"].equals(b.metrics["revenue_usd"])


def test_resolved_config_reruns_to_the_same_result(tmp_path):
    config = load_config(overrides={"run.months": 12})
    first = run(config, seed=3)
    write_outputs(first, tmp_path, plots=False)
    again = run(load_config(tmp_path / "config.resolved.toml"))
    pd.testing.assert_frame_equal(first.metrics, again.metrics, check_exact=True)


def test_ensemble_members_are_bit_identical_to_single_runs():
    """Replicates stepped together (the scenario axis) give exactly what each seed gives alone."""
    from experiments.results import market_frame, metrics_frame
    from sim.model import WattyearModel

    config = load_config(overrides={"run.months": 48})
    seeds = [3, 5, 8]
    ensemble = WattyearModel(config, seeds=seeds).run()
    for i, seed in enumerate(seeds):
        alone = WattyearModel(config, rng=seed).run()
        pd.testing.assert_frame_equal(metrics_frame(ensemble, i), metrics_frame(alone), check_exact=True)
        pd.testing.assert_frame_equal(market_frame(ensemble, i), market_frame(alone), check_exact=True)
    assert not metrics_frame(ensemble, 0)["revenue_usd"].equals(metrics_frame(ensemble, 1)["revenue_usd"])
