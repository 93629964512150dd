"""Checkpoints: safe round trips, and importers that refuse wrong or corrupt files with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rdibench.core.errors import CheckpointError, UnknownNameError
from rdibench.data import DataRoots, DataSpec, load
from rdibench.models import ModelCard, create_model, load_checkpoint, save_checkpoint
from rdibench.models.importers import import_checkpoint
from tests.conftest import TRADES, TRIPLE_WINS, published_file


def _card(**kw: object) -> ModelCard:
    fields: dict[str, object] = {"name": "t", "arch": "rdi_smallcnn", "dataset": "mnist", "num_exits": 3}
    return ModelCard(source="test", **{**fields, **kw})


def test_round_trip_preserves_weights_and_card(tmp_path: Path) -> None:
    model = create_model("rdi_smallcnn").eval()
    save_checkpoint(model, _card(thresholds=[0.1, 0.2]), tmp_path / "c")
    back = load_checkpoint(tmp_path / "c")
    assert back.card.thresholds == [0.1, 0.2] and len(back.card.weights_sha256) == 64
    x = torch.rand(2, 1, 28, 28)
    assert all(torch.equal(a, b) for a, b in zip(model(x), back.model(x), strict=False))


def test_checkpoints_are_never_overwritten(tmp_path: Path) -> None:
    save_checkpoint(create_model("smallcnn"), _card(arch="smallcnn", num_exits=1), tmp_path / "c")
    with pytest.raises(CheckpointError, match="already holds"):
        save_checkpoint(create_model("smallcnn"), _card(arch="smallcnn", num_exits=1), tmp_path / "c")


def test_tampered_weights_fail_the_sha256(tmp_path: Path) -> None:
    save_checkpoint(create_model("smallcnn"), _card(arch="smallcnn", num_exits=1), tmp_path / "c")
    w = tmp_path / "c" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "c")


def test_card_rejects_a_wrong_number_of_thresholds() -> None:
    with pytest.raises(ValueError, match="needs 2"):
        _card(thresholds=[0.1])


def test_authors_checkpoint_imports_to_rdi_resnet38(authors_ckpt: Path, roots: DataRoots) -> None:
    ckpt = load_checkpoint(authors_ckpt)
    assert ckpt.card.arch == "rdi_resnet38" and ckpt.card.threshold_shift is not None
    data = load(DataSpec(dataset="cifar10", n=256), roots)
    with torch.no_grad():
        acc = [(z.argmax(1) == data.y).float().mean().item() for z in ckpt.model(data.x)]
    assert min(acc) > 0.6 and acc[-1] > 0.75  # a mis-mapped key would give chance accuracy on some exit


def test_trades_checkpoint_imports_to_smallcnn(trades_ckpt: Path, roots: DataRoots) -> None:
    ckpt = load_checkpoint(trades_ckpt)
    data = load(DataSpec(dataset="mnist", n=500), roots)
    with torch.no_grad():
        assert (ckpt.model(data.x)[0].argmax(1) == data.y).float().mean() > 0.98


def test_importer_refuses_a_truncated_file(tmp_path: Path) -> None:
    bad = tmp_path / "cut.pth.tar"
    bad.write_bytes(published_file(TRIPLE_WINS).read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        import_checkpoint("triple-wins", bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_importer_refuses_a_wrong_shape_naming_the_key(tmp_path: Path) -> None:
    blob = torch.load(published_file(TRIPLE_WINS), map_location="cpu", weights_only=True)
    blob["state_dict"]["module.branch_layer3.4.weight"] = torch.zeros(10, 64)
    bad = tmp_path / "shape.pth.tar"
    torch.save(blob, bad)
    with pytest.raises(CheckpointError, match=r"heads\.2\.4\.weight: file \(10, 64\) vs model \(10, 32\)"):
        import_checkpoint("triple-wins", bad, tmp_path / "out")


def test_importer_refuses_the_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="kind triple-wins"):
        import_checkpoint("triple-wins", published_file(TRADES), tmp_path / "out")
    with pytest.raises(CheckpointError, match="no place in the target model"):
        import_checkpoint("trades", _state_file(tmp_path), tmp_path / "out2")
    with pytest.raises(UnknownNameError, match="trades"):
        import_checkpoint("tradez", published_file(TRADES), tmp_path / "out3")


def _state_file(tmp_path: Path) -> Path:
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    return path
