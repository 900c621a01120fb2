"""Analysis and reports: a sweep's outcomes (``outcomes``), Sobol' and Morris (``sensitivity``),
scenario discovery with EMA Workbench (``ema``, ``scenario_discovery``), comparisons (``compare``),
reports (``report``), a run's plots (``plots``) and summary (``summary``)."""

from wattyear.experiments import forward

__getattr__ = forward("wattyear.experiments.analysis", "wattyear.experiments.analysis.outcomes")  # (was analysis.py)
