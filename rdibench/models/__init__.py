"""Floor 2: the model zoo (registry + factory), the model contract and its adapter, checkpoints and importers."""

from __future__ import annotations

from rdibench.models.adapter import AdaptedModel, adapt_model, exit_list, model_device
from rdibench.models.card import ModelCard
from rdibench.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import create_model, list_models, register_model

__all__ = [
    "AdaptedModel",
    "Checkpoint",
    "ModelCard",
    "MultiExitNet",
    "adapt_model",
    "create_model",
    "exit_list",
    "list_models",
    "load_checkpoint",
    "model_device",
    "register_model",
    "save_checkpoint",
]
