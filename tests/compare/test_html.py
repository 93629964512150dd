"""compare --format html: one row per cell with the comparison's marks and tests, the verdict, the exit code."""

from __future__ import annotations

import pytest

from rdibench.cli.main import main
from rdibench.compare import Mark, compare_html, compare_runs
from rdibench.compare.render import value_text
from tests.results.factory import diverging_runs

bs4 = pytest.importorskip("bs4", reason="beautifulsoup4 is not installed (pip install -e .[dev])")


def rows_of(html: str) -> list:
    return bs4.BeautifulSoup(html, "html.parser").find("table", id="diff").tbody.find_all("tr")


def test_rows_marks_and_tests_follow_the_comparison(tmp_path):
    a, b = diverging_runs(tmp_path)
    c = compare_runs(a, b)
    html = compare_html(c, a.manifest, b.manifest)
    rows = rows_of(html)
    assert len(rows) == len(c.rows)
    for tr, row in zip(rows, c.rows, strict=True):
        tds = tr.find_all("td")
        assert (tds[0].get_text(), tds[1].get_text(), tds[2].get_text()) == (
            row.mark.value.strip(),
            row.model,
            row.attack,
        )
        ata = next(m for m in row.metrics if m.name == "ata")
        assert [tds[6].get_text(), tds[7].get_text()] == [value_text("ata", ata.a), value_text("ata", ata.b)]
        if row.mark is Mark.UNCHANGED:
            assert "unchanged" in tr["class"]
        else:
            assert "unchanged" not in tr["class"] and "McNemar p" in tr.get_text()
    worse = next(tr for tr in rows if "row-worse" in tr["class"])
    assert "worse" in worse.find_all("td")[8]["class"]  # the ATA delta carries the metric's verdict
    page = bs4.BeautifulSoup(html, "html.parser")
    assert "1 regression" in page.find(class_="banner bad").get_text()
    assert len(page.select("#parity svg")) == 3 and all(s["aria-label"] for s in page.select("#parity svg"))


def test_cells_only_one_run_has_are_differences(tmp_path):
    a, b = diverging_runs(tmp_path, regress=False, drop=1)
    c = compare_runs(a, b)
    assert c.regressions == () and len(c.only_in_a) == 1
    html = compare_html(c, a.manifest, b.manifest)
    only = [tr for tr in rows_of(html) if "row-only" in tr["class"]]
    assert len(only) == 1 and "unchanged" not in only[0]["class"] and "only in A" in only[0].get_text()
    assert "No regression" in bs4.BeautifulSoup(html, "html.parser").find(class_="banner good").get_text()


@pytest.mark.parametrize("regress", [True, False])
def test_cli_prints_the_page_and_keeps_the_exit_code(tmp_path, capsys, regress):
    a, b = diverging_runs(tmp_path, regress=regress)
    code = main(["compare", str(a.path), str(b.path), "--format", "html"])
    out = capsys.readouterr().out
    assert code == (1 if regress else 0)
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
