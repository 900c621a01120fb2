"""Global sensitivity core: SALib designs and analyses checked on functions with known answers."""

import sys

import numpy as np
import pytest

from wattyear.experiments.analysis.sensitivity import analyze, censor, design, plot_indices
from wattyear.sim.config import ConfigError

ISHIGAMI_RANGES = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}
#: analytic indices of Ishigami's function with a = 7, b = 0.1
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])
#: x3 has no effect; x2 (quadratic, doubled) moves y more than x1
MORRIS_RANGES = {"x1": (0.0, 1.0), "x2": (0.0, 1.0), "x3": (-5.0, 5.0)}


def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def screened(X: np.ndarray) -> np.ndarray:
    return X[:, 0] + 2 * X[:, 1] ** 2 + 0 * X[:, 2]


def test_sobol_indices_of_ishigami_cover_the_analytic_values():
    X = design("saltelli", ISHIGAMI_RANGES, 1024, seed=2026)
    table = analyze("saltelli", ISHIGAMI_RANGES, X, ishigami(X), seed=2026)
    assert list(table.columns) == ["parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert list(table["parameter"]) == ["x1", "x2", "x3"]
    assert np.all(np.abs(table["S1"] - ISHIGAMI_S1) <= table["S1_conf"])
    assert np.all(np.abs(table["ST"] - ISHIGAMI_ST) <= table["ST_conf"])


def test_morris_finds_the_input_without_effect_and_ranks_the_others():
    X = design("morris", MORRIS_RANGES, 20, seed=5)
    table = analyze("morris", MORRIS_RANGES, X, screened(X), seed=5)
    assert list(table.columns) == ["parameter", "mu", "mu_star", "mu_star_conf", "sigma"]
    mu_star = dict(zip(table["parameter"], table["mu_star"]))
    assert mu_star["x3"] == 0.0
    assert mu_star["x2"] > mu_star["x1"] > mu_star["x3"]
    # x1 is linear: every effect is its change across the range, 1
    assert mu_star["x1"] == pytest.approx(1.0)


def test_morris_effects_do_not_depend_on_the_levels_of_the_grid():
    linear = {"x1": (0.0, 1.0), "x2": (10.0, 20.0)}
    for levels in (4, 6):
        X = design("morris", linear, 8, seed=1, levels=levels)
        table = analyze("morris", linear, X, 3 * X[:, 0] + 0.5 * X[:, 1], seed=1)
        # the change across each range: 3 × 1 and 0.5 × 10
        assert table["mu_star"].to_numpy() == pytest.approx([3.0, 5.0])


def test_design_shapes_ranges_and_reproducibility():
    ranges = {"a": (0.0, 1.0), "b": (10.0, 20.0), "c": (-1.0, 1.0), "d": (5.0, 6.0)}
    saltelli = design("saltelli", ranges, 64, seed=3)
    morris = design("morris", ranges, 10, seed=3, levels=6)
    assert saltelli.shape == (64 * (4 + 2), 4)
    assert morris.shape == (10 * (4 + 1), 4)
    for X in (saltelli, morris):
        assert np.all((X >= [0, 10, -1, 5]) & (X <= [1, 20, 1, 6]))
    np.testing.assert_array_equal(saltelli, design("saltelli", ranges, 64, seed=3))
    np.testing.assert_array_equal(morris, design("morris", ranges, 10, seed=3, levels=6))
    assert not np.array_equal(saltelli, design("saltelli", ranges, 64, seed=4))


def test_saltelli_needs_a_power_of_two():
    with pytest.raises(ConfigError) as err:
        design("saltelli", ISHIGAMI_RANGES, 100, seed=1)
    (problem,) = err.value.problems
    assert (problem.key, problem.expected, problem.found) == ("sample.n", "a power of 2 such as 64", 100)


def test_unknown_method_and_odd_levels_are_config_errors():
    with pytest.raises(ConfigError, match="sample.method"):
        design("fast", ISHIGAMI_RANGES, 64, seed=1)
    with pytest.raises(ConfigError, match="sample.levels"):
        design("morris", ISHIGAMI_RANGES, 4, seed=1, levels=5)


def test_missing_salib_says_how_to_install_it(monkeypatch):
    for name in [m for m in sys.modules if m == "SALib" or m.startswith("SALib.")] or ["SALib"]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigError) as err:
        design("saltelli", ISHIGAMI_RANGES, 64, seed=1)
    (problem,) = err.value.problems
    assert (problem.key, problem.found) == ("SALib", "not installed")
    assert "wattyear[ema]" in problem.expected


def test_the_same_seed_gives_the_same_intervals_even_seed_zero():
    X = design("saltelli", ISHIGAMI_RANGES, 64, seed=0)
    first = analyze("saltelli", ISHIGAMI_RANGES, X, ishigami(X), seed=0)
    again = analyze("saltelli", ISHIGAMI_RANGES, X, ishigami(X), seed=0)
    assert first.equals(again)


def test_analyze_refuses_nan_outcomes():
    X = design("saltelli", ISHIGAMI_RANGES, 64, seed=1)
    Y = ishigami(X)
    Y[[3, 17, 40]] = np.nan
    with pytest.raises(ValueError, match="3 of 320 outcomes are NaN"):
        analyze("saltelli", ISHIGAMI_RANGES, X, Y, seed=1)


def test_analyze_refuses_outcomes_that_do_not_match_the_design():
    X = design("morris", MORRIS_RANGES, 4, seed=1)
    with pytest.raises(ValueError, match="one outcome per row"):
        analyze("morris", MORRIS_RANGES, X, screened(X)[:-1], seed=1)


@pytest.mark.parametrize("method, n", [("saltelli", 64), ("morris", 8)])
def test_a_constant_outcome_gives_zeros_and_a_note(method, n):
    X = design(method, MORRIS_RANGES, n, seed=1)
    table = analyze(method, MORRIS_RANGES, X, np.full(len(X), 7.0), seed=1)
    indices = table.drop(columns=["parameter", "note"])
    assert (indices.to_numpy() == 0).all()
    assert (table["note"] == "outcome does not vary").all()


@pytest.mark.parametrize("method", ["saltelli", "morris"])
def test_plot_indices_writes_a_png(tmp_path, method):
    X = design(method, MORRIS_RANGES, 16, seed=1)
    table = analyze(method, MORRIS_RANGES, X, screened(X), seed=1)
    path = plot_indices(table, method, f"{method}: toy outcome", tmp_path / f"{method}.png")
    assert path == tmp_path / f"{method}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_censor_counts_never_crossing_as_one_month_after_the_horizon():
    values, censored = censor(np.array([np.nan, 1.0, 36.0, np.nan, np.nan]), horizon=36)
    np.testing.assert_array_equal(values, [37.0, 1.0, 36.0, 37.0, 37.0])
    assert censored == 3
    values, censored = censor(np.array([4, 9]), horizon=12)
    np.testing.assert_array_equal(values, [4.0, 9.0])
    assert censored == 0
