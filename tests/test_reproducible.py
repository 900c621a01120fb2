"""Same config and seed: bit-identical results; another seed: different ones."""

import pandas as pd

from wattyear.experiments.run import run, write_outputs
from wattyear.sim.config import load_config


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
    from wattyear.experiments.results import market_frame, metrics_frame
    from wattyear.sim.model import WattyearModel

    config = load_config(overrides={"run.months": 48})
    seeds = [3, 5, 8]
    ensemble = WattyearModel(config, seeds=seeds).run()
    for i, seed in enumerate(seeds):
        alone = WattyearModel(config, rng=seed).run()
        pd.testing.assert_frame_equal(metrics_frame(ensemble, i), metrics_frame(alone), check_exact=True)
        pd.testing.assert_frame_equal(market_frame(ensemble, i), market_frame(alone), check_exact=True)
    assert not metrics_frame(ensemble, 0)["revenue_usd"].equals(metrics_frame(ensemble, 1)["revenue_usd"])


def test_cutting_builds_in_one_scenario_leaves_the_others_bit_identical():
    """A lab in distress in scenario 0 only stops its build there: the other scenario's sums
    over the table are the same, to the bit, as in a table where nothing was cut, and the
    cut scenario keeps the part it paid for (3 of 12 months: a quarter of 1,000 W)."""
    import numpy as np

    from wattyear.sim.fleet import Fleet

    def table():
        fleet = Fleet(1, 2, watts=np.zeros((2, 0)))
        fleet.add(0, 0, np.array([0.1, 0.2]), 0, 60, 30.0)
        fleet.add(0, 0, np.array([1000.0, 1000.0 / 3]), 12, 60, 50.0, order_step=0)
        fleet.add(1, 0, np.array([7.0, 7.0]), 0, 60, 30.0)
        return fleet

    cut, untouched = table(), table()
    cut.cut_builds(0, np.array([True, False]), 3)
    for step in (3, 4, 12, 20):
        assert cut.owned_watts(step)[1].tobytes() == untouched.owned_watts(step)[1].tobytes()
        assert cut.capex_due_usd(step)[1].tobytes() == untouched.capex_due_usd(step)[1].tobytes()
    assert cut.owned_watts(4)[0, 0, 0] == 0.1 + 250.0
    assert cut.capex_due_usd(4)[0, 0] == 0.0 and cut.capex_due_usd(12)[0, 0] == 0.0
