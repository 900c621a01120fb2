"""What kind of result a folder holds, so one kind is never written into another.

A run folder (``wattyear run``) has ``run.json``; a comparison (``wattyear compare``) ``comparison.csv``; a
study (``wattyear sweep`` / ``sensitivity``) ``identity.json`` or ``manifest.jsonl``; a posterior
(``wattyear calibrate --posterior``) ``posterior.json``; a validation (``wattyear validate``) ``validation.csv``. Writing a run into a study's folder (or the reverse)
would leave neither readable, so it is refused, naming the flag and the folder. A folder of the same kind
written again loses the outputs derived from its old contents that the new write does not make (plots after
``--no-plots``, a report, a cost view), so nothing stale is shown beside the new tables.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from wattyear.sim.problems import ConfigError, Problem

MARKERS = {"run": ("run.json",), "comparison": ("comparison.csv",), "study": ("identity.json", "manifest.jsonl"),
           "posterior": ("posterior.json",), "validation": ("validation.csv",)}
#: outputs derived from a folder's tables, by kind: removed before the folder is written again
DERIVED = {"run": ("per_watt_metrics.png", "market.png", "self_funding.png", "report.md", "report.html",
                   "costs.csv", "segment_prices.csv", "costs.png"),
           "comparison": ("compare_*.png", "report.md", "report.html", "runs/*")}


def kinds_in(folder: Path) -> list[str]:
    """The kinds of result ``folder`` holds (none for a new or unrelated folder)."""
    folder = Path(folder)
    return [kind for kind, names in MARKERS.items() if any((folder / name).exists() for name in names)]


def check_kind(folder: Path, kind: str, flag: str = "--out") -> None:
    """Refuse a folder that holds results of another kind than ``kind`` (before anything is run)."""
    others = [k for k in kinds_in(folder) if k != kind]
    if others:
        raise ConfigError([Problem(flag, str(folder), f"a new folder or a {kind} folder (one folder holds one kind "
                                   "of result, so each reads back as what it is)", f"a {others[0]} folder")])


def claim(folder: Path, kind: str, flag: str = "--out") -> None:
    """Refuse to write a ``kind`` result into a folder holding another kind; clear the derived outputs of
    a folder of the same kind (they would describe the old tables)."""
    folder = Path(folder)
    check_kind(folder, kind, flag)
    if kind in kinds_in(folder):
        for pattern in DERIVED.get(kind, ()):
            for path in folder.glob(pattern):
                if path.is_symlink() or path.is_file():  # (a link is removed, never followed)
                    path.unlink()
                elif path.is_dir() and "run" in kinds_in(path):  # a run a comparison made: it may not be in
                    shutil.rmtree(path)  # the new one (only run folders are removed: nothing else of the user's)


def writes(function):
    """Mark a function that writes a result: an ``OSError`` it raises (a full disk, a folder that cannot be
    made, a file in the way) becomes a ``WriteError`` naming the file, so the message says "cannot write".
    Other OSErrors are reported without a verb, as the command cannot tell a read from a write."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from wattyear.experiments.studies.folder_files import WriteError, write_error

        try:
            return function(*args, **kwargs)
        except WriteError:
            raise
        except OSError as exc:
            raise write_error(exc, Path(exc.filename or "")) from exc

    return wrapper
