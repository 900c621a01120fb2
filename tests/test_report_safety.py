"""report.html is a file the README says can be mailed: it must not carry other files, nor anything that runs.

Attacks from the hardening catalogue: a figure that is a symlink to a system file, a figure that is not a PNG,
HTML in a config's file name, in a lab's name and in an override value (a backtick closes a code span), and a
study whose file holds a code fence and markup. Every report is checked element by element: no script, no
event-handler attribute, no URL with a scheme but the data URIs of inlined PNG figures.
"""

from __future__ import annotations

import base64
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

import wattyear
from wattyear.experiments.analysis.report import png_data, report
from wattyear.sim.config import ConfigError

PAYLOAD = "<img src=x onerror=alert(1)><script>alert(2)</script>"


class Elements(HTMLParser):
    """Every tag and attribute of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]


def assert_inert(page: str) -> None:
    """No element or attribute of ``page`` can run script or fetch anything."""
    parsed = Elements()
    parsed.feed(page)
    assert not {"script", "iframe", "object", "embed", "svg", "math", "form", "link", "base"} & set(parsed.tags)
    for tag, name, value in parsed.attributes:
        assert not name.startswith("on") and name != "style", (tag, name)
        if name in ("src", "href"):
            assert value.startswith("data:image/png;base64,") or ":" not in value, (tag, name, value[:60])


@pytest.fixture
def run_folder(tmp_path):
    return wattyear.run(months=2).save(tmp_path / "run", plots=True)


def test_a_figure_that_is_a_symlink_or_not_a_png_is_never_inlined(run_folder):
    secret = run_folder.parent / "secret.txt"
    secret.write_text("root:x:0:0:the password file\n")
    (run_folder / "market.png").unlink()
    os.symlink(secret, run_folder / "market.png")
    (run_folder / "per_watt_metrics.png").write_text("not a png at all")
    md, page = report(run_folder)
    text = page.read_text()
    assert base64.b64encode(secret.read_bytes()).decode()[:20] not in text
    assert base64.b64encode(b"not a png at all").decode()[:16] not in text
    assert text.count("data:image/png;base64,") == 1  # only the real figure, self_funding.png
    assert png_data(run_folder, "market.png") is None and png_data(run_folder, "../secret.txt") is None
    assert png_data(run_folder, "self_funding.png").startswith(b"\x89PNG")
    assert_inert(text)


def test_markup_in_names_overrides_and_file_names_stays_text(tmp_path):
    config = tmp_path / f"{PAYLOAD.replace('/', '')}.toml"
    config.write_text('extends = "baseline.toml"\n[labs.openai]\nname = "' + PAYLOAD.replace('"', "'") + '"\n')
    result = wattyear.run(config, overrides={"labs.xai.name": "x` <b onmouseover=alert(3)>bold</b> `y",
                                             "run.months": 2})
    folder = result.save(tmp_path / "run")
    md, page = report(folder)
    text = page.read_text()
    assert_inert(text)
    assert "&lt;script&gt;" in text  # the markup is shown as text, not dropped silently


def test_a_study_report_with_a_fence_and_markup_in_its_file(tmp_path):
    study = {"study": {"name": "q", "base": "baseline", "months": 2, "replicates": 1},
             "grid": {"open_weights.quality_fraction": [0.6, 0.9]}}
    result = wattyear.sweep(study, tmp_path / "s", workers=1)
    with (result.folder / "study.toml").open("a") as fh:  # a fence on a line of its own, inside a TOML string
        fh.write('\n[notes]\ntext = """\n```\n' + PAYLOAD + '\n"""\n')
    md, page = report(result.folder)
    assert_inert(page.read_text())
    assert "```" in md.read_text()


def test_the_comparison_report_is_inert(tmp_path):
    from wattyear.experiments.analysis.compare import compare, write_comparison

    a = wattyear.run(months=2)
    b = wattyear.run(overrides={"labs.gemini.name": PAYLOAD, "run.months": 2})
    out = Path(tmp_path / "cmp")
    write_comparison(compare([a, b]), out, plots=True)
    md, page = report(out)
    assert_inert(page.read_text())


def test_a_dangling_link_in_place_of_a_figure_is_not_written_through(run_folder):
    """A run folder's market.png that is a link to a file that does not exist: the report redrew the figure
    and wrote it where the link pointed, outside the folder. It draws only where nothing is now."""
    (run_folder / "market.png").unlink()
    target = run_folder.parent / "elsewhere.png"
    os.symlink(target, run_folder / "market.png")
    md, page = report(run_folder)
    assert not target.exists() and (run_folder / "market.png").is_symlink()
    assert page.read_text().count("data:image/png;base64,") == 2  # the two real figures only
    assert_inert(page.read_text())


def test_a_device_in_place_of_a_folder_text_is_refused_not_read(run_folder):
    """summary.txt linked to /dev/zero was read until memory ran out; it is refused by name."""
    (run_folder / "summary.txt").unlink()
    os.symlink("/dev/zero", run_folder / "summary.txt")
    with pytest.raises(ConfigError, match=r"summary.txt: \(file\): expected a run's summary .*not a regular file"):
        report(run_folder)
