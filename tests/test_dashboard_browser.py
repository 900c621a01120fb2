"""The dashboard in a real browser: ``wattyear dash`` started as a user would, driven by Playwright in the
system's headless Chromium (Debian's ``chromium``; no browser is downloaded).

It loads the page and clicks "Run to horizon" once, at once (the decade must run: no retry), checks that
every knob shows its value and that Mesa's display settings are not on the page, then moves sliders,
resets, steps month by month, runs to the horizon, and checks that what the page shows moved as the
economics implies: better open weights lower a closed lab's API price. On a
failure a screenshot is saved (the message gives its path). Outside CI the test is skipped when Chromium
or Playwright is missing; in CI (``CI`` set) that is a failure, since ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("WATTYEAR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: flags for a headless Chromium on a machine without a network (no background connections to refuse)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("WATTYEAR_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "out" /
                                "test-artifacts"))


def _missing(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"{why} (.ci/run installs it)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """``wattyear dash`` on a free port; its URL once it answers."""
    folder = tmp_path_factory.mktemp("dash")
    port = _free_port()
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "wattyear", "dash", "--port", str(port)], cwd=folder,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"wattyear dash did not start:\n{(folder / 'server.log').read_text()}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    # tall: the page scrolls an inner panel, so a screenshot holds only what the viewport shows
    page = browser.new_page(viewport={"width": 1500, "height": 2400})
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the failing page: {shot}")
    page.close()


def test_first_click_sliders_steps_and_the_economics_on_the_page(dashboard, page):
    from playwright.sync_api import expect

    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    page.goto(dashboard)
    status = page.locator("#wattyear-status")
    run_all = page.get_by_role("button", name="Run to horizon")

    # one click as soon as the button takes one (it is enabled once its handler is attached): the decade runs
    run_all.click()
    expect(status).to_have_attribute("data-month", "120", timeout=120_000)
    expect(page.get_by_text("wattyear · baseline")).to_be_visible()
    expect(page.locator(".vue-grid-item img").first).to_be_visible()  # the panels render (PNG figures)
    expect(page.get_by_text("dashed: baseline as configured")).to_be_visible()

    # every knob shows its value; Mesa's display settings are not on the page
    readout = lambda name: page.locator(f'[data-knob="{name}"]')  # noqa: E731
    expect(readout("open_weights_quality")).to_have_text("0.85")
    expect(readout("months")).to_have_text("120")
    for internal in ("Use Threads", "Render Interval", "Play Interval"):
        expect(page.get_by_text(internal)).to_have_count(0)

    def set_and_reset(name: str, knob: str, key: str, expected: str, confirmed: str) -> None:
        """Move a slider by keyboard (its value shows beside it) and press Reset: the status line shows the
        knob in force."""
        slider = page.get_by_role("slider", name=name)
        slider.focus()
        slider.press(key)
        expect(slider).to_have_attribute("aria-valuenow", expected)
        expect(readout(knob)).to_have_text(expected)
        expect(page.get_by_text("Reset to apply")).to_be_visible()
        page.get_by_role("button", name="Reset").click()
        expect(status).to_contain_text(confirmed)
        expect(status).to_have_attribute("data-month", "0")
        expect(page.get_by_text("Reset to apply")).to_have_count(0)

    def step_months(n: int) -> None:
        for k in range(1, n + 1):
            page.get_by_role("button", name="Step").click()
            expect(status).to_have_attribute("data-month", str(k))

    def run_to_horizon() -> None:
        run_all.click()
        expect(status).to_have_attribute("data-month", "12", timeout=120_000)

    def price(lab: str) -> float:
        return float(page.locator(f'#wattyear-month td[data-lab="{lab}"][data-key="price_api"]')
                     .get_attribute("data-value"))

    def figure(title_index: int) -> str:
        return page.locator(".vue-grid-item img").nth(title_index).get_attribute("src")

    # a one-year horizon and open weights at half the frontier's quality; months one at a time, the rest
    # in a thread
    set_and_reset("Horizon (months)", "months", "Home", "12", "month 0 of 12")
    set_and_reset("Open-weights quality (× frontier)", "open_weights_quality", "Home", "0.5",
                  "open_weights_quality = 0.5")
    step_months(3)
    expect(page.locator("#wattyear-month")).to_be_visible()
    run_to_horizon()
    expect(page.get_by_text("dashed: baseline as configured")).to_be_visible()
    before = {lab: price(lab) for lab in ("openai", "anthropic")}
    plot_before = figure(1)

    # open weights as good as the frontier: closed labs' API prices fall
    set_and_reset("Open-weights quality (× frontier)", "open_weights_quality", "End", "1",
                  "open_weights_quality = 1")
    step_months(2)
    run_to_horizon()
    after = {lab: price(lab) for lab in ("openai", "anthropic")}
    assert after["openai"] < before["openai"], (before, after)
    assert after["anthropic"] < before["anthropic"], (before, after)
    assert figure(1) != plot_before  # the plotted revenue per token moved too

    # the market tab draws its panels
    page.get_by_role("tab", name="Page 1").click()
    expect(page.locator(".vue-grid-item img").first).to_be_visible()
