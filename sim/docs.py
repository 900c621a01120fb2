"""Generate the parameter reference (docs/parameters.md) from ``sim.schema``."""

from __future__ import annotations

from wattyear.sim import schema


def _default(f: schema.Field) -> str:
    if f.required:
        return "required"
    if f.default in ({}, (), ""):
        return "empty"
    return f"`{f.default!r}`" if not isinstance(f.default, float) else f"`{f.default:g}`"


def _table(title: str, fields: dict[str, schema.Field], prefix: str) -> list[str]:
    lines = [f"## {title}", "", "| key | unit | default | meaning | valid values | per scenario |",
             "|---|---|---|---|---|---|"]
    for key, f in fields.items():
        per = "yes" if f.varies else ("—" if f.kind == "table_list" else "no")
        lines.append(f"| `{prefix}{key}` | {f.unit} | {_default(f)} | {f.doc} | {f.expected()} | {per} |")
    return lines + [""]


def parameter_table() -> str:
    """Every parameter with unit, default, meaning and valid values, as Markdown."""
    out = ["# Parameters", "",
           "Generated from `sim/schema.py` by `wattyear params`; a test keeps this file in step.",
           "Sources of the baseline values are cited beside each number in `configs/baseline.toml`.", "",
           "*Per scenario*: whether scenarios stepped together as one ensemble may differ in it "
           "(`sim.batch`). Those marked *no* set the model's structure (ids, dates, month counts that "
           "place rows in time, array sizes); a sweep that varies one of them runs each of its values "
           "as separate ensembles.", ""]
    for name, fields in schema.SECTIONS.items():
        out += _table(f"[{name}]", fields, f"{name}.")
    for name, fields in schema.COLLECTIONS.items():
        out += _table(f"[{name}.ID]", fields, f"{name}.ID.")
    out += _table("[[labs.ID.fleet]], [[hyperscalers.ID.fleet]]", schema.FLEET_ENTRY, "fleet.N.")
    out += _table("[[labs.ID.funding]]", schema.FUNDING, "funding.N.")
    for name, fields in schema.LISTS.items():
        out += _table(f"[[{name}]]", fields, f"{name}.N.")
    return "\n".join(out).rstrip() + "\n"
