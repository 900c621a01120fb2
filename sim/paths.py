"""Dotted parameter paths (``labs.anthropic.watts``, ``labs.xai.fleet.0.watts``): the one walker of a config
by path, used by ``--set``, sweeps, calibration, batches and the dashboard.

A path's parts are table keys, or list indices where the node is a list; map keys contain no dots.
"""

from __future__ import annotations

import copy
from typing import Any


def parts(path: str) -> list[str]:
    """The parts of a dotted path.

    >>> parts("labs.xai.fleet.0.watts")
    ['labs', 'xai', 'fleet', '0', 'watts']
    """
    return path.split(".")


def _child(node: Any, part: str) -> Any:
    return node[int(part)] if isinstance(node, list) else node[part]


def value_at(cfg: dict, path: str):
    """The value at a dotted path (list entries by index); KeyError if there is none.

    >>> value_at({"labs": {"x": {"fleet": [{"watts": 5.0}]}}}, "labs.x.fleet.0.watts")
    5.0
    """
    node = cfg
    for part in parts(path):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def set_at(cfg: dict, path: str, value: Any) -> None:
    """Set the leaf at a dotted path whose tables exist (list entries by index).

    >>> cfg = {"world": {"pue": 1.1}}
    >>> set_at(cfg, "world.pue", 1.2); cfg
    {'world': {'pue': 1.2}}
    """
    *head, leaf = parts(path)
    node: Any = cfg
    for part in head:
        node = _child(node, part)
    node[int(leaf) if isinstance(node, list) else leaf] = value


def copy_along(cfg: dict, path: str) -> None:
    """Copy (shallowly) every table on the path below ``cfg``, so that setting the leaf leaves every
    other holder of those tables as it was; stops where the path leaves the config."""
    node: Any = cfg
    for part in parts(path)[:-1]:
        key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            return
        node[key] = child = copy.copy(child) if isinstance(child, (dict, list)) else child
        node = child
