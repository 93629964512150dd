"""Fixtures of the results-page tests: one headless Chromium per session and a folder for its screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report.browser import start_chrome

SCREENSHOTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """Where the browser tests save a full-page PNG of each page; the folder is printed in the session summary."""
    folder = tmp_path_factory.mktemp("page-screenshots")
    pytestconfig.stash[SCREENSHOTS] = folder
    return folder


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    folder = config.stash.get(SCREENSHOTS, None)
    shots = sorted(p.name for p in folder.glob("*.png")) if folder else []
    if shots:
        terminalreporter.write_line(f"page screenshots ({len(shots)}) in {folder}: {', '.join(shots)}")
