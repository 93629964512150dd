"""render_table: the Markdown output is pinned by a golden file; text output carries the same rows."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rdibench.compare import compare_runs, render_table
from tests.results.factory import failed_cell, make_run, model_cells, modify

GOLDEN = Path(__file__).parent / "golden" / "compare.md"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def comparison(tmp_path):
    """Every mark at once: unchanged, worse, not significant, cost worse, newly failed, fixed, x, only-in."""
    a = model_cells(
        "rdi_smallcnn.maxavg",
        {"pgd40-max_average": 0.8, "pgd40-average": 0.85, "pgd40-exit0": 0.9, "fgsm-average": 0.92},
        seed=1,
    )
    a += model_cells("rdi_smallcnn.main", {"pgd40-max_average": 0.7, "pgd40-exit1": 0.8}, seed=2)
    b = [
        a[0],
        modify(a[1], flip_adv=0.12, seed=1),
        modify(a[2], flip_adv=0.02, seed=2),
        modify(a[3], deepen=0.3, seed=3),
        failed_cell("rdi_smallcnn.maxavg", "fgsm-average"),
        a[5],
        modify(a[6], cell_version="v2"),
        model_cells("rdi_smallcnn.main", {"pgd40-exit0": 0.85}, seed=3, with_clean=False)[0],
    ]
    a[5] = failed_cell("rdi_smallcnn.main", "clean")
    run_a, run_b = make_run(tmp_path, a, suite="golden", now=NOW), make_run(tmp_path, b, suite="golden", now=NOW)
    return compare_runs(run_a, run_b, tol_ata=1.0)


def test_markdown_matches_golden(comparison):
    text = render_table(comparison, fmt="md")
    if os.environ.get("RDIBENCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_text_has_one_line_per_cell_and_the_marks(comparison):
    text = render_table(comparison, fmt="text")
    for r in comparison.rows:
        assert any(line.startswith(r.mark.value.strip()) and r.attack in line for line in text.splitlines())
    assert "regressions: 3," in text and "only in B: 1" in text
    assert len(comparison.regressions) == 3


def test_unknown_format_is_refused(comparison):
    with pytest.raises(ValueError, match="fmt"):
        render_table(comparison, fmt="html")
