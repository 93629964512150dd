"""Turn a DataSpec into tensors: pick the source, apply the split and the selection, record provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rdibench.core.errors import DataError
from rdibench.core.hashing import sha256_tensors
from rdibench.core.seeding import make_generator
from rdibench.data.registry import dataset_info
from rdibench.data.roots import DataRoots
from rdibench.data.spec import DataSpec


@dataclass(frozen=True)
class Dataset:
    """Selected samples: ``x`` float32 [N, C, H, W] in [0, 1], ``y`` int64, ``index`` canonical positions."""

    spec: DataSpec
    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    source: str
    location: str
    lossy: bool
    source_checksum: str
    checksum: str

    def __len__(self) -> int:
        return len(self.y)

    @property
    def label(self) -> str:
        """Human name of the data, flagged when lossy so no number on it passes as canonical."""
        return dataset_info(self.spec.dataset).data_label(self.lossy)

    def provenance(self) -> dict[str, Any]:
        """What identifies the data in manifests and cards: the checksums, not where this machine keeps it."""
        return {
            "spec": self.spec.model_dump(),
            "label": self.label,
            "source": self.source,
            "lossy": self.lossy,
            "n": len(self),
            "source_checksum": self.source_checksum,
            "selection_sha256": self.checksum,
        }


def _split_positions(spec: DataSpec, n_total: int) -> torch.Tensor:
    """Positions of the train/val split inside the full training set (seeded, sorted)."""
    if spec.val_size >= n_total:
        raise DataError(f"val_size {spec.val_size} must be smaller than the training set ({n_total})")
    perm = torch.randperm(n_total, generator=make_generator(spec.val_seed))
    part = perm[: spec.val_size] if spec.split == "val" else perm[spec.val_size :]
    return part.sort().values


def load(spec: DataSpec, roots: DataRoots) -> Dataset:
    """Load exactly the samples ``spec`` selects; errors say where rdibench looked and what to do."""
    raw = dataset_info(spec.dataset).read(spec, roots, spec.split != "test")
    positions = torch.arange(len(raw.labels)) if spec.split == "test" else _split_positions(spec, len(raw.labels))
    available = len(positions)
    if spec.sample_seed is not None:
        if spec.n > available:  # type: ignore[operator]
            raise DataError(f"n={spec.n} exceeds the {available} samples of {spec.dataset}/{spec.split}")
        pick = torch.randperm(available, generator=make_generator(spec.sample_seed))[: spec.n].sort().values
        positions = positions[pick]
    else:
        end = available if spec.n is None else spec.offset + spec.n
        if end > available or spec.offset >= available:
            raise DataError(
                f"selection offset={spec.offset} n={spec.n} exceeds the {available} samples of "
                f"{spec.dataset}/{spec.split} from source {raw.source} ({raw.location})"
            )
        positions = positions[spec.offset : end]
    pixels, labels, index = raw.pixels[positions], raw.labels[positions], raw.index[positions]
    return Dataset(
        spec=spec,
        x=pixels.float().div_(255.0),
        y=labels,
        index=index,
        source=raw.source,
        location=raw.location,
        lossy=raw.lossy,
        source_checksum=raw.source_checksum,
        checksum=sha256_tensors(pixels, labels, index),
    )
