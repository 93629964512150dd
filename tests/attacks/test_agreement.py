"""rdibench's PGD and FGSM against torchattacks' and ART's on the same 500 real MNIST test images, and its
APGD against the authors' (pyautoattack).

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

from rdibench.attacks import APGD, Single, attack_mode, make_attack, make_objective, view_for
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


@pytest.mark.parametrize(("norm", "eps", "loss"), [("Linf", 0.08, "ce"), ("Linf", 0.08, "dlr"), ("L2", 1.5, "ce")])
def test_apgd_agrees_with_pyautoattack(
    norm: str,
    eps: float,
    loss: str,
    smallcnn: MultiExitNet,
    mnist_test: Dataset,
    accuracy: Accuracy,
    record_property: Callable[[str, Any], None],
) -> None:
    """rdibench's APGD and the authors' (pyautoattack's ``APGDAttack``) on the same images and settings.

    Both draw their random starts from different generators, so they agree up to start noise; 20 steps
    instead of AutoAttack's 100 keep the test short (the step-size checkpoints scale with the steps).
    """
    from pyautoattack.autopgd_base import APGDAttack

    n, steps = 200, 20
    x, y = mnist_test.x[:n], mnist_test.y[:n]
    objective = make_objective("single", num_exits=1, exit=-1, loss=loss)
    ours = accuracy(
        smallcnn, APGD(eps=eps, norm=norm, steps=steps)(smallcnn, x, y, objective, generator=make_generator(0)), y
    )
    reference = APGDAttack(
        view_for(smallcnn, Single()), n_iter=steps, norm=norm, eps=eps, loss=loss, seed=0, device=x.device
    )
    with torch.random.fork_rng(), attack_mode(smallcnn):
        theirs = accuracy(smallcnn, reference.perturb(x, y), y)
    record_property("apgd", ours)
    record_property("pyautoattack", theirs)
    assert ours < accuracy(smallcnn, x, y) - 0.05  # the attack bites
    assert abs(ours - theirs) <= 0.02
