"""The results and comparison pages in a real browser (headless Chromium): no console error, one leaderboard row per
model, header clicks reorder rows, charts drawn, hover details shown, every image described.

Each page is also saved as a full-page screenshot (folder printed at the end of the session) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.compare import Mark, compare_html, compare_runs
from rdibench.report import report_html
from rdibench.report.summary import summarize
from rdibench.results import RunDir
from tests.report.browser import console_errors, load_ms, screenshot
from tests.results.factory import MODELS, diverging_runs, make_run, suite_records

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e .[dev])")
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "results" / "paper_table_mnist" / "20261126T130241Z-263725e1"
RERUN = REPO / "results" / "reruns" / "paper_table_mnist" / "20261126T145230Z-263725e1"


def committed(path: Path) -> RunDir:
    if not (path / "manifest.json").is_file():
        pytest.skip(f"committed run {path.relative_to(REPO)} is not in this checkout")
    return RunDir.open(path)


def open_page(chrome, html: str, path: Path) -> None:
    path.write_text(html, encoding="utf-8")
    chrome.get(path.as_uri())
    errors = console_errors(chrome)
    assert errors == [], f"browser console errors on {path.name}: {errors}"


def visible_rows(chrome, table: str) -> list:
    return [r for r in chrome.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr") if r.is_displayed()]


def header(chrome, table: str, text: str):
    ths = chrome.find_elements(By.CSS_SELECTOR, f"#{table} thead th")
    index = next(i for i, th in enumerate(ths) if th.text.replace("\n", " ").strip().endswith(text))
    return index, ths[index]


def column(chrome, table: str, index: int) -> list[float]:
    cells = [r.find_elements(By.CSS_SELECTOR, "td")[index] for r in visible_rows(chrome, table)]
    return [float(c.get_attribute("data-v")) for c in cells]


def assert_images_described(chrome) -> None:
    """Every <img> has alt text and every SVG or role="img" element an accessible name; at least one exists."""
    images = chrome.find_elements(By.CSS_SELECTOR, "img, svg, [role=img]")
    assert images, "the page has no image at all"
    for el in images:
        if el.tag_name == "img":
            assert (el.get_attribute("alt") or "").strip(), el.get_attribute("outerHTML")[:200]
        else:
            assert el.get_attribute("role") == "img" and (el.get_attribute("aria-label") or "").strip()


def test_the_console_check_sees_errors(chrome):
    """The zero-error assertions below can fail: a page that logs an error and throws is caught."""
    chrome.get("data:text/html,<script>console.error('rdibench-probe'); no_such_function();</script>")
    errors = console_errors(chrome)
    assert any("rdibench-probe" in e["message"] for e in errors)
    assert any("no_such_function" in e["message"] for e in errors)


def test_committed_paper_table_page(chrome, screenshots, tmp_path):
    run = committed(PAPER)
    summaries = summarize(run.cells())
    page = tmp_path / "report.html"
    open_page(chrome, report_html(run), page)
    size, ms = page.stat().st_size, load_ms(chrome)
    print(f"paper_table_mnist report.html: {size / 1e3:.0f} kB, navigation start to load end {ms:.0f} ms")
    assert size < 2_000_000
    screenshot(chrome, screenshots / "paper_table_mnist.png")

    rows = visible_rows(chrome, "board")
    assert sorted(r.find_element(By.CSS_SELECTOR, "td a").text for r in rows) == sorted(s.model for s in summaries)

    index, worst = header(chrome, "board", "Worst-case ATA")
    worst.click()
    expected = sorted((100 * s.worst.acc for s in summaries if s.worst), reverse=True)
    assert column(chrome, "board", index) == pytest.approx(expected)
    assert worst.get_attribute("aria-sort") == "descending"
    worst.click()
    assert column(chrome, "board", index) == pytest.approx(expected[::-1])
    _, model = header(chrome, "board", "Model")
    model.click()
    names = [r.find_element(By.CSS_SELECTOR, "td a").text for r in visible_rows(chrome, "board")]
    assert names == sorted(names, key=str.lower)

    chart = chrome.find_element(By.CSS_SELECTOR, "#tradeoff figure:not([hidden]) svg")
    assert chart.size["width"] > 300 and chart.size["height"] > 150
    circles = chart.find_elements(By.CSS_SELECTOR, "circle.pt")
    assert len(circles) == len(summaries) == len(chart.find_elements(By.CSS_SELECTOR, "rect.pt"))
    ActionChains(chrome).move_to_element(circles[0]).perform()
    tip = chrome.find_element(By.CSS_SELECTOR, "div.tip")
    assert tip.is_displayed() and "TA" in tip.text and any(s.model in tip.text for s in summaries)
    assert_images_described(chrome)
    assert console_errors(chrome) == []


def test_filters_and_chart_choice(chrome, tmp_path):
    run = make_run(tmp_path, suite_records())
    open_page(chrome, report_html(run), tmp_path / "report.html")
    chrome.find_element(By.CSS_SELECTOR, "input[data-filter=board]").send_keys("maxavg")
    assert [r.find_element(By.CSS_SELECTOR, "td a").text for r in visible_rows(chrome, "board")] == [
        "rdi_smallcnn.maxavg"
    ]
    chrome.find_element(By.CSS_SELECTOR, "input[data-columns=board]").send_keys("exit0")
    shown = [th.text for th in chrome.find_elements(By.CSS_SELECTOR, "#board th[data-col]") if th.is_displayed()]
    assert len(shown) == 1 and shown[0].endswith("pgd40-exit0")
    select = chrome.find_element(By.CSS_SELECTOR, "select[data-choose=tradeoff]")
    select.find_element(By.CSS_SELECTOR, "option[value='pgd40-average']").click()
    figures = chrome.find_elements(By.CSS_SELECTOR, "#tradeoff figure")
    assert [f.get_attribute("data-choice") for f in figures if f.is_displayed()] == ["pgd40-average"]
    assert console_errors(chrome) == []


def test_partial_lossy_run_page(chrome, screenshots, tmp_path):
    """A partial run on lossy data: the warning is on screen, pending cells read "pending", a model with no
    finished cell still has its row."""
    records = suite_records(dataset="cifar10", lossy=True)
    run = make_run(tmp_path, records[:5], finish=False)
    run.finish([r["key"] for r in records] + ["m.waiting|clean", "m.waiting|pgd40-average"])
    open_page(chrome, report_html(run), tmp_path / "report.html")
    screenshot(chrome, screenshots / "partial_lossy.png")
    banner = chrome.find_element(By.CSS_SELECTOR, ".banner.lossy")
    assert banner.is_displayed() and "LOSSY DATA" in banner.text
    assert len(visible_rows(chrome, "board")) == len(MODELS) + 1
    pending = [td for td in chrome.find_elements(By.CSS_SELECTOR, "#board td.pending") if td.is_displayed()]
    assert pending and all(td.text == "pending" for td in pending)
    assert_images_described(chrome)


def test_compare_page_marks_changes(chrome, screenshots, tmp_path):
    run_a, run_b = diverging_runs(tmp_path)
    c = compare_runs(run_a, run_b)
    assert len(c.regressions) == 1 and len(c.improvements) == 1
    open_page(chrome, compare_html(c, run_a.manifest, run_b.manifest), tmp_path / "compare.html")
    screenshot(chrome, screenshots / "compare_synthetic.png")
    assert len(visible_rows(chrome, "diff")) == len(c.rows)
    chrome.find_element(By.CSS_SELECTOR, "input[data-hide-table=diff]").click()
    changed = visible_rows(chrome, "diff")
    assert sorted(r.find_element(By.CSS_SELECTOR, ".mark").text for r in changed) == ["+", "-"]
    index, delta = header(chrome, "diff", "ΔATA")
    delta.click()
    values = column(chrome, "diff", index)
    assert values == sorted(values) and values[0] < 0
    assert "McNemar" in changed[0].text or "McNemar" in changed[1].text
    assert chrome.find_element(By.CSS_SELECTOR, ".banner.bad").is_displayed()
    points = chrome.find_elements(By.CSS_SELECTOR, "#parity figure:not([hidden]) .pt")
    assert len(points) == len(c.rows)
    assert_images_described(chrome)
    assert console_errors(chrome) == []


def test_compare_page_of_two_committed_runs(chrome, screenshots, tmp_path):
    """The committed rerun computed a subset of paper_table_mnist's cells at another commit: the page lists the
    cells only A has and highlights the provenance that differs."""
    run_a, run_b = committed(PAPER), committed(RERUN)
    c = compare_runs(run_a, run_b)
    open_page(chrome, compare_html(c, run_a.manifest, run_b.manifest), tmp_path / "compare.html")
    screenshot(chrome, screenshots / "compare_paper_table_mnist_rerun.png")
    chrome.find_element(By.CSS_SELECTOR, "input[data-hide-table=diff]").click()
    changed = [r for r in c.rows if r.only_in or r.mark is not Mark.UNCHANGED]
    assert len(visible_rows(chrome, "diff")) == len(changed) >= len(c.only_in_a) > 0
    differs = [r.find_element(By.CSS_SELECTOR, "td").text for r in chrome.find_elements(By.CSS_SELECTOR, "tr.differs")]
    assert "git commit" in differs
    assert console_errors(chrome) == []
