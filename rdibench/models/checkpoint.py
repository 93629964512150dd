"""rdibench's checkpoint format: a directory with ``model.safetensors`` and ``card.json``.

Why safetensors: loading never unpickles, so a checkpoint from a stranger cannot run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from torch import nn

from rdibench.core.errors import CheckpointError
from rdibench.core.files import atomic_write
from rdibench.core.hashing import sha256_file
from rdibench.data import dataset_info
from rdibench.models.adapter import AdaptedModel, adapt_model
from rdibench.models.card import ModelCard
from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import create_model

WEIGHTS = "model.safetensors"
CARD = "card.json"


@dataclass
class Checkpoint:
    """A model ready to evaluate, its card, and where it came from (a checkpoint directory, a user's weights
    file, or None for a model given in memory)."""

    model: MultiExitNet | AdaptedModel
    card: ModelCard
    path: Path | None = None


def save_checkpoint(model: MultiExitNet, card: ModelCard, out_dir: Path) -> Path:
    """Write weights then card into ``out_dir`` (created; an existing checkpoint there is refused)."""
    out_dir = Path(out_dir)
    if (out_dir / CARD).exists():
        raise CheckpointError(f"{out_dir} already holds a checkpoint; choose a new directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS))
    card = card.model_copy(update={"weights_sha256": sha256_file(out_dir / WEIGHTS), "num_exits": model.num_exits})
    atomic_write(out_dir / CARD, card.model_dump_json(indent=2) + "\n")
    return out_dir


def read_card(ckpt_dir: Path) -> ModelCard:
    path = Path(ckpt_dir) / CARD
    if not path.is_file():
        raise CheckpointError(f"{ckpt_dir} is not an rdibench checkpoint: {CARD} missing")
    try:
        return ModelCard.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as e:
        raise CheckpointError(f"{path} is not a valid model card: {e}") from e


def load_checkpoint(ckpt_dir: Path | str, *, verify: bool = True) -> Checkpoint:
    """Rebuild the model from its card and load the weights (sha256-verified) in eval mode."""
    ckpt_dir = Path(ckpt_dir)
    card = read_card(ckpt_dir)
    weights = ckpt_dir / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights} missing")
    if verify and card.weights_sha256 and sha256_file(weights) != card.weights_sha256:
        raise CheckpointError(f"{weights} does not match the sha256 in its card (corrupt or replaced)")
    model = create_model(card.arch, num_classes=card.num_classes, **card.arch_kwargs)
    state = load_file(str(weights))
    if card.pruning and card.pruning.get("structured"):
        reshape_to(model, state)
    load_state(model, state, str(weights))
    # a plugin's architecture may be any module meeting the model contract: adapted (the zoo's pass unchanged)
    adapted = adapt_model(model, dataset_info(card.dataset).input_shape, num_classes=card.num_classes, arch=card.arch)
    return Checkpoint(adapted.eval(), card, ckpt_dir)


def reshape_to(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Shrink conv/BN/linear layers to the shapes saved in ``state`` (structurally pruned checkpoints)."""
    for name, mod in list(model.named_modules()):
        w = state.get(f"{name}.weight")
        if w is None or tuple(w.shape) == tuple(getattr(mod, "weight", torch.empty(0)).shape):
            continue
        if isinstance(mod, nn.Conv2d):
            groups = mod.groups if mod.groups == 1 else w.shape[0]
            new: nn.Module = nn.Conv2d(
                w.shape[1] * groups,
                w.shape[0],
                mod.kernel_size,
                mod.stride,
                mod.padding,
                groups=groups,
                bias=mod.bias is not None,
            )
        elif isinstance(mod, nn.BatchNorm2d):
            new = nn.BatchNorm2d(w.shape[0])
        elif isinstance(mod, nn.Linear):
            new = nn.Linear(w.shape[1], w.shape[0], bias=mod.bias is not None)
        else:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def load_state(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """``load_state_dict`` with a message that names the first missing, unexpected or mis-shaped key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {shapes[0]})")
        raise CheckpointError(f"{origin} does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state)
