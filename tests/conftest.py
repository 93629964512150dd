"""Shared fixtures: data roots (the repository's MNIST + ../shared/data when present) and reference checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rdibench.data import DataRoots, resolve_roots

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
TRIPLE_WINS = REFERENCE / "triple-wins" / "cifar10_resnet38_rdi_maxavg_iter60000.pth.tar"
TRADES = REFERENCE / "trades" / "trades_mnist_smallcnn.pt"

# One intra-op thread unless told otherwise: on a shared 2-core machine two threads under load ran 20x slower;
# CI (an idle machine) sets RDIBENCH_TEST_THREADS=2.
torch.set_num_threads(int(os.environ.get("RDIBENCH_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> DataRoots:
    paths = [str(REPO / "data"), str(SHARED / "data")]
    base = resolve_roots(os.pathsep.join(paths))
    cache = Path(os.environ.get("RDIBENCH_CACHE", tmp_path_factory.mktemp("cache")))
    return DataRoots(base.roots, cache, download=False)


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
