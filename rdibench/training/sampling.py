"""Seeded mini-batch sampling and CIFAR augmentation whose whole state is one generator (exact resume)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rdibench.core.seeding import make_generator

CROP_PAD = 4


class BatchSampler:
    """A fresh random batch every iteration, as the authors' ``next(iter(train_loader))`` (docs/protocol.md §5, §9.7).

    Each draw is the first ``batch_size`` positions of a new permutation (no repeats inside a batch, no
    epochs). Sampling and augmentation draw from one CPU generator whose state is saved in training
    checkpoints, so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, seed: int, augment: bool) -> None:
        if batch_size > len(y):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(y)} training images")
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.generator = make_generator(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(len(self.y), generator=self.generator)[: self.batch_size]
        x = self.x[idx]
        return (crop_flip(x, self.generator) if self.augment else x), self.y[idx]

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


def crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-sample random crop (zero padding 4, same size) and horizontal flip with probability ½, [N, C, H, W]."""
    n, c, h, w = x.shape
    padded = F.pad(x, (CROP_PAD,) * 4)
    top = torch.randint(0, 2 * CROP_PAD + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * CROP_PAD + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    return torch.where(flip[:, None, None, None], out.flip(3), out)
