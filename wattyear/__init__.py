"""wattyear: an agent-based market simulator of AI-industry economics.

    import wattyear
    result = wattyear.run()          # the calibrated baseline, 2026-2035
    result.metrics                   # a DataFrame: one row per month × agent

The public API (``wattyear.experiments.api``):

- ``load_config(config=None, overrides=None)``: a validated config (a file, a
  packaged config's name such as ``"colossus_lease"``, or a dict), with
  overrides by dotted path;
- ``run(config=None, *, overrides, months, seed)``: one scenario, a
  ``RunResult`` with the tables ``metrics``, ``market``, ``leases``,
  ``funding``, ``summary()`` and ``save()``;
- ``run_ensemble(configs, *, overrides, seeds)``: several scenarios stepped
  together, the same tables with a ``scenario`` column;
- ``sweep(study, out)``: a study (file, packaged name or dict), run into a
  folder, resumable; ``load_results(folder)`` reads a run's or a sweep's
  folder back;
- ``sensitivity(study, out)``: a Sobol' or Morris study and its indices;
- ``compare(a, b, …)``: per-lab differences between runs;
- ``report(folder)``: a Markdown and HTML report of a run, comparison or study;
- ``validate(outcomes, config | posterior=…)``: the model's intervals against observed figures;
  ``posterior_draws(folder, n)``: parameter sets from a posterior sample, as overrides;
- ``ConfigError`` (a bad config, named by file and key) and ``ModelError`` (a run the run-time guard
  stopped, named by month, agent and quantity).

The repository keeps the design's folders (``sim/``, ``agents/``,
``experiments/``, ``configs/``); the build maps them under this one import
name, so an installed wattyear adds nothing else to the top level of
site-packages: ``wattyear.sim``, ``wattyear.agents``, ``wattyear.experiments``
and the packaged ``wattyear.configs``. The API is imported on first use, so
``import wattyear`` (and ``wattyear --version``) stay quick.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wattyear")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_API = ("load_config", "run", "run_ensemble", "sweep", "sensitivity", "report", "validate", "posterior_draws",
        "load_results", "compare", "RunResult", "EnsembleResult",
        "StudyResult", "Comparison", "ConfigError", "ModelError")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from wattyear.experiments import api

        return getattr(api, name)
    raise AttributeError(f"module 'wattyear' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
