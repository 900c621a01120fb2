"""Load, override and validate TOML configs before anything runs.

A config is checked once, completely, and every problem is reported together:
``ConfigError`` carries a list of ``Problem`` (file, key, expected, found).
Validation rules are small ``check_*`` functions, as in PyPSA's consistency
checks. The validated config is a plain nested dict with every default filled.
"""

from __future__ import annotations

import copy
import math
import tomllib
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattyear.sim import schema
from wattyear.sim.schema import COLLECTIONS, LISTS, SECTIONS, Field
from wattyear.sim.units import month_index, parse_month

#: the packaged configs (``wattyear.configs``: the repository's ``configs/`` folder in a source checkout)
CONFIG_DIR = Path(str(resources.files("wattyear.configs")))
BASELINE = CONFIG_DIR / "baseline.toml"
#: whether wattyear runs from a source checkout (``configs/`` sits next to ``pyproject.toml``) rather
#: than from an installed package, whose files are never written to
SOURCE_CHECKOUT = (CONFIG_DIR.parent / "pyproject.toml").is_file()


def packaged_configs() -> list[str]:
    """Names of the configs that ship with wattyear (``baseline``, the scenario files)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml") if p.stem != "bounds")


def find_config(name: str | Path | None, folder: Path | None = None) -> Path:
    """The file of a config given as a path, or as the name of a packaged config (``"baseline"``,
    ``"colossus_lease"``, with or without ``.toml``); ``None`` is the baseline.

    A file that exists wins over a packaged name (``my_scenario`` finds ``./my_scenario.toml``), so a
    user's own ``baseline.toml`` is read when it is named. Relative paths start in ``folder`` (default
    the working folder). A name that is neither raises ConfigError listing the packaged configs.
    """
    if name is None:
        return BASELINE
    path = Path(name)
    local = path if folder is None or path.is_absolute() else folder / path
    if local.is_file():
        return local
    if not path.suffix and local.with_suffix(".toml").is_file():  # "my_scenario" for ./my_scenario.toml
        return local.with_suffix(".toml")
    packaged = CONFIG_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if len(path.parts) == 1 and packaged.is_file() and packaged.stem != "bounds":
        return packaged
    raise ConfigError([Problem(str(name), "(file)", "an existing TOML file or a packaged config (" +
                               ", ".join(packaged_configs()) + ")", "no such file")])


def is_packaged(path: Path) -> bool:
    """Whether ``path`` is one of the packaged config files (never written to)."""
    try:
        return Path(path).resolve().parent == CONFIG_DIR.resolve()
    except OSError:
        return False


@dataclass(frozen=True)
class Problem:
    source: str  #: file name, or "--set"
    key: str  #: dotted path
    expected: str
    found: Any

    def __str__(self) -> str:
        found = "nothing (missing)" if self.found is _MISSING else repr(self.found)
        return f"{self.source}: {self.key}: expected {self.expected}, found {found}"


class ConfigError(Exception):
    """One or more problems in a config; ``str()`` lists them one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_MISSING = type("_Missing", (), {"__repr__": lambda self: "missing"})()


# ----------------------------------------------------------------- loading

def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "(file)", "an existing TOML file", "no such file")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), "(syntax)", "valid TOML", str(exc))]) from None


def merge(base: dict, child: dict) -> dict:
    """A scenario on top of its base: tables merge key by key, lists of tables
    (``[[leases]]``, fleet entries) are appended, other values replaced.

    >>> merge({"a": {"x": 1, "y": 2}, "l": [1]}, {"a": {"y": 3}, "l": [2]})
    {'a': {'x': 1, 'y': 3}, 'l': [1, 2]}
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + copy.deepcopy(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_scenario(path: Path, seen: tuple = ()) -> dict:
    """Read a config; a top-level ``extends = "base.toml"`` (relative to the file, else a packaged
    config's name) reads the base first and lays this file over it."""
    return extend(read_toml(path), path.parent, str(path), seen)


def extend(raw: dict, folder: Path, source: str, seen: tuple = ()) -> dict:
    """A config's tables laid over the config its ``extends`` names (a file relative to ``folder``, or
    a packaged config such as ``"baseline"``), if any."""
    raw = dict(raw)
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise ConfigError([Problem(source, "extends", "a file name such as \"baseline.toml\"", base_name)])
    try:  # a file beside this one, else a packaged config
        base_path = find_config(base_name, folder).resolve()
    except ConfigError:
        raise ConfigError([Problem(source, "extends", "a config file (relative to this one) or a packaged config ("
                                   + ", ".join(packaged_configs()) + ")", base_name)]) from None
    if base_path in seen:
        raise ConfigError([Problem(source, "extends", "a chain of files without a loop", base_name)])
    return merge(read_scenario(base_path, seen + (base_path,)), raw)


def relabel(exc: ConfigError, source: str) -> ConfigError:
    """The same problems, with those blamed on ``--set`` blamed on ``source`` (the API's overrides, a
    compared run's name) instead."""
    return ConfigError([Problem(source, p.key, p.expected, p.found) if p.source == "--set" else p
                        for p in exc.problems])


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """Read a config file (a path, or the name of a packaged config such as ``"baseline"``; default
    the baseline), apply dotted-path overrides, validate, fill defaults."""
    path = find_config(path)
    raw = read_scenario(path)
    return resolve(raw, source=str(path), overrides=overrides)


def resolve(raw: dict, source: str = "<config>", overrides: dict[str, Any] | None = None) -> dict:
    """Validate a raw config dict (plus overrides) and return it with defaults."""
    raw = copy.deepcopy(raw)
    problems: list[Problem] = []
    for path, value in (overrides or {}).items():
        problem = apply_override(raw, path, value)
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError(problems)
    cfg, problems = _check_structure(raw, source)
    for hw_id, hw in cfg["hardware"].items():
        hw["family"] = hw.get("family") or hw_id
    if not problems:
        problems = check_references(cfg, source)
    if problems:
        # a value that came from --set is reported as coming from there
        overridden = set(overrides or {})
        raise ConfigError([Problem("--set", p.key, p.expected, p.found) if p.key in overridden else p
                           for p in problems])
    return cfg


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
        parts = path.split(".")
        node: Any = out
        for i, part in enumerate(parts[:-1]):  # copy the tables on the path (and make missing map tables)
            key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
            try:
                child = node[key]
            except (KeyError, IndexError, TypeError):
                break
            node[key] = child = copy.copy(child) if isinstance(child, (dict, list)) else child
            node = child
        problem = apply_override(out, path, value)
        if problem:
            problems.append(problem)
            continue
        node = out
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[parts[-1]] = check_value(value, field_at(path), path, "--set", problems)
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
    return out


# ---------------------------------------------------------------- overrides

def parse_value(text: str) -> Any:
    """Parse the VALUE of ``--set PATH=VALUE`` as TOML, else keep it a string.

    >>> parse_value("2e9"), parse_value('"x"'), parse_value("hopper"), parse_value("[1, 2]")
    (2000000000.0, 'x', 'hopper', [1, 2])
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def field_at(path: str, raw: dict | None = None) -> Field | None:
    """The schema field a dotted path names, or None if there is none."""
    parts = path.split(".")
    head = parts[0]
    if head in SECTIONS and len(parts) == 2:
        return SECTIONS[head].get(parts[1])
    if head in SECTIONS and len(parts) == 3:
        f = SECTIONS[head].get(parts[1])
        if f is not None and f.kind in ("segment_map", "lab_map"):
            return Field("float", f.unit, f.doc, min=f.min, max=f.max)
    if head in COLLECTIONS and len(parts) == 3:
        return COLLECTIONS[head].get(parts[2])
    if head in COLLECTIONS and len(parts) == 4:
        f = COLLECTIONS[head].get(parts[2])
        if f is not None and f.kind in ("segment_map", "lab_map"):
            return Field("float", f.unit, f.doc, min=f.min, max=f.max)
    if head in LISTS and len(parts) == 3 and parts[1].isdigit():
        return LISTS[head].get(parts[2])
    return None


def value_at(cfg: dict, path: str):
    """The value at a dotted path (list entries by index); KeyError if there is none.

    >>> value_at({"labs": {"x": {"fleet": [{"watts": 5.0}]}}}, "labs.x.fleet.0.watts")
    5.0
    """
    node = cfg
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def apply_override(raw: dict, path: str, value: Any) -> Problem | None:
    """Set ``raw[path] = value`` for a dotted path that names a known parameter.

    The entity must exist (``labs.anthropic`` must be in the file); the value is
    then checked with the rest of the config.
    """
    parts = path.split(".")
    if field_at(path) is None:
        return Problem("--set", path, "a parameter path such as labs.anthropic.watts "
                       "(see docs/parameters.md)", path)
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
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
                return Problem("--set", ".".join(parts[: i + 1]), f"an existing entry (known: {known})", part)
        node = node[part]
    node[parts[-1]] = value
    return None


# ------------------------------------------------------------ structure checks

def _check_structure(raw: dict, source: str) -> tuple[dict, list[Problem]]:
    problems: list[Problem] = []
    cfg: dict = {}
    known_top = set(SECTIONS) | set(COLLECTIONS) | set(LISTS)
    for key in raw:
        if key not in known_top:
            problems.append(Problem(source, key, "a top-level table among " + ", ".join(sorted(known_top)),
                                    key))
    for name, table_schema in SECTIONS.items():
        cfg[name] = check_table(raw.get(name, {}), table_schema, name, source, problems)
    for name, entity_schema in COLLECTIONS.items():
        entities = raw.get(name, {})
        if not isinstance(entities, dict):
            problems.append(Problem(source, name, "a table of named entries", entities))
            entities = {}
        cfg[name] = {eid: check_table(body, entity_schema, f"{name}.{eid}", source, problems)
                     for eid, body in entities.items()}
    for name, item_schema in LISTS.items():
        cfg[name] = check_list(raw.get(name, []), item_schema, name, source, problems)
    return cfg, problems


def check_table(body: Any, table_schema: dict[str, Field], where: str, source: str,
                problems: list[Problem]) -> dict:
    """Check one table against its schema: unknown keys, missing keys, values."""
    if not isinstance(body, dict):
        problems.append(Problem(source, where, "a table", body))
        return {}
    out: dict = {}
    for key in body:
        if key not in table_schema:
            problems.append(Problem(source, f"{where}.{key}",
                                    "one of the keys " + ", ".join(table_schema), key))
    for key, f in table_schema.items():
        path = f"{where}.{key}"
        if key not in body:
            if f.required:
                problems.append(Problem(source, path, f.expected(), _MISSING))
            else:
                out[key] = copy.deepcopy(list(f.default) if isinstance(f.default, tuple) else f.default)
            continue
        out[key] = check_value(body[key], f, path, source, problems)
    return out


def check_list(items: Any, item_schema: dict[str, Field], where: str, source: str,
               problems: list[Problem]) -> list:
    if not isinstance(items, list):
        problems.append(Problem(source, where, "a list of tables ([[...]])", items))
        return []
    return [check_table(item, item_schema, f"{where}.{i}", source, problems) for i, item in enumerate(items)]


def check_value(value: Any, f: Field, path: str, source: str, problems: list[Problem]) -> Any:
    """Check one value against its field; return it normalised (ints to floats)."""
    def bad() -> Problem:  # made only for a value that fails: most pass
        return Problem(source, path, f.expected(), value)

    if f.kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(bad())
            return value
        if f.kind == "int" and not isinstance(value, int):
            problems.append(bad())
            return value
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(bad())
            return value
        if f.min is not None and (value < f.min or (f.exclusive_min and value == f.min)):
            problems.append(bad())
        if f.max is not None and value > f.max:
            problems.append(bad())
        return float(value) if f.kind == "float" else value
    if f.kind == "bool":
        if not isinstance(value, bool):
            problems.append(bad())
        return value
    if f.kind == "str":
        if not isinstance(value, str):
            problems.append(bad())
        return value
    if f.kind == "month":
        try:
            parse_month(value)
        except (ValueError, AttributeError, TypeError):
            problems.append(bad())
        return value
    if f.kind == "choice":
        if value not in f.choices:
            problems.append(bad())
        return value
    if f.kind in ("segment_map", "lab_map"):
        if not isinstance(value, dict):
            problems.append(bad())
            return {}
        number = Field("float", f.unit, f.doc, min=f.min, max=f.max)
        return {k: check_value(v, number, f"{path}.{k}", source, problems) for k, v in value.items()}
    if f.kind == "table_list":
        return check_list(value, f.item, path, source, problems)
    raise AssertionError(f"unknown field kind {f.kind}")


# ------------------------------------------------------------ reference checks

def check_references(cfg: dict, source: str) -> list[Problem]:
    """Cross-table rules: ids that must exist, sums that must add up."""
    problems: list[Problem] = []
    for check in (check_nonempty, check_unique_ids, check_hardware_refs, check_owner_refs, check_segment_maps,
                  check_stakes, check_leases, check_funding):
        problems.extend(check(cfg, source))
    return problems


def check_nonempty(cfg, source):
    out = []
    for name in ("hardware", "labs", "segments"):
        if not cfg[name]:
            out.append(Problem(source, name, f"at least one entry in [{name}]", "none"))
    return out


#: ids the model gives its own agents
PUBLISHER_ID, FRINGE_ID = "meta", "open_weights_fringe"
RESERVED_IDS = (PUBLISHER_ID, FRINGE_ID)


def check_unique_ids(cfg, source):
    """Labs and hyperscalers share one namespace (leases and stakes name them)."""
    out = []
    for hid in cfg["hyperscalers"]:
        if hid in cfg["labs"]:
            out.append(Problem(source, f"hyperscalers.{hid}", "an id not already used by a lab", hid))
    for name in ("labs", "hyperscalers"):
        for eid in cfg[name]:
            if eid in RESERVED_IDS:
                out.append(Problem(source, f"{name}.{eid}", "an id other than " + ", ".join(RESERVED_IDS), eid))
    return out


def _owners(cfg):
    """Every agent id that can own watts, with its table path."""
    owners = {f"labs.{k}": v for k, v in cfg["labs"].items()}
    owners.update({f"hyperscalers.{k}": v for k, v in cfg["hyperscalers"].items()})
    owners["open_weights"] = cfg["open_weights"]
    return owners


def check_hardware_refs(cfg, source):
    out = []
    known = sorted(cfg["hardware"])
    tables = dict(_owners(cfg))
    tables["fringe"] = cfg["fringe"]
    for path, body in tables.items():
        if body.get("hardware") not in cfg["hardware"]:
            out.append(Problem(source, f"{path}.hardware", "one of " + ", ".join(known), body.get("hardware")))
        for i, vintage in enumerate(body.get("fleet", [])):
            if vintage["hardware"] not in cfg["hardware"]:
                out.append(Problem(source, f"{path}.fleet.{i}.hardware", "one of " + ", ".join(known),
                                   vintage["hardware"]))
    return out


def check_owner_refs(cfg, source):
    return [Problem(source, f"labs.{lab_id}.owner", "empty or a hyperscaler id among "
                    + ", ".join(sorted(cfg["hyperscalers"])), lab["owner"])
            for lab_id, lab in cfg["labs"].items()
            if lab["owner"] and lab["owner"] not in cfg["hyperscalers"]]


def check_segment_maps(cfg, source):
    out = []
    segments = cfg["segments"]
    priced = [s for s, seg in segments.items() if seg["pricing"] != "free"]
    tables = {f"labs.{k}": v for k, v in cfg["labs"].items()}
    tables["fringe"] = cfg["fringe"]
    for path, body in tables.items():
        for key in ("price_usd_per_mtok", "affinity"):
            for seg_id in body.get(key, {}):
                if seg_id not in segments:
                    out.append(Problem(source, f"{path}.{key}.{seg_id}", "a segment id among "
                                       + ", ".join(sorted(segments)), seg_id))
        if path.startswith("labs."):
            for seg_id in priced:
                if seg_id not in body["price_usd_per_mtok"]:
                    out.append(Problem(source, f"{path}.price_usd_per_mtok.{seg_id}",
                                       f"a price for priced segment '{seg_id}'", _MISSING))
    for seg_id, seg in segments.items():
        if seg["pricing"] == "free" and seg["beta_price"] != 0:
            out.append(Problem(source, f"segments.{seg_id}.beta_price", "0 for a free segment",
                               seg["beta_price"]))
        if seg["customers"] > seg["max_customers"]:
            out.append(Problem(source, f"segments.{seg_id}.customers",
                               f"at most max_customers ({seg['max_customers']:g})", seg["customers"]))
    return out


def check_stakes(cfg, source):
    out = []
    for hid, h in cfg["hyperscalers"].items():
        for lab_id in h["stakes"]:
            if lab_id not in cfg["labs"]:
                out.append(Problem(source, f"hyperscalers.{hid}.stakes.{lab_id}",
                                   "a lab id among " + ", ".join(sorted(cfg["labs"])), lab_id))
    for lab_id in cfg["labs"]:
        total = sum(h["stakes"].get(lab_id, 0.0) for h in cfg["hyperscalers"].values())
        if total > 1.0:
            out.append(Problem(source, f"hyperscalers.*.stakes.{lab_id}", "stakes summing to at most 1", total))
    return out


def check_funding(cfg, source):
    """Funding sources: shares that add up, partners that exist."""
    out = []
    for lab_id, lab in cfg["labs"].items():
        entries = lab["funding"]
        if entries and abs(sum(e["share"] for e in entries) - 1.0) > 1e-9:
            out.append(Problem(source, f"labs.{lab_id}.funding", "shares summing to 1",
                               round(sum(e["share"] for e in entries), 12)))
        for i, e in enumerate(entries):
            if e["source"] == "cloud_partner" and e["partner"] not in cfg["hyperscalers"]:
                out.append(Problem(source, f"labs.{lab_id}.funding.{i}.partner", "a hyperscaler id among "
                                   + ", ".join(sorted(cfg["hyperscalers"])), e["partner"]))
            if e["source"] != "cloud_partner" and (e["partner"] or e["cloud_commitment"]):
                out.append(Problem(source, f"labs.{lab_id}.funding.{i}.partner",
                                   "no partner or commitment unless source = cloud_partner",
                                   e["partner"] or e["cloud_commitment"]))
    return out


def _owned_rows(cfg: dict, owner_path: str) -> list[tuple[float, int, int | None]]:
    """(watts, first month in service, first month retired or None) of every vintage an owner has."""
    from wattyear.sim.fleet import starting_cohorts

    body = _owners(cfg)[owner_path]
    start = cfg["run"]["start"]
    replaced = cfg["world"]["replace_retiring"]
    life = lambda hw: int(round(cfg["hardware"][hw]["life_years"] * 12))  # noqa: E731
    rows = [(w, begin, body["hardware"]) for w, begin in
            starting_cohorts(body["watts"], cfg["world"]["starting_fleet_age_months"])]
    rows += [(v["watts"], month_index(v["in_service"], start), v["hardware"]) for v in body.get("fleet", [])]
    return [(w, begin, None if replaced else begin + life(hw)) for w, begin, hw in rows]


def owned_watts_at(cfg: dict, owner_path: str, month: int) -> float:
    """IT watts an owner has in service in ``month`` (steps from the start).

    Follows the model's fleet rules: starting watts spread over ages, vintages
    retiring at the end of their life unless ``world.replace_retiring``.
    """
    return sum(w for w, begin, end in _owned_rows(cfg, owner_path) if begin <= month and (end is None or month < end))


def check_leases(cfg, source):
    """Lessor and lessee exist; a lessor never lets more watts than it owns."""
    out = []
    owners = _owners(cfg)
    ids = {path.split(".")[-1]: path for path in owners}
    start = cfg["run"]["start"]
    for i, lease in enumerate(cfg["leases"]):
        if lease["lessor"] not in ids:
            out.append(Problem(source, f"leases.{i}.lessor", "an agent id among " + ", ".join(sorted(ids)),
                               lease["lessor"]))
        if lease["lessee"] not in cfg["labs"]:
            out.append(Problem(source, f"leases.{i}.lessee", "a lab id among " + ", ".join(sorted(cfg["labs"])),
                               lease["lessee"]))
        if lease["lessor"] == lease["lessee"]:
            out.append(Problem(source, f"leases.{i}.lessee", "a lab other than the lessor", lease["lessee"]))
    if out:
        return out
    spans = [(month_index(lease["start"], start), month_index(lease["start"], start) + lease["months"])
             for lease in cfg["leases"]]
    owned_rows = {lessor: _owned_rows(cfg, ids[lessor]) for lessor in {lease["lessor"] for lease in cfg["leases"]}}
    for i, lease in enumerate(cfg["leases"]):
        first, last = spans[i]
        # the let total and the owned watts only change where a lease or a vintage starts or ends
        mine = [j for j, other in enumerate(cfg["leases"]) if other["lessor"] == lease["lessor"]]
        rows = owned_rows[lease["lessor"]]
        changes = ({max(first, 0)} | {m for j in mine for m in spans[j]}
                   | {m for _, b, e in rows for m in (b, e) if m is not None})
        for month in sorted(m for m in changes if max(first, 0) <= m < min(last, cfg["run"]["months"])):
            let = sum(cfg["leases"][j]["watts"] for j in mine if spans[j][0] <= month < spans[j][1])
            owned = sum(w for w, b, e in rows if b <= month and (e is None or month < e))
            if let > owned * (1 + 1e-12):
                out.append(Problem(source, f"leases.{i}.watts",
                                   f"at most the {owned:.4g} W that {lease['lessor']} owns in month {month} "
                                   "(all its leases together)", let))
                break
    return out


__all__ = ["ConfigError", "Problem", "load_config", "resolve", "parse_value", "apply_override", "schema",
           "BASELINE", "CONFIG_DIR", "find_config", "packaged_configs", "is_packaged", "SOURCE_CHECKOUT", "extend",
           "relabel"]
