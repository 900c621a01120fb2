"""The dashboard: its model and numbers (``model``) and Mesa's SolaraViz page (``app``)."""

from wattyear.experiments import forward

__getattr__ = forward("wattyear.experiments.dashboard", "wattyear.experiments.dashboard.model")  # (was dashboard.py)
