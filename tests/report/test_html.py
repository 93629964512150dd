"""report.html without a browser: one leaderboard row per model with the summary's numbers, pending and failed
cells marked, lossy data flagged, nothing fetched from outside, no machine path, names escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rdibench.cli.main import main
from rdibench.report import REPORT_HTML, report_html, report_markdown, write_report
from rdibench.report.summary import summarize
from rdibench.results import RunDir, worst_case
from tests.results.factory import ATTACKS, MODELS, failed_cell, make_run, model_cells, suite_records

bs4 = pytest.importorskip("bs4", reason="beautifulsoup4 is not installed (pip install -e .[dev])")

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "results" / "paper_table_mnist" / "20261126T130241Z-263725e1"


def soup(html: str):
    return bs4.BeautifulSoup(html, "html.parser")


def board(page) -> tuple[list[str], dict[str, list]]:
    """Leaderboard headers (text) and, per model, its row's cells (first cell: the model)."""
    table = page.find("table", id="board")
    headers = [th.get_text(" ", strip=True).replace(" ↕", "") for th in table.thead.find_all("th")]
    rows = {tr.find("a").get_text(): tr.find_all("td") for tr in table.tbody.find_all("tr")}
    return headers, rows


def cell(headers: list[str], row: list, title: str):
    return row[next(i for i, h in enumerate(headers) if h.endswith(title))]


def test_one_row_per_model_with_the_summary_numbers(tmp_path):
    records = suite_records()
    page = soup(report_html(make_run(tmp_path, records)))
    headers, rows = board(page)
    assert list(rows) == list(MODELS)
    assert [h for h in headers if h.startswith("ATA %")] == [f"ATA % {a}" for a in ATTACKS]
    worst = worst_case(records)
    for model, row in rows.items():
        cells = {r["attack"]: r for r in records if r["model"] == model}
        assert cell(headers, row, "TA").get_text() == f"{100 * cells['clean']['metrics']['ta']:.2f}"
        for attack in ATTACKS:
            td = cell(headers, row, attack)
            assert td.get_text() == f"{100 * cells[attack]['metrics']['ata']:.2f}"
            assert float(td["data-v"]) == pytest.approx(100 * cells[attack]["metrics"]["ata"])
        assert cell(headers, row, "Worst-case ATA").get_text() == f"{100 * worst[model].acc:.2f}"
    assert page.find(class_="banner lossy") is None and page.find(class_="banner pending") is None


def test_pending_and_failed_cells_are_marked(tmp_path):
    records = suite_records()
    done = [*records[:5], failed_cell(MODELS[1], "pgd40-average")]
    run = make_run(tmp_path, done, finish=False)
    run.finish([r["key"] for r in records] + ["m.waiting|clean"])
    page = soup(report_html(run))
    headers, rows = board(page)
    assert list(rows) == [*MODELS, "m.waiting"]
    second = rows[MODELS[1]]
    assert "failed" in cell(headers, second, "pgd40-average")["class"]
    for attack in ("pgd40-max_average", "pgd40-exit0"):
        td = cell(headers, second, attack)
        assert "pending" in td["class"] and td.get_text() == "pending" and td["data-v"] == ""
    assert "pending" in cell(headers, second, "Worst-case ATA")["class"]
    assert cell(headers, rows["m.waiting"], "TA").get_text() == "pending"
    banner = page.find(class_="banner pending").get_text(" ", strip=True)
    assert "Partial run: 3 of the suite's cells are pending" in banner  # the failed cell is listed as failed
    assert "RuntimeError: CUDA out of memory" in page.find(id="pending").get_text()


def test_cells_finished_after_the_last_finish_are_not_pending(tmp_path):
    """A run stopped by a signal never re-stamps its manifest: what it finished counts, in the page and the README."""
    records = suite_records()
    run = make_run(tmp_path, records[:2], finish=False)
    run.finish([r["key"] for r in records])
    for record in records[2:-1]:
        run.append_cell(record)
    assert run.pending_keys() == [records[-1]["key"]]
    page = soup(report_html(run))
    assert "Partial run: 1 of the suite's cells are pending" in page.find(class_="banner pending").get_text(" ")
    headers, rows = board(page)
    assert cell(headers, rows[records[2]["model"]], records[2]["attack"]).get_text() != "pending"
    assert "Partial run: 1 of the suite's cells pending" in report_markdown(run)


def test_unfinished_run_says_so(tmp_path):
    page = soup(report_html(make_run(tmp_path, suite_records()[:2], finish=False)))
    assert "has not finished" in page.find(class_="banner pending").get_text()


def test_lossy_data_is_flagged_in_the_banner_the_rows_and_the_cards(tmp_path):
    page = soup(report_html(make_run(tmp_path, suite_records(dataset="cifar10", lossy=True))))
    assert "LOSSY DATA: CIFAR-10 (JPEG q75 copy, lossy)" in page.find(class_="banner lossy").get_text()
    _, rows = board(page)
    assert all(row[1].find(class_="badge lossy") for row in rows.values())
    assert len(page.select("article.card .badge.lossy")) == len(MODELS)


def test_page_is_self_contained_and_escapes_names(tmp_path):
    records = model_cells("m.<b>bold</b>", {"pgd40-average": 0.8}, seed=0)
    run = make_run(tmp_path, records)
    run.update_manifest(data={"m.<b>bold</b>": {"label": "MNIST", "location": "/home/someone/.cache/data", "n": 200}})
    html = report_html(run)
    page = soup(html)
    assert "<b>bold</b>" not in html and "m.&lt;b&gt;bold&lt;/b&gt;" in html
    assert "/home/someone" not in html  # data locations of the machine that ran are not shown
    assert not page.select("link, [src], object, embed, iframe")
    assert not [a["href"] for a in page.find_all("a") if not a["href"].startswith("#")]
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    policy = page.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "default-src 'none'" in policy


def test_every_chart_and_histogram_is_described(tmp_path):
    page = soup(report_html(make_run(tmp_path, suite_records())))
    charts = page.select("#tradeoff svg")
    assert len(charts) == 1 + len(ATTACKS)  # worst case, then one per attack
    for svg in charts:
        assert svg["role"] == "img" and svg["aria-label"].strip()
        assert len(svg.select("circle.pt")) == len(MODELS) == len(svg.select("rect.pt"))
    histograms = page.select("#models figure[role=img]")
    assert len(histograms) == len(MODELS) and all("clean" in f["aria-label"] for f in histograms)


def test_write_report_and_the_cli_write_report_html(tmp_path, capsys):
    run = make_run(tmp_path, suite_records())
    assert run.path / REPORT_HTML in write_report(run)
    (run.path / REPORT_HTML).unlink()
    assert main(["report", str(run.path), "--format", "html"]) == 0
    assert capsys.readouterr().out.strip() == str(run.path / REPORT_HTML)
    assert soup((run.path / REPORT_HTML).read_text()).find("table", id="board")


def test_committed_paper_table_page_is_small_and_complete():
    if not (PAPER / "manifest.json").is_file():
        pytest.skip(f"committed run {PAPER.relative_to(REPO)} is not in this checkout")
    run = RunDir.open(PAPER)
    html = report_html(run)
    assert len(html.encode()) < 2_000_000
    headers, rows = board(soup(html))
    summaries = summarize(run.cells())
    assert sorted(rows) == sorted(run.manifest["models"]) == sorted(s.model for s in summaries)
    attacks = {a.attack for s in summaries for a in s.attacks}
    assert {h.removeprefix("ATA % ") for h in headers if h.startswith("ATA %")} == attacks
