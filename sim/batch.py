"""A batch of scenarios as one config: numbers as arrays over the scenario axis.

Scenarios stepped together as one ensemble share the model's structure (the
same agents, segments, hardware, leases and dates) and may differ in every
parameter the schema marks ``varies`` (``sim.schema.Field.varies``: the
numbers). ``stack`` turns a list of validated configs into one nested dict
of the same shape in which each such parameter is a numpy array of shape
(S,), the scenario axis, in every scenario order, even where all scenarios
agree: decision rules then read every parameter as an array and a batch of
one runs through exactly the code a batch of thousands does. Everything else
(ids, names, dates, month counts that place rows in time, array sizes) stays
a plain value and must be the same in every scenario.

``structure_key`` tells whether two configs can share an ensemble (the sweep
runner, which knows which parameters a study varies, groups its design points
by those alone: ``experiments.studies.sweep.structure_of``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from wattyear.sim.config import ConfigError, Problem
from wattyear.sim.paths import set_at
from wattyear.sim.schema import COLLECTIONS, LISTS, SECTIONS, Field

#: what a per-scenario number of each kind becomes
_DTYPE = {"float": float, "int": np.int64, "segment_map": float, "lab_map": float}


def _walk(node: Any, fields: dict[str, Field], path: str):
    """Yield (dotted path, field, value) for every leaf of a validated table."""
    for key, f in fields.items():
        value = node[key]
        where = f"{path}.{key}"
        if f.kind == "table_list":
            for i, item in enumerate(value):
                yield from _walk(item, f.item, f"{where}.{i}")
        elif f.kind in ("segment_map", "lab_map"):
            for map_key, v in value.items():
                yield f"{where}.{map_key}", f, v
        else:
            yield where, f, value


def leaves(cfg: dict):
    """Every parameter of a validated config as (dotted path, field, value), in a fixed order."""
    for name, fields in SECTIONS.items():
        yield from _walk(cfg[name], fields, name)
    for name, fields in COLLECTIONS.items():
        for eid, body in cfg[name].items():
            yield from _walk(body, fields, f"{name}.{eid}")
    for name, fields in LISTS.items():
        for i, item in enumerate(cfg[name]):
            yield from _walk(item, fields, f"{name}.{i}")


def _shape(cfg: dict) -> list:
    """The config's tables, entries and map keys, without values (what must match to stack)."""
    return [(path, f.varies) for path, f, _ in leaves(cfg)]


def structure_key(cfg: dict) -> str:
    """A key equal for two validated configs exactly when they can be stepped as one ensemble:
    the same tables and entries, and the same value of every parameter that does not vary."""
    fixed = [(path, value) for path, f, value in leaves(cfg) if not f.varies and path != "run.seed"]
    return json.dumps([_shape(cfg), fixed], default=str)


def _tables(node: Any, fields: dict[str, Field], keys: tuple, path: str):
    """Yield (keys to the table, dotted path, [(key, dotted path, field)] of its leaves) for a validated
    table and the tables and maps inside it."""
    here = []
    for key, f in fields.items():
        where = f"{path}.{key}"
        if f.kind == "table_list":
            for i, item in enumerate(node[key]):
                yield from _tables(item, f.item, keys + (key, i), f"{where}.{i}")
        elif f.kind in ("segment_map", "lab_map"):
            yield keys + (key,), where, [(k, f"{where}.{k}", f) for k in node[key]]
        else:
            here.append((key, where, f))
    yield keys, path, here


def _layout(cfg: dict) -> list:
    """Every table of a validated config with its leaves, in ``leaves`` order of tables."""
    out = []
    for name, fields in SECTIONS.items():
        out += _tables(cfg[name], fields, (name,), name)
    for name, fields in COLLECTIONS.items():
        for eid, body in cfg[name].items():
            out += _tables(body, fields, (name, eid), f"{name}.{eid}")
    for name, fields in LISTS.items():
        for i, item in enumerate(cfg[name]):
            out += _tables(item, fields, (name, i), f"{name}.{i}")
    return out


def _at(cfg: Any, keys: tuple) -> Any:
    for key in keys:
        cfg = cfg[key]
    return cfg


def _same_tables(cfg: dict, first: dict, layout: list) -> str | None:
    """The first table, entry list or map of ``first`` (laid out as ``layout``) that ``cfg`` lacks or holds
    differently, or None."""
    for name in (*SECTIONS, *COLLECTIONS, *LISTS):
        a, b = first.get(name), cfg.get(name)
        if isinstance(a, dict) and name in COLLECTIONS and list(a) != list(b or {}):
            return name  # the same entries in the same order: order sets ledger columns and ties
        if isinstance(a, list) and len(a) != len(b or []):
            return name
    for keys, path, leaf_list in layout:
        try:
            node = _at(cfg, keys)
        except (KeyError, IndexError, TypeError):
            return path
        mine = _at(first, keys)
        if node is mine:  # a table shared with the base: the same by construction
            continue
        if not isinstance(node, dict) or list(node) != list(mine):
            return path  # the same keys in the same order (map order sets how sums run)
        for key, value in node.items():  # lists of tables inside (fleets, funding) must be as long
            if isinstance(value, list) and len(value) != len(mine[key]):
                return f"{path}.{key}"
    return None


def stack(configs: list[dict], sources: list[str] | None = None) -> dict:
    """One config for a batch: per-scenario parameters as (S,) arrays, the rest shared.

    Raises ``ConfigError`` naming the scenario, the key and both values if the
    configs differ in something that sets the model's structure. Configs made
    from one base (``sim.config.with_overrides``) share the base's tables, so
    checking them is a comparison of identities for most tables.
    """
    if not configs:
        raise ValueError("a batch needs at least one config")
    sources = sources or [f"scenario {i}" for i in range(len(configs))]
    first = configs[0]
    layout = _layout(first)
    problems = []
    for i, cfg in enumerate(configs[1:], start=1):
        if cfg is not first and (differs := _same_tables(cfg, first, layout)):
            problems.append(Problem(sources[i], differs, f"the same tables, entries and map keys as {sources[0]}",
                                    "a different set"))
    if problems:
        raise ConfigError(problems)
    out = _copy_structure(first)
    for keys, _, leaf_list in layout:
        nodes = [_at(cfg, keys) for cfg in configs]
        target = _at(out, keys)
        for key, path, f in leaf_list:
            value = nodes[0][key]
            if f.varies:
                target[key] = np.array([node[key] for node in nodes], dtype=_DTYPE[f.kind])
            elif path != "run.seed":
                for i, node in enumerate(nodes[1:], start=1):
                    if node[key] != value:
                        problems.append(Problem(sources[i], path, f"{value!r} as in {sources[0]}: it sets the "
                                                "model's structure, so scenarios that differ in it run as "
                                                "separate ensembles", node[key]))
                        break
    if problems:
        raise ConfigError(problems)
    return out


def _copy_structure(cfg: Any) -> Any:
    if isinstance(cfg, dict):
        return {k: _copy_structure(v) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [_copy_structure(v) for v in cfg]
    return cfg


def unstack(batched: dict, scenario: int) -> dict:
    """The plain config of one scenario of a stacked config (numbers as Python floats and ints).

    >>> from sim.config import load_config
    >>> base = load_config()
    >>> unstack(stack([base, base]), 1) == base
    True
    """
    out = _copy_structure(batched)
    for path, f, value in leaves(batched):
        if f.varies:
            set_at(out, path, np.asarray(value)[scenario].item())
    return out


__all__ = ["stack", "unstack", "structure_key", "leaves"]
