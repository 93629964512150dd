"""Every command answers a bad setting with one line naming it and exit 2: no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.cli.main import main
from tests.runner.conftest import write_suite

REPO = Path(__file__).resolve().parents[2]
MODEL = "baselines/models/mnist-smallcnn-pgdat-31cd44483520"
RUN = "results/reference/ci"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["eval", MODEL, "--eps", "-1"], "eps: Input should be greater than 0"),
        (["eval", MODEL, "--steps", "0"], "steps: Input should be greater than or equal to 1"),
        (["eval", MODEL, "--n", "-5"], "data.n: Input should be greater than or equal to 1"),
        (["eval", MODEL, "--batch-size", "0"], "batch_size"),
        (["eval", MODEL, "--objective", "foo"], "unknown objective 'foo'. Allowed: average"),
        (["eval", MODEL, "--param", "eps"], "--param 'eps': expected KEY=VALUE"),
        (["eval", "no-such-model"], "'no-such-model' is neither a checkpoint directory"),
        (["run", "suites/quick.yaml", "--threads", "0"], "--threads must be at least 1"),
        (["compare", RUN, RUN, "--tol-ata", "-1"], "tol_ata must be >= 0"),
        (["check", "suites/ci.yaml", "--against", "no/such/run"], "not a result directory"),
        (["train", "baselines/mnist-smallcnn-pgdat.yaml", "--iterations", "0"], "--iterations must be >= 1"),
    ],
    ids=lambda v: " ".join(v[:3]) if isinstance(v, list) else None,
)
def test_bad_settings_exit_2_with_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and err.startswith(f"rdibench {argv[0]}: error: ")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_only_that_matches_no_cell_is_an_error(tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    suite = write_suite(tmp_path, tiny_ckpt)
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--only", "rdi|nosuch*"]) == 2
    assert "--only 'rdi|nosuch*' matches none of the suite's cells" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
