"""The packaged configs: ``baseline.toml``, the scenario files, ``bounds.toml`` and the cited
public figures (``sources.csv``), found with ``importlib.resources.files("wattyear.configs")``."""
