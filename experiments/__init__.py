"""What wattyear does with the model: the command line (``cli``), the Python API (``api``), one run and
its tables (``run``, ``results``), and four rooms:

* ``studies``: study files, sweeps, where their ensembles run, the result store and its folder;
* ``calibration``: the fit against public figures (``fit``), ABC-SMC (``abc``), posteriors
  (``posterior``), the backtest (``backtest``) and ``validate``;
* ``analysis``: a sweep's outcomes, sensitivity, scenario discovery with EMA Workbench, comparisons,
  reports, plots and the run summary;
* ``dashboard``: the dashboard's model (``model``) and page (``app``).

Modules that sat in this folder before it had rooms (``wattyear.experiments.sweep``, …) still import,
with a ``DeprecationWarning`` that names their new place; ``python -m`` runs them too.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: this package's name (``__name__`` differs where a test runner imports the file by its path)
PACKAGE = "wattyear.experiments"

#: a module's old name in this package → its place now
MOVED = {
    "abc": "calibration.abc", "analysis": "analysis.outcomes", "backtest": "calibration.backtest",
    "calibration": "calibration.least_squares", "compare": "analysis.compare", "dashboard": "dashboard.model",
    "dashboard_app": "dashboard.app", "ema": "analysis.ema", "executors": "studies.executors",
    "plots": "analysis.plots", "posterior": "calibration.posterior", "report": "analysis.report",
    "result_folder": "studies.result_folder", "scenario_discovery": "analysis.scenario_discovery",
    "sensitivity": "analysis.sensitivity", "store": "studies.store", "study": "studies.study",
    "summary": "analysis.summary", "sweep": "studies.sweep", "validate": "calibration.validate",
}


#: rooms that have the name a module had: they forward that module's names themselves (``forward``)
ROOMS = ("studies", "calibration", "analysis", "dashboard")


def moved_to(old: str) -> str | None:
    """The full name of the module ``wattyear.experiments.<old>`` moved to, or None.

    >>> moved_to("sweep")
    'wattyear.experiments.studies.sweep'
    """
    return f"{PACKAGE}.{MOVED[old]}" if old in MOVED else None


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} has moved to {new}; import it from there", DeprecationWarning, stacklevel=3)


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of a module by its old name give the module at its new place (one module object)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix = PACKAGE + "."
        if not fullname.startswith(prefix) or "." in fullname[len(prefix):] or fullname[len(prefix):] in ROOMS:
            return None
        if moved_to(fullname[len(prefix):]) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = moved_to(spec.name.rsplit(".", 1)[1])
        _warn(spec.name, new)
        return importlib.import_module(new)

    def exec_module(self, module) -> None:
        """The module at its new place is already executed."""

    def get_code(self, fullname):
        """``python -m wattyear.experiments.<old>`` runs the module at its new place (and says so)."""
        new = moved_to(fullname.rsplit(".", 1)[1])
        print(f"note: {fullname} has moved to {new}; run python -m {new}", file=sys.stderr)
        return importlib.util.find_spec(new).loader.get_code(new)


def _install() -> None:
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModules())


_install()


def forward(package: str, module: str):
    """A module ``__getattr__`` for a room that has the name a module had (``calibration``, ``analysis``,
    ``dashboard``): its submodules as attributes, and the old module's names from ``module`` with a
    ``DeprecationWarning``."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise
        target = importlib.import_module(module)
        if not hasattr(target, name):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        _warn(f"{package}.{name}", f"{module}.{name}")
        return getattr(target, name)

    return __getattr__
