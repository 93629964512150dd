"""`rdibench compare` on real committed runs: itself (no regression), an incompatible run, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.cli.main import main

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "results" / "reference" / "ci"


def test_a_run_against_itself_has_no_regression(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(REFERENCE), str(REFERENCE), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "| rdi_smallcnn.max_average |" in out and "pgd10-max_average" in out


def test_runs_of_different_data_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    other = next((REPO / "results" / "trades_mnist").glob("*/manifest.json")).parent
    assert main(["compare", str(REFERENCE), str(other)]) == 2
    assert "error" in capsys.readouterr().err


def test_a_directory_that_is_not_a_run_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(REFERENCE), str(tmp_path)]) == 2
    assert "is not a result directory" in capsys.readouterr().err
