"""Shared types."""

from __future__ import annotations

import torch

ExitLogits = list[torch.Tensor]
"""What every rdibench model returns: one ``[N, num_classes]`` logits tensor per exit, shallow to deep,
the backbone's own head last. A static model has a single exit."""
