"""wattyear: an agent-based market simulator of AI-industry economics.

The repository keeps the design's folders (``sim/``, ``agents/``,
``experiments/``, ``configs/``); the build maps them under this one import
name, so an installed wattyear adds nothing else to the top level of
site-packages: ``wattyear.sim``, ``wattyear.agents``, ``wattyear.experiments``
and the packaged ``wattyear.configs``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wattyear")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
