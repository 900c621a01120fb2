"""Load, override and validate TOML configs before anything runs.

A config is checked once, completely, and every problem is reported together:
``ConfigError`` carries a list of ``Problem`` (file, key, expected, found;
``sim/problems.py``). Files are found and read in ``sim/config_files.py``,
checked in ``sim/config_checks.py``; this module resolves a config (read,
override by dotted path, check, fill defaults) and is where the rest of the
code imports all of it from. The validated config is a plain nested dict with
every default filled.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from wattyear.sim import paths, schema
from wattyear.sim.paths import value_at
from wattyear.sim.config_checks import (FRINGE_ID, PUBLISHER_ID, RESERVED_IDS, _check_structure, check_references,
                                        check_value, owned_watts_at)
from wattyear.sim.config_files import (BASELINE, CONFIG_DIR, SOURCE_CHECKOUT, extend, find_config, is_packaged,
                                       merge, packaged_configs, read_scenario, read_toml)
from wattyear.sim.problems import ConfigError, Problem, did_you_mean, relabel
from wattyear.sim.schema import COLLECTIONS, LISTS, SECTIONS, Field

def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """Read a config file (a path, or the name of a packaged config such as ``"baseline"``; default
    the baseline), apply dotted-path overrides, validate, fill defaults."""
    path = find_config(path)
    raw = read_scenario(path)
    return resolve(raw, source=str(path), overrides=overrides)


class ResolvedConfig(dict):
    """A config dict as ``resolve`` returns it: validated, defaults filled. ``WattyearModel`` validates any
    other dict it is given (a plain dict, however it was made, is checked like a file), and trusts this
    one (a copy stays one; mutating it afterwards is the caller's responsibility)."""


def resolve(raw: dict, source: str = "<config>", overrides: dict[str, Any] | None = None) -> ResolvedConfig:
    """Validate a raw config dict (plus overrides) and return it with defaults."""
    written, raw = raw, copy.deepcopy(raw)  # (the caller's dict is never changed)
    problems: list[Problem] = []
    for path, value in (overrides or {}).items():
        problem = apply_override(raw, path, value)
        if problem:
            problems.append(problem)
    if problems:
        if any(p.expected.startswith("a table (its values are set by path)") for p in problems):
            # (an override into a file's non-table, such as run = [1, 2] with --months: the file's mistake)
            own = _check_structure(copy.deepcopy(written), source)[1]
            problems = own or problems
        raise ConfigError(problems)
    cfg, problems = _check_structure(raw, source)
    for hw_id, hw in cfg["hardware"].items():
        hw["family"] = hw.get("family") or hw_id
    if not problems:
        problems = check_references(cfg, source)
    if problems:
        # a value that came from --set is reported as coming from there
        raise ConfigError([Problem("--set", p.key, p.expected, p.found) if _overridden(p, overrides or {}) else p
                           for p in problems])
    return ResolvedConfig(cfg)


def _overridden(problem: Problem, overrides: dict) -> bool:
    """Whether a problem comes from an override: the path itself, one inside it (a rule over a whole table,
    such as funding shares summing to 1), or, in the same list entry, one whose value the problem found (a
    rule across an entry's fields, such as a funding source's partner and its commitment)."""
    key = problem.key
    parent = key.rpartition(".")[0]
    entry = parent.rpartition(".")[2].isdigit()
    for path, value in overrides.items():
        if path == key or path.startswith(key + "."):
            return True
        if entry and path.rpartition(".")[0] == parent and _same(value, problem.found):
            return True
    return False


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (values of any kind)
        return False


def with_overrides(cfg: dict, overrides: dict[str, Any]) -> dict:
    """A validated config with dotted-path overrides applied and checked, as ``resolve`` would.

    Each new value is checked against its field and then the cross-table rules
    run on the result; the rest of ``cfg`` was checked when it was loaded, so it
    is not checked again (a sweep applies thousands of design points to one
    base: well under a millisecond each instead of several). Only the tables on
    an override's path are copied; the others are shared with ``cfg`` (configs
    are not modified once validated), which also lets ``sim.batch.stack`` see at
    once which tables two design points share.
    """
    out = dict(cfg)
    problems: list[Problem] = []
    for path, value in overrides.items():
        paths.copy_along(out, path)  # (apply_override makes missing map tables)
        problem = apply_override(out, path, value)
        if problem:
            problems.append(problem)
            continue
        paths.set_at(out, path, check_value(value, field_at(path), path, "--set", problems))
    hardware = out["hardware"]
    for hw_id, hw in list(hardware.items()):  # an empty family is the hardware's own id, as in resolve
        if not hw.get("family"):
            if hardware is cfg["hardware"]:
                hardware = out["hardware"] = dict(hardware)
            hardware[hw_id] = dict(hw, family=hw_id)
    if not problems:
        problems = [Problem("--set", p.key, p.expected, p.found) if p.key in overrides else p
                    for p in check_references(out, "<config>")]
    if problems:
        raise ConfigError(problems)
    # the rest was checked when cfg was resolved: the result is as trusted as cfg
    return ResolvedConfig(out) if isinstance(cfg, ResolvedConfig) else out


# ---------------------------------------------------------------- overrides

def parse_value(text: str) -> Any:
    """Parse the VALUE of ``--set PATH=VALUE`` as TOML, else keep it a string.

    >>> parse_value("2e9"), parse_value('"x"'), parse_value("hopper"), parse_value("[1, 2]")
    (2000000000.0, 'x', 'hopper', [1, 2])
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except ValueError:  # not TOML (TOMLDecodeError), or an integer past Python's 4,300 digits: a string
        return text


def field_at(path: str, raw: dict | None = None) -> Field | None:
    """The schema field a dotted path names, or None if there is none."""
    parts = paths.parts(path)
    head = parts[0]
    if head in SECTIONS and len(parts) == 2:
        return SECTIONS[head].get(parts[1])
    if head in SECTIONS and len(parts) == 3:
        f = SECTIONS[head].get(parts[1])
        if f is not None and f.kind in ("segment_map", "lab_map"):
            return Field("float", f.unit, f.doc, min=f.min, max=f.max, exclusive_min=f.exclusive_min, unset=f.unset)
    if head in COLLECTIONS and len(parts) == 3:
        return COLLECTIONS[head].get(parts[2])
    if head in COLLECTIONS and len(parts) == 4:
        f = COLLECTIONS[head].get(parts[2])
        if f is not None and f.kind in ("segment_map", "lab_map"):
            return Field("float", f.unit, f.doc, min=f.min, max=f.max, exclusive_min=f.exclusive_min, unset=f.unset)
    if head in LISTS and len(parts) == 3 and parts[1].isdigit():
        return LISTS[head].get(parts[2])
    # an entry of a list inside a table: labs.xai.fleet.0.watts, open_weights.fleet.1.in_service
    table = COLLECTIONS.get(head) if len(parts) == 5 else SECTIONS.get(head) if len(parts) == 4 else None
    if table is not None and parts[-2].isdigit():
        f = table.get(parts[-3])
        if f is not None and f.kind == "table_list" and f.item is not None:
            return f.item.get(parts[-1])
    return None


def parameter_paths(raw: dict) -> list[str]:
    """Every scalar parameter's dotted path in a config as written (entities by their ids)."""
    out = [f"{head}.{key}" for head, fields in SECTIONS.items() for key in fields]
    for head, fields in COLLECTIONS.items():
        for entity in (raw.get(head) or {}):
            out += [f"{head}.{entity}.{key}" for key in fields]
    return out


def apply_override(raw: dict, path: str, value: Any) -> Problem | None:
    """Set ``raw[path] = value`` for a dotted path that names a known parameter.

    The entity must exist (``labs.anthropic`` must be in the file); the value is
    then checked with the rest of the config.
    """
    parts = paths.parts(path)
    if field_at(path) is None:
        return Problem("--set", path, "a parameter path such as labs.anthropic.watts (`wattyear params` lists "
                       "them)" + did_you_mean(path, parameter_paths(raw)), path)
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, (dict, list)) or (isinstance(node, list) and not part.isdigit()):
            where = ".".join(parts[:i]) or path
            return Problem("--set", where, "a table (its values are set by path)", node)
        if isinstance(node, list):
            idx = int(part)
            if idx >= len(node):
                return Problem("--set", ".".join(parts[: i + 1]), f"an index below {len(node)}", idx)
            node = node[idx]
            continue
        if part not in node:
            if i == 0 and parts[0] in SECTIONS:
                node[part] = {}
            elif (i == 2 and parts[0] in COLLECTIONS) or (i == 1 and parts[0] in SECTIONS):
                node[part] = {}  # a map such as price_usd_per_mtok or affinity
            else:
                known = ", ".join(sorted(node)) or "none"
                return Problem("--set", ".".join(parts[: i + 1]),
                               f"an existing entry (known: {known}){did_you_mean(part, list(node))}", part)
        node = node[part]
    if not isinstance(node, dict):  # e.g. run = [1, 2] in the file, then --months
        return Problem("--set", ".".join(parts[:-1]), "a table (its values are set by path)", node)
    node[parts[-1]] = value
    return None


__all__ = ["ConfigError", "Problem", "ResolvedConfig", "load_config", "resolve", "with_overrides", "parse_value", "apply_override",
           "did_you_mean", "parameter_paths",
           "field_at", "value_at", "schema", "BASELINE", "CONFIG_DIR", "find_config", "packaged_configs", "is_packaged",
           "SOURCE_CHECKOUT", "extend", "relabel", "read_toml", "read_scenario", "merge", "check_value",
           "check_references", "owned_watts_at", "RESERVED_IDS", "PUBLISHER_ID", "FRINGE_ID"]
