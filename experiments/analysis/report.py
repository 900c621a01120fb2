"""Reports: one self-contained Markdown and HTML file for a run, a comparison or a study folder.

``wattyear report DIR`` writes ``report.md`` (figures as PNG files beside it)
and ``report.html`` (figures inlined, so the one file can be mailed) into DIR:

- a run folder (``wattyear run``): what was run (config, overrides, seed,
  version, commit), the summary table and the run's plots (drawn from its
  tables if the run was made without them);
- a comparison folder (``wattyear compare``): the runs compared, the
  per-lab table of differences and the overlaid plots;
- a study folder (``wattyear sweep`` / ``wattyear sensitivity``): the study
  as run (its file, design size, seeds, failures, version), the analysis
  (``wattyear analyze``: fan charts, crossing dates, Llama figures, findings
  with effect sizes) and, for a sensitivity study, its indices.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
from pathlib import Path

from wattyear.experiments.folders import writes
from wattyear.sim.config import ConfigError, Problem

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}img{max-width:100%}
code{background:#f4f4f4;padding:0 3px}pre{background:#f4f4f4;padding:.6em;overflow:auto}blockquote{color:#555;
border-left:3px solid #ccc;margin:0;padding-left:1em}"""


def kind_of(folder: Path) -> str:
    """``run``, ``comparison`` or ``study``; a ConfigError for any other folder."""
    if (folder / "run.json").is_file():
        return "run"
    if (folder / "comparison.csv").is_file():
        return "comparison"
    if (folder / "runs").is_dir():
        return "study"
    found = "none of these" if folder.is_dir() else "a file" if folder.exists() else "no such folder"
    raise ConfigError([Problem(str(folder), "(folder)", "a run, comparison or study folder (made by wattyear run, "
                               "compare, sweep or sensitivity)", found)])


def _body(markdown_text: str) -> str:
    """A Markdown document without its first heading, its other headings one level down (to sit under
    the report's own)."""
    return re.sub(r"^(#+) ", r"#\1 ", re.sub(r"\A# .*\n+", "", markdown_text), flags=re.M)


def fenced(text: str, info: str = "") -> list[str]:
    """``text`` as a fenced code block whose fence nothing inside it can close."""
    fence = "`" * max(3, max((len(run) + 1 for run in re.findall(r"`{3,}", text)), default=3))
    return [fence + info, text.rstrip(), fence]


def provenance(key: str, value) -> str:
    """A cell of a report's "what was run" table: the value, or what is known of a value not recorded (a run
    made from an installed package, not a git checkout, has no commit).

    >>> provenance("git_commit", None), provenance("seed", 42), provenance("python", "")
    ('unknown (not run from a git checkout)', '42', 'unknown')
    """
    if value is None or value == "":
        return "unknown (not run from a git checkout)" if key == "git_commit" else "unknown"
    return md_text(value)


def run_report(folder: Path) -> list[str]:
    from wattyear.experiments.analysis.plots import plot_market, plot_per_watt, plot_self_funding
    from wattyear.experiments.run import load_run

    result = load_run(folder)
    record = result.record
    lines = [f"# Run report: {md_text(result.label)}", "", "## What was run", "", "| | |", "|---|---|"]
    for key, label in (("config", "config"), ("overrides", "overrides"), ("seed", "seed"), ("start", "start"),
                       ("months", "months"), ("wattyear", "wattyear version"), ("git_commit", "git commit"),
                       ("python", "Python"), ("numpy", "numpy")):
        value = record.get(key)
        if key == "overrides":
            value = ", ".join(md_code(f"{k} = {v}") for k, v in (value or {}).items()) or "none"
        else:
            value = provenance(key, value)
        lines.append(f"| {label} | {value} |")
    lines += ["", "## Summary", "", *fenced(_text(folder, "summary.txt", "a run's summary (written by wattyear run)")),
              "", "## Figures", ""]
    plots = {"per_watt_metrics.png": lambda p: plot_per_watt(result.metrics, p, title=result.label),
             "market.png": lambda p: plot_market(result.market, p, title=result.label),
             "self_funding.png": lambda p: plot_self_funding(result.metrics, result.funding, p, title=result.label)}
    captions = {"per_watt_metrics.png": "Per-watt economics of each lab over time",
                "market.png": "Prices and shares by segment", "self_funding.png": "Trajectories to self-funding"}
    for name, draw in plots.items():
        path = folder / name
        if not path.exists() and not path.is_symlink():  # drawn only where nothing is: never written through a
            draw(path)  # link (a dangling one pointed the figure outside the folder), a pipe or a device
        lines.append(f"![{captions[name]}]({name})\n")
    return lines


def _text(folder: Path, name: str, what: str, absent: str | None = None) -> str:
    """A text file of the folder being reported, with the checks a config gets (a regular file, at most 16 MiB,
    UTF-8: a link to a device or a huge file is refused by name, never read into memory); ``absent``: what a
    missing file reads as (None: it must be there)."""
    from wattyear.sim.config_files import read_text_file

    path = folder / name
    if absent is not None and not path.exists() and not path.is_symlink():
        return absent
    return read_text_file(path, what)


def _json(folder: Path, name: str, what: str, absent):
    """A JSON record of the folder (``_text``'s checks); a damaged one is refused by name."""
    from wattyear.sim.config import ConfigError, Problem

    text = _text(folder, name, what, "")
    if not text:
        return absent
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError([Problem(str(folder / name), "(syntax)", f"{what} (JSON)", str(exc)[:120])]) from None


def comparison_report(folder: Path) -> list[str]:
    runs = _json(folder, "runs.json", "a comparison's record of its runs (written by wattyear compare)", [])
    lines = ["# Comparison report", "", "## What was compared", "", "| run | config | overrides | seed |",
             "|---|---|---|---|"]
    for r in runs:
        overrides = ", ".join(md_code(f"{k} = {v}") for k, v in (r.get("overrides") or {}).items()) or "none"
        lines.append(f"| {md_text(r['label'])} | {md_text(r['config'])} | {overrides} | {md_text(r['seed'])} |")
    lines += ["", _body(_text(folder, "comparison.md", "a comparison's table (written by wattyear compare)")),
              "## Figures", ""]
    lines += [f"![{p.stem.removeprefix('compare_').replace('_', ' ')}]({p.name})\n"
              for p in sorted(folder.glob("compare_*.png"))]
    return lines


def analysis_is_current(folder: Path) -> bool:
    """Whether the study's ``analysis.md`` was written after its last run was recorded (the manifest) and by
    this version of wattyear: a report then reuses it instead of analysing the runs again."""
    analysis, record = folder / "analysis.md", folder / "analysis.json"
    runs = [p for p in (folder / "manifest.jsonl", folder / "manifest.parquet") if p.is_file()]
    if not (analysis.is_file() and record.is_file() and runs):
        return False
    from wattyear import __version__

    try:
        written_by = json.loads(record.read_text()).get("wattyear")
    except (OSError, ValueError):
        return False
    return written_by == __version__ and analysis.stat().st_mtime >= max(p.stat().st_mtime for p in runs)


def study_report(folder: Path) -> list[str]:
    import pandas as pd

    from wattyear.experiments.analysis.outcomes import analyze
    from wattyear.experiments.studies.store import ResultStore

    if analysis_is_current(folder):
        print(f"report: using the analysis already written ({folder / 'analysis.md'})", file=sys.stderr, flush=True)
    else:
        print("report: analysing the study's runs (crossing dates, fan charts, findings)...", file=sys.stderr,
              flush=True)
        analyze(folder)
    manifest = ResultStore(folder).manifest()
    record = _json(folder, "sweep.json", "a sweep's record (written by wattyear sweep)", {})
    import tomllib

    study_text = _text(folder, "study.toml", "the study file a sweep copied", "")
    name = tomllib.loads(study_text).get("study", {}).get("name", folder.name) if study_text else folder.name
    failed = int((manifest["status"] != "ok").sum()) if len(manifest) else 0
    points = manifest["point"].nunique() if len(manifest) else 0
    replicates = manifest["replicate"].nunique() if len(manifest) else 0
    common = tomllib.loads(study_text).get("study", {}).get("common_seeds", False) if study_text else False
    seeds = ("one seed per replicate, shared by every design point (common random numbers)" if common else
             "one seed per run")
    lines = [f"# Study report: {md_text(name)}", "", "## What was run", "",
             f"{len(manifest)} runs recorded ({points} design points, up to {replicates} replicate(s) each); "
             f"{len(manifest) - failed} finished, {failed} failed. Seeds are spawned from the study's master seed: "
             f"{seeds}; each run's is in the manifest.", "", "| | |", "|---|---|"]
    for key, label in (("wattyear", "wattyear version"), ("git_commit", "git commit"), ("python", "Python"),
                       ("numpy", "numpy"), ("started", "sweep started")):
        lines.append(f"| {label} | {provenance(key, record.get(key))} |")
    lines += ["", "The study file:", "", *fenced(study_text, "toml"), ""]
    if failed:
        bad = manifest[manifest["status"] != "ok"].head(5)
        lines += ["Failed runs (first five):", ""] + [
            f"- {md_code(r.run_id)}: {md_text(str(r.error).splitlines()[-1]) if r.error else ''}"
            for r in bad.itertuples()] + [""]
    lines += ["## Analysis", "", _body(_text(folder, "analysis.md", "the study's analysis (written by wattyear analyze)"))]
    sensitivity = _text(folder, "sensitivity.md", "the study's indices (written by wattyear sensitivity)", "")
    if sensitivity:
        lines += ["## Sensitivity", "", _body(sensitivity)]
    if (folder / "findings.csv").is_file():
        rows = len(pd.read_csv(folder / "findings.csv"))
        lines += ["", f"The findings as a table: `findings.csv` ({rows} rows)."]
    return lines


#: PNG files are recognised by their first eight bytes; a figure larger than this is not inlined
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 50 * 2**20
#: the tags and attributes a report's HTML may hold (anything else, script above all, is removed)
TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul",
        "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "img", "a"}
ATTRIBUTES = {"img": {"src", "alt"}, "a": {"href"}}


def png_data(folder: Path, name: str) -> bytes | None:
    """The bytes of the figure ``name`` of ``folder``, or None: a plain file name (no folder part, not
    hidden), a regular file opened without following a symlink, at most ``MAX_FIGURE_BYTES``, that is a
    PNG. Anything else a report refers to is left out of the HTML, never inlined."""
    import os
    import stat

    if not name or name != Path(name).name or name.startswith(".") or not name.endswith(".png"):
        return None
    try:
        fd = os.open(folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FIGURE_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FIGURE_BYTES + 1)
    finally:
        os.close(fd)
    return data if data.startswith(PNG_SIGNATURE) and len(data) <= MAX_FIGURE_BYTES else None


def md_code(text) -> str:
    """``text`` as a Markdown code span that nothing in it can close (a backtick fence longer than any run of
    backticks inside), line breaks folded (a bar inside a code span stays in its table cell).

    >>> md_code("a`b")
    '`` a`b ``'
    """
    text = str(text).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if fence != "`" else f"`{text}`"


def md_text(text) -> str:
    r"""``text`` (a name, a label, a message) as plain Markdown text: HTML escaped, and the characters that
    would make a code span, a link, an image or a table cell (\ ` [ ] ! |) escaped; line breaks folded.

    >>> print(md_text("<img src=x> ![a](b) | c_d (e)"))
    &lt;img src=x&gt; \!\[a\](b) \| c_d (e)
    """
    text = html.escape(str(text).replace("\r", " ").replace("\n", " "), quote=False)
    return re.sub(r"([\\`\[\]!|])", r"\\\1", text)


def _plain(markdown_heading: str) -> str:
    r"""A heading written with ``md_text`` as the plain text it shows (for the page's title, escaped once there).

    >>> _plain(md_text("<img src=x> a|b"))
    '<img src=x> a|b'
    """
    return html.unescape(re.sub(r"\\([\\`\[\]!|])", r"\1", markdown_heading))


def to_html(markdown_text: str, folder: Path, title: str) -> str:
    """The report as one HTML file: the Markdown rendered, then cleaned to an allow-list of tags and
    attributes (no script, no event handler, no URL scheme but relative paths and http(s)), then every
    figure that ``png_data`` accepts inlined as a data URI; a figure it refuses is dropped."""
    import markdown
    import nh3

    body = nh3.clean(markdown.markdown(markdown_text, extensions=["tables", "fenced_code"]), tags=TAGS,
                     attributes=ATTRIBUTES, url_schemes={"http", "https"}, link_rel="noopener noreferrer")

    def inline(match: re.Match) -> str:
        data = png_data(folder, html.unescape(match.group(2)))
        if data is None:
            return ""  # a figure it refuses is dropped, not left as a broken image
        return f'{match.group(1)}data:image/png;base64,{base64.b64encode(data).decode("ascii")}"{match.group(3)}'

    body = re.sub(r'(<img[^>]*src=")([^"]*)"([^>]*>)', inline, body)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(_plain(title))}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def report(folder: str | Path) -> list[Path]:
    """Write ``report.md`` and ``report.html`` for a run, comparison or study folder."""
    folder = Path(folder)
    kind = kind_of(folder)
    lines = {"run": run_report, "comparison": comparison_report, "study": study_report}[kind](folder)
    text = "\n".join(lines).rstrip() + "\n"
    return _write_report(folder, text, to_html(text, folder, lines[0].lstrip("# ")))


@writes
def _write_report(folder: Path, text: str, html: str) -> list[Path]:
    md, page = folder / "report.md", folder / "report.html"
    md.write_text(text)
    page.write_text(html)
    return [md, page]
