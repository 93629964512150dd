"""Benchmark: ``rdibench.evaluate`` on a user's module against the built-in checkpoint path, same weights.

The user's module is the committed RDI-SmallCNN's layers in a class of the user's own (``blocks`` and
``classifiers``, a tuple of logits), so rdibench sees it only through the model contract and its adapter; the
peer is the same checkpoint evaluated as rdibench's own architecture. Both go through ``rdibench.evaluate``
with identical settings, interleaved (:mod:`tests.benchmarks.interleave`); the
ratio of median wall times (user / built-in; target <= 1.05) is in the benchmark's extra_info. A benchmark
reports; it asserts only that both paths gave identical numbers.
Run: ``pytest tests/benchmarks/test_user_model_speed.py --benchmark-enable``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn

import rdibench
from rdibench.models import load_checkpoint
from tests.benchmarks.interleave import interleaved
from tests.conftest import REPO

CHECKPOINT = REPO / "baselines" / "models" / "mnist-rdi-smallcnn-maxavg-28ca368ff7bf"
SETTINGS: dict[str, Any] = {
    "name": "rdi",
    "data": {"dataset": "mnist", "n": 256},
    "attacks": [
        {"name": "clean"},
        {
            "name": "pgd",
            "algorithm": "pgd",
            "objective": "average",
            "params": {"eps": 0.3, "steps": 10, "step_size": 0.05},
        },
    ],
    "thresholds": {"protocol": "authors", "shift": "none"},  # a user's module has no hand shifts in a card
    "device": "cpu",
    "data_dir": str(REPO / "data"),
}
ROUNDS = 5


class UsersNet(nn.Module):
    """What a user's own class holding the same layers looks like to rdibench: a module returning a tuple."""

    def __init__(self, blocks: list[nn.Module], classifiers: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.classifiers = nn.ModuleList(classifiers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = []
        for block, classifier in zip(self.blocks, self.classifiers, strict=True):
            x = block(x)
            out.append(classifier(x))
        return tuple(out)


def test_evaluate_on_a_users_module_vs_the_built_in_checkpoint(benchmark: Any) -> None:
    built_in = load_checkpoint(CHECKPOINT).model
    users = UsersNet(list(built_in.segments), list(built_in.heads))
    runs: dict[str, Callable[[], pd.DataFrame]] = {
        "built_in": lambda: rdibench.evaluate(CHECKPOINT, **SETTINGS),
        "user_module": lambda: rdibench.evaluate(users, **SETTINGS),
    }
    median, frames = interleaved(benchmark, runs, ROUNDS)
    benchmark.extra_info.update(
        {f"{name}_s": v for name, v in median.items()}
        | {
            "ratio_user_module_vs_built_in": median["user_module"] / median["built_in"],
            "threads": torch.get_num_threads(),
        }
    )
    numbers = ["ta", "ata", "exit_frac_0", "exit_frac_1", "exit_frac_2", "seed"]
    pd.testing.assert_frame_equal(frames["built_in"][numbers], frames["user_module"][numbers])
