"""Real MNIST and small models trained once per test session (cached as state dicts under pytest's tmp dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rdibench.data import DataRoots, Dataset, DataSpec, load
from rdibench.inference import fit_thresholds
from rdibench.models import MultiExitNet, create_model

N_TRAIN = 5000
BATCH = 64


def _mnist(roots: DataRoots, split: str, n: int) -> Dataset:
    return load(DataSpec(dataset="mnist", split=split, n=n), roots)


@pytest.fixture(scope="session")
def mnist_test(roots: DataRoots) -> Dataset:
    """The first 500 MNIST test images, unshuffled."""
    return _mnist(roots, "test", 500)


@pytest.fixture(scope="session")
def mnist_val(roots: DataRoots) -> Dataset:
    """500 held-out training images, for fitting routing thresholds."""
    return _mnist(roots, "val", 500)


def _train(arch: str, epochs: int, roots: DataRoots, path: Path) -> Path:
    """Adam with a one-cycle schedule on 5,000 MNIST training images, CE summed over the exits (seconds on 2 cores)."""
    data = _mnist(roots, "train", N_TRAIN)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model(arch)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * -(-N_TRAIN // BATCH))
        order = torch.Generator().manual_seed(0)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(N_TRAIN, generator=order)
            for i in range(0, N_TRAIN, BATCH):
                idx = perm[i : i + BATCH]
                loss = sum(F.cross_entropy(z, data.y[idx]) for z in model(data.x[idx]))
                opt.zero_grad()
                loss.backward()  # type: ignore[union-attr]
                opt.step()
                sched.step()
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def smallcnn_weights(roots: DataRoots, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Static SmallCNN, 4 epochs (about 98% clean accuracy on the 500 test images)."""
    return _train("smallcnn", 4, roots, tmp_path_factory.mktemp("models") / "smallcnn.pt")


@pytest.fixture(scope="session")
def rdi_smallcnn_weights(roots: DataRoots, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RDI-SmallCNN (3 exits), 2 epochs: briefly trained so that routing and max-average mean something."""
    return _train("rdi_smallcnn", 2, roots, tmp_path_factory.mktemp("models") / "rdi_smallcnn.pt")


def _build(arch: str, weights: Path) -> MultiExitNet:
    """A fresh model in eval mode from cached weights (each test gets its own copy to change modes on)."""
    model = create_model(arch)
    model.load_state_dict(torch.load(weights))
    return model.eval()


@pytest.fixture
def smallcnn(smallcnn_weights: Path) -> MultiExitNet:
    return _build("smallcnn", smallcnn_weights)


@pytest.fixture
def rdi_smallcnn(rdi_smallcnn_weights: Path) -> MultiExitNet:
    return _build("rdi_smallcnn", rdi_smallcnn_weights)


@pytest.fixture(scope="session")
def rdi_thresholds(rdi_smallcnn_weights: Path, mnist_val: Dataset) -> tuple[float, ...]:
    """Entropy thresholds giving each exit of the trained RDI-SmallCNN a third of the validation images."""
    with torch.no_grad():
        return tuple(fit_thresholds(_build("rdi_smallcnn", rdi_smallcnn_weights)(mnist_val.x)))


def _final_accuracy(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x)[-1].argmax(1) == y).float().mean())


@pytest.fixture(scope="session")
def accuracy() -> Callable[[MultiExitNet, torch.Tensor, torch.Tensor], float]:
    """Accuracy of the final exit (the only exit of a static model), as a fraction."""
    return _final_accuracy
