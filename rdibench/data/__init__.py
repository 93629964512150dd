"""Floor 1: datasets as raw [0, 1] tensors with their canonical indices and checksums (no normalisation)."""

from __future__ import annotations

from rdibench.data.loading import Dataset, load
from rdibench.data.registry import DatasetInfo, dataset_info, list_datasets, register_dataset
from rdibench.data.roots import DataRoots, resolve_roots
from rdibench.data.spec import DatasetName, DataSpec

__all__ = [
    "DataRoots",
    "DataSpec",
    "Dataset",
    "DatasetInfo",
    "DatasetName",
    "dataset_info",
    "list_datasets",
    "load",
    "register_dataset",
    "resolve_roots",
]
