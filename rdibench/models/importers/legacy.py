"""Safe reading of legacy ``torch.save`` files and key mapping onto rdibench's layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from rdibench.core.errors import CheckpointError


def read_legacy(path: Path) -> object:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable torch checkpoint (corrupt, truncated or unsafe): {e}") from e


def rename(state: dict[str, torch.Tensor], prefix_map: dict[str, str], origin: Path) -> dict[str, torch.Tensor]:
    """Rename keys by their longest matching source prefix; an unmapped key is an error, never dropped."""
    out: dict[str, torch.Tensor] = {}
    prefixes = sorted(prefix_map, key=len, reverse=True)
    for key, value in state.items():
        src = next((p for p in prefixes if key == p or key.startswith(p + ".")), None)
        if src is None:
            raise CheckpointError(f"{origin}: key {key!r} has no place in the target model (wrong kind of file?)")
        out[prefix_map[src] + key[len(src) :]] = value
    return out
