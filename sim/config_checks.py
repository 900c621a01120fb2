"""The checks of a config: its structure against the schema (kinds, ranges, unknown keys, defaults
filled) and the rules across tables (ids, references, maps, stakes, funding, leases). Each rule is a
small ``check_*`` function returning its problems, as in PyPSA's consistency checks."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import numpy as np

from wattyear.sim.kernel import starting_cohorts
from wattyear.sim.problems import MISSING, Problem, did_you_mean
from wattyear.sim.schema import COLLECTIONS, LISTS, SECTIONS, Field, FundingSource, Pricing
from wattyear.sim.units import month_index, parse_month

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
            problems.append(Problem(source, f"{where}.{key}", "one of the keys " + ", ".join(table_schema)
                                    + did_you_mean(key, table_schema), key))
    for key, f in table_schema.items():
        path = f"{where}.{key}"
        if key not in body:
            if f.required:
                problems.append(Problem(source, path, f.expected(), MISSING))
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
        # a number as small as 1e-300 is a typo or an underflow, not a parameter: dividing by it overflows
        if value != 0 and abs(value) < TINY:
            problems.append(Problem(source, path, f"{f.expected()} (0, or at least {TINY:g} in size)", value))
            return value
        # a TOML integer has no size limit in Python; the model's arrays and the Parquet files do
        if isinstance(value, int) and abs(value) > (INT64_MAX if f.kind == "int" else 1e300):
            problems.append(bad())
            return value
        if f.unset is not None and value == f.unset:  # the value that means "not set"
            return float(value) if f.kind == "float" else value
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
        number = Field("float", f.unit, f.doc, min=f.min, max=f.max, exclusive_min=f.exclusive_min, unset=f.unset)
        return {k: check_value(v, number, f"{path}.{k}", source, problems) for k, v in value.items()}
    if f.kind == "table_list":
        return check_list(value, f.item, path, source, problems)
    raise AssertionError(f"unknown field kind {f.kind}")


# ------------------------------------------------------------ reference checks

def check_references(cfg: dict, source: str) -> list[Problem]:
    """Cross-table rules: ids that must exist, sums that must add up."""
    problems: list[Problem] = []
    for check in (check_nonempty, check_unique_ids, check_hardware_refs, check_owner_refs, check_segment_maps,
                  check_stakes, check_leases, check_commitments, check_hardware_dates, check_funding):
        problems.extend(check(cfg, source))
    return problems


def check_nonempty(cfg, source):
    out = []
    for name in ("hardware", "labs", "segments"):
        if not cfg[name]:
            out.append(Problem(source, name, f"at least one entry in [{name}]", "none"))
    return out


#: the smallest size a non-zero number may have
TINY = 1e-12
#: the largest integer a config may hold (seeds and counts are stored as 64-bit integers)
INT64_MAX = 2**63 - 1

#: ids the model gives its own agents
PUBLISHER_ID, FRINGE_ID = "meta", "open_weights_fringe"
#: ids no lab or hyperscaler may take: the model's own agents, and the market table's row of demand no
#: provider served
RESERVED_IDS = (PUBLISHER_ID, FRINGE_ID, "unserved")
#: what an id may look like: it is a key of dotted paths (``--set labs.ID.watts``), a column value and a
#: plot label, so no dots, spaces or other punctuation
ID_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_unique_ids(cfg, source):
    """Labs and hyperscalers share one namespace (leases and stakes name them); no id is reserved or
    malformed."""
    out = []
    for hid in cfg["hyperscalers"]:
        if hid in cfg["labs"]:
            out.append(Problem(source, f"hyperscalers.{hid}", "an id not already used by a lab", hid))
    for name in ("labs", "hyperscalers", "segments", "hardware"):
        for eid in cfg[name]:
            if not ID_PATTERN.fullmatch(eid):
                out.append(Problem(source, f"{name}.{eid}", "an id of letters, digits, _ and - (starting with a "
                                   "letter, at most 64 characters)", eid))
            elif eid in RESERVED_IDS and name in ("labs", "hyperscalers"):
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


def check_hardware_dates(cfg, source):
    """No watts of a generation before it is on sale (``available_from``): an owner's hardware is on sale by the
    start (with no starting watts too: its builds and pipeline take the newest generation of its family on
    sale, and one must be), and a planned vintage enters service no earlier than its hardware's first month."""
    out = []
    hardware = cfg["hardware"]
    tables = dict(_owners(cfg))
    tables["fringe"] = cfg["fringe"]
    start = cfg["run"]["start"]
    for path, body in tables.items():
        hw = body.get("hardware")
        if hw in hardware and month_index(hardware[hw]["available_from"], start) > 0:
            out.append(Problem(source, f"{path}.hardware", f"a generation on sale by the start ({start}): "
                               f"{hw} is on sale from {hardware[hw]['available_from']}", hw))
        for i, vintage in enumerate(body.get("fleet", [])):
            hw = vintage["hardware"]
            if hw in hardware and month_index(vintage["in_service"], hardware[hw]["available_from"]) < 0:
                out.append(Problem(source, f"{path}.fleet.{i}.in_service",
                                   f"a month from {hardware[hw]['available_from']}, when {hw} is first on sale",
                                   vintage["in_service"]))
    return out


def check_commitments(cfg, source):
    """A commitment's lessor is an owner that builds (a lab or a hyperscaler) and its lessee a lab other
    than the lessor: the rules leases follow (the lessor builds the watts to suit, so it owns them)."""
    out = []
    builders = sorted([*cfg["labs"], *cfg["hyperscalers"]])
    for i, deal in enumerate(cfg["commitments"]):
        if deal["lessor"] not in builders:
            out.append(Problem(source, f"commitments.{i}.lessor", "a lab or hyperscaler id among "
                               + ", ".join(builders), deal["lessor"]))
        if deal["lessee"] not in cfg["labs"]:
            out.append(Problem(source, f"commitments.{i}.lessee", "a lab id among " + ", ".join(sorted(cfg["labs"])),
                               deal["lessee"]))
        elif deal["lessee"] == deal["lessor"]:
            out.append(Problem(source, f"commitments.{i}.lessee", "a lab other than the lessor", deal["lessee"]))
    return out


def check_owner_refs(cfg, source):
    return [Problem(source, f"labs.{lab_id}.owner", "empty or a hyperscaler id among "
                    + ", ".join(sorted(cfg["hyperscalers"])), lab["owner"])
            for lab_id, lab in cfg["labs"].items()
            if lab["owner"] and lab["owner"] not in cfg["hyperscalers"]]


def check_segment_maps(cfg, source):
    out = []
    segments = cfg["segments"]
    priced = [s for s, seg in segments.items() if seg["pricing"] != Pricing.FREE]
    tables = {f"labs.{k}": v for k, v in cfg["labs"].items()}
    tables["fringe"] = cfg["fringe"]
    for path, body in tables.items():
        for key in ("price_usd_per_mtok", "affinity"):
            for seg_id in body.get(key, {}):
                if seg_id not in segments:
                    out.append(Problem(source, f"{path}.{key}.{seg_id}", "a segment id among "
                                       + ", ".join(sorted(segments)), seg_id))
        if path.startswith("labs."):
            for seg_id in body.get("subscription_usd_per_month", {}):
                if seg_id not in segments:
                    out.append(Problem(source, f"{path}.subscription_usd_per_month.{seg_id}", "a segment id among "
                                       + ", ".join(sorted(segments)), seg_id))
            for seg_id in priced:
                by_plan = segments[seg_id]["pricing"] == Pricing.SUBSCRIPTION
                key, other = (("subscription_usd_per_month", "price_usd_per_mtok") if by_plan
                              else ("price_usd_per_mtok", "subscription_usd_per_month"))
                if seg_id not in body.get(key, {}):
                    out.append(Problem(source, f"{path}.{key}.{seg_id}",
                                       f"a {'monthly fee' if by_plan else 'price'} for priced segment '{seg_id}'",
                                       MISSING))
                if seg_id in body.get(other, {}):
                    out.append(Problem(source, f"{path}.{other}.{seg_id}",
                                       f"no entry: '{seg_id}' is priced "
                                       + ("by the month (subscription_usd_per_month)" if by_plan
                                          else "per token (price_usd_per_mtok)"), body[other][seg_id]))
    for seg_id, seg in segments.items():
        if seg["pricing"] == Pricing.FREE and seg["beta_price"] != 0:
            out.append(Problem(source, f"segments.{seg_id}.beta_price", "0 for a free segment",
                               seg["beta_price"]))
        if seg["pricing"] == Pricing.SUBSCRIPTION and seg["price_elasticity"] != 0:
            out.append(Problem(source, f"segments.{seg_id}.price_elasticity", "0 for a segment sold by the month "
                               "(a plan's fee buys the plan: its use follows usage_growth_per_year)",
                               seg["price_elasticity"]))
        source_id = seg["converts_from"]
        if source_id:
            if source_id not in segments or segments[source_id]["pricing"] != Pricing.FREE or source_id == seg_id:
                out.append(Problem(source, f"segments.{seg_id}.converts_from", "the id of a free segment among "
                                   + ", ".join(sorted(s for s, b in segments.items() if b["pricing"] == Pricing.FREE)),
                                   source_id))
            if seg["adoption_rate_per_year"] > 0:
                out.append(Problem(source, f"segments.{seg_id}.adoption_rate_per_year", "no entry (0): a segment "
                                   "fed by conversions (converts_from) grows by them", seg["adoption_rate_per_year"]))
        elif seg["conversion_per_year"] > 0 or seg["churn_per_year"] > 0:
            key = "conversion_per_year" if seg["conversion_per_year"] > 0 else "churn_per_year"
            out.append(Problem(source, f"segments.{seg_id}.{key}", "converts_from naming the free segment its "
                               "customers come from", seg[key]))
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
            if e["source"] == FundingSource.CLOUD_PARTNER and e["partner"] not in cfg["hyperscalers"]:
                out.append(Problem(source, f"labs.{lab_id}.funding.{i}.partner", "a hyperscaler id among "
                                   + ", ".join(sorted(cfg["hyperscalers"])), e["partner"]))
            if e["source"] != FundingSource.CLOUD_PARTNER and (e["partner"] or e["cloud_commitment"]):
                out.append(Problem(source, f"labs.{lab_id}.funding.{i}.partner",
                                   "no partner or commitment unless source = cloud_partner",
                                   e["partner"] or e["cloud_commitment"]))
        if lab["parent"] and lab["owner"]:
            out.append(Problem(source, f"labs.{lab_id}.parent", f"no parent company for a lab a hyperscaler owns "
                               f"(owner = {lab['owner']!r})", lab["parent"]))
        if lab["parent"] and np.any(np.asarray(lab["parent_ipo_usd"]) * np.asarray(lab["parent_ipo_share"]) > 0) and \
                month_index(lab["parent_ipo_month"], cfg["run"]["start"]) < max(
                    month_index(lab["parent_from_month"], cfg["run"]["start"]), 0):
            out.append(Problem(source, f"labs.{lab_id}.parent_ipo_month", "a month on or after parent_from_month "
                               f"({lab['parent_from_month']}) and the run's start (the IPO money would be lost)",
                               lab["parent_ipo_month"]))
        if not lab["parent"]:
            for key in ("parent_cash_flow_usd_per_year", "parent_funding_share", "parent_ipo_usd", "parent_ipo_share"):
                if np.any(np.asarray(lab[key]) != 0):
                    out.append(Problem(source, f"labs.{lab_id}.{key}", "0 for a lab with no parent (set "
                                       f"labs.{lab_id}.parent)", lab[key]))
    return out


def _owned_rows(cfg: dict, owner_path: str) -> list[tuple[float, int, int | None]]:
    """(watts, first month in service, first month retired or None) of every vintage an owner has."""
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
    # the agent ids leases name: a lab's or hyperscaler's key, and the publisher's id for its table
    ids = {(PUBLISHER_ID if path == "open_weights" else path.split(".")[-1]): path for path in owners}
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
    horizon = cfg["run"]["months"]
    found: dict[int, Problem] = {}  # lease index → its problem (reported in the leases' order)
    by_lessor: dict[str, list[int]] = {}
    for i, lease in enumerate(cfg["leases"]):
        by_lessor.setdefault(lease["lessor"], []).append(i)
    for lessor, mine in by_lessor.items():
        # one sweep over the months where the let total or the owned watts change (a lease or a vintage
        # starting or ending): linear in the leases and vintages, after a sort
        events: dict[int, list[float]] = {}  # month → [change in let, change in owned]
        for j in mine:
            events.setdefault(spans[j][0], [0.0, 0.0])[0] += cfg["leases"][j]["watts"]
            events.setdefault(spans[j][1], [0.0, 0.0])[0] -= cfg["leases"][j]["watts"]
        for w, b, e in _owned_rows(cfg, ids[lessor]):
            events.setdefault(b, [0.0, 0.0])[1] += w
            if e is not None:
                events.setdefault(e, [0.0, 0.0])[1] -= w
        let = owned = 0.0
        # (first month, let, owned, month it ends) of each stretch in which it lets more than it owns (a
        # milliwatt of rounding in the running sums aside)
        stretches: list[list] = []
        for month in sorted(events):
            if stretches and stretches[-1][3] is None:
                stretches[-1][3] = month  # the stretch before this change ends here
            let, owned = let + events[month][0], owned + events[month][1]
            if month < horizon and let > owned * (1 + 1e-12) + 1e-3:
                stretches.append([month, let, owned, None])
        for i in mine:
            first, last = max(spans[i][0], 0), min(spans[i][1], horizon)
            for m, over, had, end in stretches:  # the first stretch over its owned watts within this term
                if m < last and (end if end is not None else horizon) > first:
                    found[i] = Problem(source, f"leases.{i}.watts",
                                       f"at most the {had:.4g} W that {cfg['leases'][i]['lessor']} owns in month "
                                       f"{max(m, first)} (all its leases together)", over)
                    break
    return out + [found[i] for i in sorted(found)]
