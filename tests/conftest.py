"""Shared fixtures: data roots (the repository's MNIST + ../shared/data when present) and the published
checkpoints, taken from the models roots ($RDIBENCH_MODELS) only: tests never download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rdibench.data import DataRoots, resolve_roots
from rdibench.data.roots import MODELS_ENV_VAR
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.fetch import find_local

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TRIPLE_WINS = "triple-wins-rdi-resnet38"
TRADES = "trades-smallcnn-mnist"

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


def published_file(name: str) -> Path:
    """The published file of catalogue entry ``name`` in the models roots, else skip saying how to provide it."""
    entry = PUBLISHED.get(name)
    found = find_local(entry, resolve_roots().models)
    if found is None:
        pytest.skip(
            f"set {MODELS_ENV_VAR} to a folder holding {entry.filename} (sha256 {entry.sha256[:12]}...; "
            "rdibench fetch --list gives the URL)"
        )
    return found


@pytest.fixture(scope="session")
def authors_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' RDI-ResNet-38 converted once per test session."""
    from rdibench.models.importers import import_checkpoint

    return import_checkpoint("triple-wins", published_file(TRIPLE_WINS), tmp_path_factory.mktemp("ckpt") / "rn38")


@pytest.fixture(scope="session")
def trades_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rdibench.models.importers import import_checkpoint

    return import_checkpoint("trades", published_file(TRADES), tmp_path_factory.mktemp("ckpt") / "trades")
