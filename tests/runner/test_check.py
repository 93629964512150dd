"""The CI regression check: the committed reference passes, a deliberately weakened model fails."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from rdibench.cli.main import main
from rdibench.models import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "results" / "reference" / "ci"
SUITE = REPO / "suites" / "ci.yaml"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))


def _weakened_suite(tmp_path: Path) -> Path:
    """ci.yaml with its static model's weights pulled a third of the way towards noise (same display name)."""
    suite = yaml.safe_load(SUITE.read_text())
    model = suite["models"][0]
    ckpt = load_checkpoint(SUITE.parent / model["checkpoint"])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in ckpt.model.parameters():
            p.mul_(0.67).add_(0.33 * p.std() * torch.randn(p.shape, generator=g))
    weak = save_checkpoint(ckpt.model, ckpt.card.model_copy(update={"name": "weakened"}), tmp_path / "weak")
    suite["models"] = [{**model, "checkpoint": str(weak)}]
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _check(suite: Path, tmp_path: Path) -> int:
    args = ["check", str(suite), "--against", str(REFERENCE), "--out", str(tmp_path / "r")]
    return main([*args, "--data-dir", str(REPO / "data"), "--quiet"])


@pytest.mark.slow
def test_a_weakened_model_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _check(_weakened_suite(tmp_path), tmp_path)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "+" in out and "smallcnn.pgdat" in out


@pytest.mark.slow
def test_the_committed_models_pass_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _check(SUITE, tmp_path)
    assert code == 0, capsys.readouterr().out
