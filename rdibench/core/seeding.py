"""Seed derivation: every random choice in rdibench comes from a root seed and a stable key."""

from __future__ import annotations

import hashlib

import torch


def derive_seed(root: int, *parts: object) -> int:
    """A 63-bit seed from ``root`` and ``parts``; adding a cell to a suite never changes another cell's seed."""
    text = "\x1f".join([str(root), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An explicit generator, so library code never touches torch's global RNG."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g
