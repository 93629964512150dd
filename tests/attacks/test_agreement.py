"""rdibench's PGD and FGSM against torchattacks' and ART's on the same 500 real MNIST test images.

The comparisons run without a random start, so every attack is a deterministic function of the model
and the images and any gap is an implementation difference, not random-start noise (with random starts
the three PGDs differ by 1-2 points on 500 images from the draws alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch

from rdibench.attacks import Single, make_attack
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

Accuracy = Callable[[MultiExitNet, torch.Tensor, torch.Tensor], float]
EPS, STEP, STEPS = 0.3, 0.01, 10  # the paper's MNIST eps and step; 10 steps instead of 40 to keep the test short
PGD_AS = {
    "pgd": {"eps": EPS, "step_size": STEP, "steps": STEPS, "random_start": False},
    "torchattacks:PGD": {"eps": EPS, "alpha": STEP, "steps": STEPS, "random_start": False},
    "art:ProjectedGradientDescent": {
        "eps": EPS,
        "eps_step": STEP,
        "max_iter": STEPS,
        "num_random_init": 0,
        "batch_size": 500,
    },
}


def _adv_accuracy(
    name: str, params: dict[str, Any], model: MultiExitNet, data: Dataset, accuracy: Accuracy, n: int = 500
) -> float:
    x, y = data.x[:n], data.y[:n]
    x_adv = make_attack(name, params)(model, x, y, Single(), generator=make_generator(0))
    return accuracy(model, x_adv, y)


def test_trained_model_is_accurate(smallcnn: MultiExitNet, mnist_test: Dataset, accuracy: Accuracy) -> None:
    assert accuracy(smallcnn, mnist_test.x, mnist_test.y) >= 0.97


def test_pgd_agrees_with_torchattacks_and_art(
    smallcnn: MultiExitNet, mnist_test: Dataset, accuracy: Accuracy, record_property: Callable[[str, Any], None]
) -> None:
    accs = {name: _adv_accuracy(name, params, smallcnn, mnist_test, accuracy) for name, params in PGD_AS.items()}
    for name, acc in accs.items():
        record_property(name, acc)
    assert accs["pgd"] < accuracy(smallcnn, mnist_test.x, mnist_test.y) - 0.05  # the attack bites
    assert abs(accs["pgd"] - accs["torchattacks:PGD"]) <= 0.01
    assert abs(accs["pgd"] - accs["art:ProjectedGradientDescent"]) <= 0.01


def test_fgsm_agrees_with_torchattacks(
    smallcnn: MultiExitNet, mnist_test: Dataset, accuracy: Accuracy, record_property: Callable[[str, Any], None]
) -> None:
    ours = _adv_accuracy("fgsm", {"eps": 0.15}, smallcnn, mnist_test, accuracy)
    theirs = _adv_accuracy("torchattacks:FGSM", {"eps": 0.15}, smallcnn, mnist_test, accuracy)
    record_property("fgsm", ours)
    record_property("torchattacks:FGSM", theirs)
    assert ours < 0.9 and abs(ours - theirs) <= 0.01


@pytest.mark.parametrize(
    ("varied", "values", "fixed"),
    [
        ("eps", (0.05, 0.1, 0.2), {"steps": 10, "step_size": 0.02}),
        ("steps", (1, 5, 20), {"eps": 0.3, "step_size": 0.01}),
    ],
)
def test_accuracy_falls_with_budget(
    varied: str,
    values: tuple[float, ...],
    fixed: dict[str, float],
    smallcnn: MultiExitNet,
    mnist_test: Dataset,
    accuracy: Accuracy,
) -> None:
    accs = [_adv_accuracy("pgd", {**fixed, varied: v}, smallcnn, mnist_test, accuracy, n=200) for v in values]
    assert all(a >= b for a, b in itertools.pairwise(accs)), accs
    assert accs[0] - accs[-1] >= 0.2, accs


def test_unbounded_pgd_breaks_everything(smallcnn: MultiExitNet, mnist_test: Dataset, accuracy: Accuracy) -> None:
    assert _adv_accuracy("pgd", {"eps": 1.0, "steps": 10, "step_size": 0.1}, smallcnn, mnist_test, accuracy) <= 0.02
