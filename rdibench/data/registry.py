"""The one registry of datasets: name -> reader, input shape, number of classes, sources and display label.

Why one place: suites, recipes, cards, model heads and data labels all need the same few facts about a dataset,
so nothing else in rdibench lists dataset names. A user's dataset (a plugin) only calls :func:`register_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdibench.core.registry import Registry
from rdibench.data import sources
from rdibench.data.roots import DataRoots
from rdibench.data.sources import RawSplit

if TYPE_CHECKING:
    from rdibench.data.spec import DataSpec

Reader = Callable[["DataSpec", DataRoots, bool], RawSplit]
"""``read(spec, roots, train)``: the whole train (``train=True``) or test split as uint8 pixels [N, C, H, W]."""


@dataclass(frozen=True)
class DatasetInfo:
    """What rdibench needs to know about a dataset.

    ``sources`` are the values ``DataSpec.source`` may take (``auto`` lets the reader pick); ``test_only_sources``
    hold no training images, so recipes refuse them. ``lossy_label`` names data read from a lossy copy, so no
    number on it passes as canonical.
    """

    name: str
    label: str
    input_shape: tuple[int, ...]
    num_classes: int
    read: Reader
    sources: tuple[str, ...] = ("auto",)
    test_only_sources: tuple[str, ...] = ()
    lossy_label: str = ""

    def __post_init__(self) -> None:
        if "auto" not in self.sources:
            raise ValueError(f"dataset {self.name!r}: sources must include 'auto' (the default)")
        if self.num_classes < 2 or not self.input_shape or min(self.input_shape) < 1:
            raise ValueError(f"dataset {self.name!r}: needs >= 2 classes and a positive input shape")

    def data_label(self, lossy: bool) -> str:
        """Human name of data read from this dataset, flagged when the source was lossy."""
        return (self.lossy_label or f"{self.label} (lossy copy: not canonical {self.label})") if lossy else self.label


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Make ``info.name`` usable everywhere a dataset is named (suites, recipes, cards, ``rdibench eval``)."""
    return DATASETS.register(info.name)(info)


def dataset_info(name: str) -> DatasetInfo:
    """The registered dataset ``name``; an unknown name raises UnknownNameError listing the known ones."""
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    return DATASETS.names()


register_dataset(
    DatasetInfo(
        name="mnist",
        label="MNIST",
        input_shape=(1, 28, 28),
        num_classes=10,
        read=sources.read_mnist,
        sources=("auto", "torchvision"),
    )
)
register_dataset(
    DatasetInfo(
        name="cifar10",
        label="CIFAR-10",
        input_shape=(3, 32, 32),
        num_classes=10,
        read=sources.read_cifar10,
        sources=("auto", "torchvision", "jpeg", "exact-npz"),
        test_only_sources=("exact-npz",),
        lossy_label="CIFAR-10 (JPEG q75 copy, lossy: not canonical CIFAR-10)",
    )
)
