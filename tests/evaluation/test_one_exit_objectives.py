"""On a one-exit (static) model the multi-exit objectives that reduce to its exit's loss are that attack, run once."""

from __future__ import annotations

import pytest
import torch

from rdibench.attacks import OBJECTIVES
from rdibench.data import DataRoots, DataSpec, load
from rdibench.evaluation.adversarial import AdvCache, Adversarial, attack_images
from rdibench.evaluation.specs import AttackSpec
from rdibench.models import create_model

Batch = tuple[torch.Tensor, torch.Tensor]
PARAMS = {"eps": 0.3, "steps": 3, "step_size": 0.1, "random_start": True}
ONE_EXIT_SINGLE = sorted(name for name in OBJECTIVES if OBJECTIVES.get(name).one_exit_single)


def _spec(objective: str, exit: int | None = None) -> AttackSpec:
    return AttackSpec(name=objective, algorithm="pgd", objective=objective, exit=exit, params=PARAMS)


@pytest.fixture(scope="module")
def batch(roots: DataRoots) -> Batch:
    data = load(DataSpec(dataset="mnist", split="test", n=24), roots)
    return data.x, data.y


def _attack(
    arch: str, objective: str, batch: Batch, cache: AdvCache | None = None, exit: int | None = None
) -> Adversarial:
    torch.manual_seed(0)
    model = create_model(arch).eval()
    exit = 0 if objective == "single" and exit is None else exit
    thresholds = [0.5] * (model.num_exits - 1)
    x, y = batch
    return attack_images(model, "m", _spec(objective, exit), exit, x, y, thresholds, seed=3, batch_size=16, cache=cache)


def _images(arch: str, objective: str, batch: Batch, cache: AdvCache | None = None) -> torch.Tensor:
    return _attack(arch, objective, batch, cache).images


@pytest.mark.parametrize("objective", ONE_EXIT_SINGLE)
def test_a_static_models_objective_is_its_single_attack_with_the_same_seed(objective: str, batch: Batch) -> None:
    assert torch.equal(_images("smallcnn", objective, batch), _images("smallcnn", "single", batch))


def test_the_single_attack_is_computed_once_per_process(batch: Batch) -> None:
    cache: AdvCache = {}
    first = _images("smallcnn", "single", batch, cache)
    assert all(_images("smallcnn", o, batch, cache) is first for o in ONE_EXIT_SINGLE)
    assert len(cache) == 1


def test_reused_images_carry_what_making_them_cost(batch: Batch) -> None:
    """A cell that takes its images from another cell is charged their making (cost tables): a static model's
    routing attack costs what its single attack cost; max-average what its single-exit candidates cost."""
    cache: AdvCache = {}
    made = _attack("smallcnn", "single", batch, cache)
    assert made.cpu_s > 0 and made.reused_cpu_s == 0
    for objective in ONE_EXIT_SINGLE:
        reused = _attack("smallcnn", objective, batch, cache)
        assert reused.cpu_s == made.cpu_s == reused.reused_cpu_s
    cache = {}  # the model id names the weights: a new model, a new cache
    candidates = [_attack("rdi_smallcnn", "single", batch, cache, exit=k) for k in range(3)]
    assert all(c.reused_cpu_s == 0 for c in candidates)
    selected = _attack("rdi_smallcnn", "max_average", batch, cache)
    assert selected.reused_cpu_s == sum(c.cpu_s for c in candidates) < selected.cpu_s  # plus the selection


def test_the_declared_objectives_are_the_multi_exit_ones() -> None:
    assert ONE_EXIT_SINGLE == ["average", "max_average", "random", "routing", "soft_routing"]


def test_a_multi_exit_model_keeps_its_own_objectives(batch: Batch) -> None:
    assert not torch.equal(_images("rdi_smallcnn", "average", batch), _images("rdi_smallcnn", "single", batch))
