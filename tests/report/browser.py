"""Headless Chromium for the page tests: start it, read its console, time a load, take a full-page screenshot.

Uses the system's ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). Where either is missing the browser tests skip and say which; the structure tests
in ``test_html.py`` still cover the page without a browser.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH = 1400


def start_chrome() -> Any:
    """A headless Chrome session with its browser console recorded, or a skip naming what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    binary = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", binary), ("chromedriver", driver)) if p is None)
        pytest.skip(f"{missing} not found on PATH: apt-get install chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},1000", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def console_errors(chrome: Any) -> list[dict[str, Any]]:
    """Console messages logged at error level (uncaught exceptions, blocked fetches, console.error) since the
    last call; reading the log empties it."""
    return [entry for entry in chrome.get_log("browser") if entry.get("level") == "SEVERE"]


def load_ms(chrome: Any) -> float:
    """Navigation start to the end of the load event of the current page, in milliseconds (Navigation Timing)."""
    return float(
        chrome.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;"
        )
    )


def screenshot(chrome: Any, path: Path) -> Path:
    """The whole page (not only the viewport) as a PNG at ``path``."""
    height = int(chrome.execute_script("return document.documentElement.scrollHeight"))
    shot = chrome.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
