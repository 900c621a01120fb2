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

``structure_key`` tells whether two configs can share an ensemble; the sweep
runner groups design points by it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sim import schema
from sim.config import ConfigError, Problem
from sim.schema import COLLECTIONS, LISTS, SECTIONS, Field

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


def stack(configs: list[dict], sources: list[str] | None = None) -> dict:
    """One config for a batch: per-scenario parameters as (S,) arrays, the rest shared.

    Raises ``ConfigError`` naming the scenario, the key and both values if the
    configs differ in something that sets the model's structure.
    """
    if not configs:
        raise ValueError("a batch needs at least one config")
    sources = sources or [f"scenario {i}" for i in range(len(configs))]
    first = configs[0]
    shape = _shape(first)
    problems = []
    for i, cfg in enumerate(configs[1:], start=1):
        other = _shape(cfg)
        if other != shape:
            extra = sorted({p for p, _ in other} ^ {p for p, _ in shape})[:5]
            problems.append(Problem(sources[i], ", ".join(extra) or "(tables)",
                                    f"the same tables, entries and map keys as {sources[0]}",
                                    "a different set"))
    if problems:
        raise ConfigError(problems)
    columns = [list(v for _, _, v in leaves(cfg)) for cfg in configs]
    out = _copy_structure(first)
    for j, (path, f, value) in enumerate(leaves(first)):
        values = [col[j] for col in columns]
        if f.varies:
            _set(out, path, np.array(values, dtype=_DTYPE[f.kind]))
        elif path != "run.seed":
            for i, v in enumerate(values[1:], start=1):
                if v != value:
                    problems.append(Problem(sources[i], path, f"{value!r} as in {sources[0]}: it sets the "
                                            "model's structure, so scenarios that differ in it run as "
                                            "separate ensembles", v))
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


def _set(cfg: dict, path: str, value) -> None:
    """Set a leaf by dotted path (map keys may contain no dots; list entries by index)."""
    parts = path.split(".")
    node: Any = cfg
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[parts[-1]] = value


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
            _set(out, path, np.asarray(value)[scenario].item())
    return out


def scenario_count(batched: dict) -> int:
    """S of a stacked config (the length of any per-scenario array)."""
    for path, f, value in leaves(batched):
        if f.varies:
            return len(value)
    return 1


__all__ = ["stack", "unstack", "structure_key", "leaves", "scenario_count", "schema"]
