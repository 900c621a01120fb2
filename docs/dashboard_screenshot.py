"""Regenerate docs/dashboard.png, the README's picture of the dashboard.

    .venv/bin/python docs/dashboard_screenshot.py

Starts ``wattyear dash``, sets open weights at the frontier's quality, runs the decade in the page, and
photographs it with Debian's headless Chromium through Playwright (extra [dev]).
"""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "wattyear", "dash", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1450})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            page.goto(url)
            status = page.locator("#wattyear-status")
            expect(status).to_be_visible()
            slider = page.get_by_role("slider", name="Open-weights quality (× frontier)")
            slider.focus()
            slider.press("End")
            expect(page.locator('[data-knob="open_weights_quality"]')).to_have_text("1")
            page.get_by_role("button", name="Reset").click()
            expect(status).to_contain_text("open_weights_quality = 1")
            page.get_by_role("button", name="Run to horizon").click()
            expect(status).to_have_attribute("data-month", "120")
            expect(page.get_by_text("dashed: baseline as configured")).to_be_visible()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "dashboard.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    print(f"wrote {HERE / 'dashboard.png'}")


if __name__ == "__main__":
    main()
