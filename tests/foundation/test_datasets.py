"""The dataset registry: the built-ins' facts, and a user's dataset plugged in with one register call."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from rdibench.cli.cmd_eval import _params as eval_params
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots, DatasetInfo, DataSpec, dataset_info, list_datasets, load, register_dataset
from rdibench.data.registry import DATASETS
from rdibench.data.sources import RawSplit
from rdibench.evaluation import AttackSpec
from rdibench.models import ModelCard, create_model, load_checkpoint, save_checkpoint


def _toy_split(spec: DataSpec, roots: DataRoots, train: bool) -> RawSplit:
    """Three classes of 1x28x28 noise images, the same on every call (a plugin's reader)."""
    n = 90 if train else 30
    g = torch.Generator().manual_seed(int(train))
    pixels = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return RawSplit(pixels, torch.arange(n) % 3, torch.arange(n), "memory", "toy", "none", lossy=False)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    """A user's 3-class dataset, registered for one test only."""
    monkeypatch.setattr(DATASETS, "_items", dict(DATASETS._items))
    return register_dataset(
        DatasetInfo(name="toy3", label="Toy-3", input_shape=(1, 28, 28), num_classes=3, read=_toy_split)
    )


def test_builtin_datasets_fit_the_zoo() -> None:
    assert list_datasets() == ["cifar10", "mnist"]
    assert create_model("rdi_smallcnn").input_shape == dataset_info("mnist").input_shape == (1, 28, 28)
    assert create_model("rdi_resnet38").input_shape == dataset_info("cifar10").input_shape == (3, 32, 32)
    assert dataset_info("mnist").num_classes == dataset_info("cifar10").num_classes == 10
    assert (
        "lossy" in dataset_info("cifar10").data_label(True) and dataset_info("cifar10").data_label(False) == "CIFAR-10"
    )


def test_a_registered_dataset_is_usable_where_datasets_are_named(toy: DatasetInfo, tmp_path: Path) -> None:
    roots = DataRoots((tmp_path,), tmp_path / "cache")
    val = load(DataSpec(dataset="toy3", split="val", val_size=10), roots)
    test = load(DataSpec(dataset="toy3", n=12), roots)
    assert val.x.shape == (10, 1, 28, 28) and len(test) == 12 and test.label == "Toy-3"
    assert set(val.y.tolist()) <= {0, 1, 2}
    assert AttackSpec(name="a", dataset="toy3").dataset == "toy3"
    assert ModelCard(name="t", arch="smallcnn", dataset="toy3", num_exits=1, source="test").num_classes == 3


def test_heads_are_sized_from_the_dataset(toy: DatasetInfo, tmp_path: Path) -> None:
    for name in ("rdi_smallcnn", "smallcnn"):
        model = create_model(name, num_classes=toy.num_classes).eval()
        assert all(z.shape == (2, 3) for z in model(torch.rand(2, *toy.input_shape)))
    model = create_model("rdi_smallcnn", num_classes=3)
    card = ModelCard(name="t", arch="rdi_smallcnn", dataset="toy3", num_exits=3, source="test")
    back = load_checkpoint(save_checkpoint(model, card, tmp_path / "c"))
    assert back.card.num_classes == 3 and all(z.shape == (1, 3) for z in back.model(torch.rand(1, 1, 28, 28)))
    # a stored card that predates num_classes has its dataset's; the committed MNIST cards say 10
    assert ModelCard(name="t", arch="smallcnn", dataset="mnist", num_exits=1, source="t").num_classes == 10


def _eval_args(**given: object) -> argparse.Namespace:
    """``rdibench eval`` attack flags, unset unless given."""
    flags = {"attack": "pgd", "eps": None, "steps": None, "step_size": None, "gamma": None, "random_start": None}
    return argparse.Namespace(**{**flags, **given}, param=[])


def test_eval_asks_for_attack_settings_the_paper_has_none_for(toy: DatasetInfo) -> None:
    with pytest.raises(ConfigError, match="the paper has no pgd settings for dataset toy3: give --eps"):
        eval_params(_eval_args(), "toy3")
    assert eval_params(_eval_args(eps="1/10", steps=5, step_size="1/50"), "toy3") == {
        "eps": 0.1,
        "steps": 5,
        "step_size": 0.02,
    }
    assert eval_params(_eval_args(attack="fgsm"), "mnist") == {"eps": 0.3}
    assert eval_params(_eval_args(), "mnist") == {"eps": 0.3, "steps": 40, "step_size": 0.01}


def test_unknown_or_malformed_datasets_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"unknown dataset 'mnsit'\. Did you mean 'mnist'\? Allowed: cifar10"):
        DataSpec(dataset="mnsit")
    with pytest.raises(ValidationError, match="unknown dataset 'svhn'"):
        ModelCard(name="t", arch="smallcnn", dataset="svhn", num_exits=1, source="test")
    with pytest.raises(ValidationError, match=r"dataset mnist has no source 'jpeg' \(allowed: auto, torchvision\)"):
        DataSpec(dataset="mnist", source="jpeg")
    with pytest.raises(ValueError, match="must include 'auto'"):
        DatasetInfo(name="x", label="X", input_shape=(1, 2, 2), num_classes=2, read=_toy_split, sources=("disk",))
    with pytest.raises(ConfigError, match="dataset 'mnist' is registered twice"):
        register_dataset(dataset_info("mnist"))
