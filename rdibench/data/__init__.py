"""Floor 1: datasets as raw [0, 1] tensors with their canonical indices and checksums (no normalisation)."""

from __future__ import annotations

from rdibench.data.loading import Dataset, load
from rdibench.data.roots import DataRoots, resolve_roots
from rdibench.data.spec import DataSpec

__all__ = ["DataRoots", "DataSpec", "Dataset", "load", "resolve_roots"]
