"""Floor 2: the model zoo (registry + factory), the multi-exit contract, checkpoints and importers."""

from __future__ import annotations

from rdibench.models.card import ModelCard
from rdibench.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import create_model, list_models, register_model

__all__ = [
    "Checkpoint",
    "ModelCard",
    "MultiExitNet",
    "create_model",
    "list_models",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
