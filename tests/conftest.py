"""Shared fixtures: data roots (the repository's MNIST + $RDIBENCH_DATA when set) and the published
checkpoints, taken from the models roots ($RDIBENCH_MODELS) only: tests never download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rdibench.data import DataRoots, resolve_roots
from rdibench.data.roots import ENV_VAR, MODELS_ENV_VAR
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.fetch import find_local

REPO = Path(__file__).resolve().parents[1]
TRIPLE_WINS = "triple-wins-rdi-resnet38"
TRADES = "trades-smallcnn-mnist"

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
