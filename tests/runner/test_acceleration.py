"""--channels-last and --compile change how models run, not what they compute: the numbers of a plain run up to
floating-point noise, recorded in the manifest; a model is set up once however often it is placed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from rdibench.cli.main import main
from rdibench.core.device import Acceleration
from rdibench.models import create_model
from rdibench.results import RunDir
from tests.runner.conftest import write_suite


@pytest.fixture(scope="module")
def tiny(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite(tmp_path_factory.mktemp("suite"), tiny_ckpt, n=48, steps=2)


def _run(suite: Path, out: Path, *flags: str) -> RunDir:
    assert main(["run", str(suite), "--quiet", "--no-cache", "--device", "cpu", "--out", str(out), *flags]) == 0
    return RunDir.open(next(out.glob("*/*")))


def _close_to_plain(run: RunDir, plain: RunDir) -> None:
    """Same cells and clean numbers; adversarial accuracies within one image of the plain run's."""
    a, b = pd.read_csv(run.path / "metrics.csv"), pd.read_csv(plain.path / "metrics.csv")
    assert list(a["attack"]) == list(b["attack"])
    assert (a["ta"] == b["ta"]).all()
    assert ((a["ata"] - b["ata"]).abs() <= 1 / 48 + 1e-9).all()


@pytest.fixture(scope="module")
def plain(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return _run(tiny, tmp_path_factory.mktemp("plain"))


def test_channels_last_gives_the_plain_numbers_and_is_recorded(tiny: Path, plain: RunDir, tmp_path: Path) -> None:
    run = _run(tiny, tmp_path, "--channels-last")
    _close_to_plain(run, plain)
    assert run.manifest["acceleration"] == {"channels_last": True, "compile": False}
    assert plain.manifest["acceleration"] == {"channels_last": False, "compile": False}


def test_a_cell_cached_by_a_plain_run_is_not_reused_under_other_speed_settings(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cell cache is keyed by the speed settings too: their floating-point noise can move an attacked
    image across the decision boundary, so a plain run's cells are computed again with --channels-last."""
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    runs = (((), False), ((), True), (("--channels-last",), False), (("--channels-last",), True))
    for i, (flags, cached) in enumerate(runs):
        out = tmp_path / f"run{i}"
        assert main(["run", str(tiny), "--quiet", "--device", "cpu", "--out", str(out), *flags]) == 0
        cells = RunDir.open(next(out.glob("*/*"))).cells()
        assert all(bool(c.get("cached")) is cached for c in cells), (flags, cached)


@pytest.mark.slow
def test_compile_gives_the_plain_numbers(tiny: Path, plain: RunDir, tmp_path: Path) -> None:
    run = _run(tiny, tmp_path, "--compile", "--channels-last")
    _close_to_plain(run, plain)
    assert run.manifest["acceleration"] == {"channels_last": True, "compile": True}


def test_a_model_is_set_up_once_and_keeps_its_class() -> None:
    model = create_model("rdi_smallcnn").eval()
    cls, fast = type(model), Acceleration(channels_last=True, compile=True)
    assert fast.model(model) is model and type(model) is cls and model.num_exits == 3
    compiled = model.forward
    assert compiled != cls.forward.__get__(model)  # the instance's forward is the compiled one
    assert fast.model(model).forward is compiled  # placed again: not compiled twice
    plain = create_model("smallcnn")
    Acceleration().model(plain)
    assert "forward" not in vars(plain) and not hasattr(plain, "_rdibench_acceleration")
    x = torch.rand(2, 1, 28, 28)
    assert fast.images(x).is_contiguous(memory_format=torch.channels_last)
    assert Acceleration().images(x) is x


def test_release_gives_back_the_plain_module() -> None:
    model = create_model("rdi_smallcnn").eval()
    x = torch.rand(2, 1, 28, 28)
    expected = model(x)
    Acceleration(channels_last=True, compile=True).model(model)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert Acceleration.release(model) is model
    assert conv.weight.is_contiguous() and "forward" not in vars(model)
    assert not hasattr(model, "_rdibench_acceleration")
    assert all(torch.equal(a, b) for a, b in zip(model(x), expected, strict=True))
    assert Acceleration.release(model) is model  # a plain model is left as it is
