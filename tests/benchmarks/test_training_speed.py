"""Benchmark: training iterations (attack + update) of RDI-ResNet-38 with ``--channels-last`` against plain.

Each committed RDI-ResNet-38 recipe's defence (average: one attack; max-average: one per exit and a selection
forward) trains two copies of one seeded model on the same batches, one plain and one channels-last, timed
interleaved (:mod:`tests.benchmarks.interleave`); the images are random, since an iteration's cost does not
depend on them. The ratio (plain seconds / channels-last seconds) is in the benchmark's extra_info. A benchmark
reports; it asserts only that both copies trained the same model up to floating-point noise (1 % of the weights'
norm: the sign of an FGSM gradient turns a last-bit difference into a changed pixel, so the noise grows).
Run: ``pytest tests/benchmarks/test_training_speed.py --benchmark-enable``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from rdibench.core.device import Acceleration
from rdibench.core.seeding import make_generator
from rdibench.models import create_model
from rdibench.training import load_recipe
from rdibench.training.defence import Defence
from rdibench.training.loop import Trainer
from rdibench.training.sampling import BatchSampler
from tests.benchmarks.interleave import interleaved
from tests.conftest import REPO

ROUNDS = 3
SPEEDS = {"plain": Acceleration(), "channels_last": Acceleration(channels_last=True)}


@pytest.mark.parametrize("recipe_name", ["cifar-rdi-resnet38-average-fastat", "cifar-rdi-resnet38-maxavg-fastat"])
def test_training_iteration_channels_last_vs_plain(benchmark: Any, recipe_name: str, tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "baselines" / f"{recipe_name}.yaml")
    g = make_generator(0)
    x, y = torch.rand(4 * recipe.batch_size, 3, 32, 32, generator=g), torch.randint(0, 10, (4 * recipe.batch_size,))
    assert recipe.model is not None  # both recipes build their model from scratch
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model(recipe.model.arch)
    trainers = {
        name: Trainer(
            copy.deepcopy(model),
            recipe,
            BatchSampler(x, y, recipe.batch_size, seed=0, augment=True),
            Defence(recipe.defence, [1.0] * model.num_exits, recipe.seed),
            device=torch.device("cpu"),
            state_path=tmp_path / name,
            recipe_hash=recipe_name,
            acceleration=speed,
        )
        for name, speed in SPEEDS.items()
    }
    seconds, _ = interleaved(benchmark, {name: t.next_step for name, t in trainers.items()}, ROUNDS)
    benchmark.extra_info.update(
        {f"{name}_s_per_iteration": s for name, s in seconds.items()}
        | {
            "ratio_plain_vs_channels_last": seconds["plain"] / seconds["channels_last"],
            "batch": recipe.batch_size,
            "threads": torch.get_num_threads(),
        }
    )
    plain, fast = (torch.cat([v.float().flatten() for v in t.model.state_dict().values()]) for t in trainers.values())
    assert trainers["plain"].iteration == trainers["channels_last"].iteration > 0
    assert (fast - plain).norm() <= 1e-2 * plain.norm()
