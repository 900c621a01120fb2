"""Calibration and validation: the baseline against public figures and a least-squares fit (``fit``),
ABC-SMC (``abc``), Bayesian calibration and posterior draws (``posterior``), the 2025 backtest
(``backtest``), and checks against observed outcomes (``validate``)."""

from wattyear.experiments import forward

__getattr__ = forward("wattyear.experiments.calibration", "wattyear.experiments.calibration.least_squares")  # (was calibration.py)
