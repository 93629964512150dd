"""Tiny training recipes on a few hundred MNIST images: every run here takes seconds on one CPU thread."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from rdibench.training import TrainRecipe, load_recipe
from rdibench.training.sampling import BatchSampler

TINY: dict[str, Any] = {
    "name": "tiny",
    "model": {"arch": "smallcnn"},
    "data": {"dataset": "mnist", "train_n": 512, "val_n": 64},
    "optimizer": {"lr": 0.05, "weight_decay": 5.0e-4},
    "schedule": {"iterations": 8, "milestones": [6]},
    "batch_size": 16,
    "defence": {"kind": "pgd_at", "attack": {"eps": 0.1, "steps": 1, "step_size": 0.1}},
    "eval_every": 4,
    "checkpoint_every": 3,
    "seed": 1,
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in (nested dicts merged, None removes a key)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def recipe_file(tmp_path: Path) -> Callable[..., Path]:
    """Write TINY with changes (keyword per top-level key) to ``<tmp>/<name>.yaml``."""

    def write(name: str = "tiny", **changes: Any) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(merge(TINY, {"name": name, **changes}), sort_keys=False))
        return path

    return write


@pytest.fixture
def make_recipe(recipe_file: Callable[..., Path]) -> Callable[..., TrainRecipe]:
    """A TINY variant loaded through load_recipe (the real path, with file and line information)."""
    return lambda name="tiny", **changes: load_recipe(recipe_file(name, **changes))


def interrupt_at(monkeypatch: pytest.MonkeyPatch, call: int, action: Callable[[], None]) -> None:
    """Run ``action`` when the sampler draws its ``call``-th batch of this process."""
    original, calls = BatchSampler.next, [0]

    def next_batch(self: BatchSampler) -> tuple[torch.Tensor, torch.Tensor]:
        calls[0] += 1
        if calls[0] == call:
            action()
        return original(self)

    monkeypatch.setattr(BatchSampler, "next", next_batch)


def crash() -> None:
    raise RuntimeError("power cut")
