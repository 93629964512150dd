"""Fixtures of the results-page tests: one headless Chromium per session and a folder for its screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report.browser import start_chrome


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Where the browser tests save a full-page PNG of each page, printed at the end so a person can look."""
    folder = tmp_path_factory.mktemp("page-screenshots")
    yield folder
    shots = sorted(p.name for p in folder.glob("*.png"))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if shots and reporter is not None:
        reporter.write_line(f"\npage screenshots ({len(shots)}) in {folder}: {', '.join(shots)}")
