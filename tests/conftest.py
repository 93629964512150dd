"""Shared fixtures: data roots (the repository's MNIST + $RDIBENCH_DATA when set) and reference checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rdibench.data import DataRoots
from rdibench.data.roots import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
TRIPLE_WINS = REFERENCE / "triple-wins" / "cifar10_resnet38_rdi_maxavg_iter60000.pth.tar"
TRADES = REFERENCE / "trades" / "trades_mnist_smallcnn.pt"

# One intra-op thread unless told otherwise: on a shared 2-core machine two threads under load ran 20x slower;
# CI (an idle machine) sets RDIBENCH_TEST_THREADS=2.
torch.set_num_threads(int(os.environ.get("RDIBENCH_TEST_THREADS", "1")))


DATA_ROOTS = (REPO / "data", *(Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p))


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> DataRoots:
    cache = Path(os.environ.get("RDIBENCH_CACHE", tmp_path_factory.mktemp("cache")))
    return DataRoots(DATA_ROOTS, cache, download=False)


def need_data(name: str) -> None:
    """Skip unless a data root holds ``name`` (a fresh clone has MNIST only)."""
    if not any((root / name).exists() for root in DATA_ROOTS):
        where = ", ".join(map(str, DATA_ROOTS))
        pytest.skip(f"{name} not found under the data roots ({where}): set {ENV_VAR} to a folder holding it")


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not available (shared reference files live beside the checkout)")
    return path


@pytest.fixture(scope="session")
def authors_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' RDI-ResNet-38 converted once per test session."""
    from rdibench.models.importers import import_checkpoint

    return import_checkpoint("triple-wins", need(TRIPLE_WINS), tmp_path_factory.mktemp("ckpt") / "rn38")


@pytest.fixture(scope="session")
def trades_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rdibench.models.importers import import_checkpoint

    return import_checkpoint("trades", need(TRADES), tmp_path_factory.mktemp("ckpt") / "trades")
