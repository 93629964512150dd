"""rdibench's own architectures: a trunk cut into segments, one exit head after each segment.

The model contract itself (any module returning per-exit logits) is in :mod:`rdibench.models.adapter`; this is
the form the zoo builds it in, which also lets the early-exit executor stop after any segment."""

from __future__ import annotations

import torch
from torch import nn

from rdibench.core.types import ExitLogits


class MultiExitNet(nn.Module):
    """``segments[i]`` maps the previous feature map to the next; ``heads[i]`` reads exit i from it.

    Why this shape: every consumer needs the same three facts, so they are structural instead of
    per-architecture code: ``forward`` gives all exits in one pass (attacks, training) and the early-exit
    executor can stop after any segment (real savings). (FLOPs per exit are measured from ``forward`` itself,
    see :mod:`rdibench.flops`, so they need no structure.) A static backbone is one segment and one head.
    """

    def __init__(self, segments: list[nn.Module], heads: list[nn.Module], *, arch: str, input_shape: tuple[int, ...]):
        super().__init__()
        if len(segments) != len(heads) or not segments:
            raise ValueError("a MultiExitNet needs one head per segment and at least one of each")
        self.segments = nn.ModuleList(segments)
        self.heads = nn.ModuleList(heads)
        self.arch = arch
        self.input_shape = input_shape

    @property
    def num_exits(self) -> int:
        return len(self.heads)

    def forward(self, x: torch.Tensor) -> ExitLogits:
        out: ExitLogits = []
        h = x
        for segment, head in zip(self.segments, self.heads, strict=True):
            h = segment(h)
            out.append(head(h))
        return out
