"""Attacks used on their own, torchattacks style: ``PGD(..., objective=...)(model, x, y)`` on any module meeting
the model contract, the same images as the evaluation's explicit call."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rdibench.attacks import FGSM, PGD, Average, Routing, Single, TorchattacksAttack, make_attack
from rdibench.core.errors import ConfigError, ModelError
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

N = 64
SETTINGS = {"eps": 0.3, "steps": 5, "step_size": 0.1}


class Theirs(nn.Module):
    """A user's module: a tuple of logits, none of rdibench's attributes."""

    def __init__(self, net: MultiExitNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.net(x))


@pytest.fixture
def theirs(rdi_smallcnn: MultiExitNet) -> Theirs:
    return Theirs(rdi_smallcnn).train()  # attacks run in eval mode and give the module back as it came


def _routed_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, thresholds: tuple[float, ...]) -> float:
    from rdibench.inference import route, routed_logits

    with torch.no_grad():
        logits = list(model.eval()(x))
    return float((routed_logits(logits, route(logits, thresholds)).argmax(1) == y).float().mean())


def test_a_bound_objective_gives_the_images_of_the_explicit_call(theirs: Theirs, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    bound = PGD(**SETTINGS, objective="single", exit=0)(theirs, x, y)
    explicit = PGD(**SETTINGS)(theirs, x, y, Single(k=0), generator=make_generator(0))
    assert torch.equal(bound, explicit)
    assert torch.equal(
        PGD(**SETTINGS)(theirs, x, y), PGD(**SETTINGS)(theirs, x, y, Average(), generator=make_generator(0))
    )
    assert theirs.training and all(p.requires_grad for p in theirs.parameters())
    assert (bound - x).abs().max() <= SETTINGS["eps"] + 1e-6 and bound.min() >= 0 and bound.max() <= 1


def test_max_average_keeps_per_sample_the_single_exit_candidate_of_largest_average_loss(
    theirs: Theirs, mnist_test: Dataset
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    settings = {**SETTINGS, "random_start": False}  # deterministic candidates, whatever their seeds
    chosen = PGD(**settings, objective="max_average")(theirs, x, y)
    candidates = [PGD(**settings, objective="single", exit=k)(theirs, x, y) for k in range(3)]
    with torch.no_grad():  # in eval mode, as the attack selects (no dropout)
        theirs.eval()
        losses = torch.stack(
            [torch.stack([F.cross_entropy(z, y, reduction="none") for z in theirs(c)]).mean(0) for c in candidates]
        )
    expected = torch.stack(candidates)[losses.argmax(0), torch.arange(N)]
    assert torch.equal(chosen, expected)
    assert len({tuple(c.flatten()[:50].tolist()) for c in candidates}) == 3, "the candidates must differ"


def test_routing_takes_the_thresholds_from_an_argument(
    theirs: Theirs, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    with pytest.raises(ConfigError, match=r"needs the model's thresholds \(give objective=, exit=, thresholds="):
        PGD(**SETTINGS, objective="routing")(theirs, x, y)
    bound = PGD(**SETTINGS, objective="routing", thresholds=rdi_thresholds)(theirs, x, y)
    explicit = PGD(**SETTINGS)(theirs, x, y, Routing(thresholds=rdi_thresholds), generator=make_generator(0))
    assert torch.equal(bound, explicit)
    clean = _routed_accuracy(theirs, x, y, rdi_thresholds)
    assert _routed_accuracy(theirs, bound, y, rdi_thresholds) < clean - 0.2


def test_library_attacks_and_fgsm_bind_the_same_way(theirs: Theirs, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    ta = TorchattacksAttack("PGD", eps=0.3, alpha=0.1, steps=3, objective="single", exit=-1)
    assert torch.equal(ta(theirs, x, y), ta(theirs, x, y, Single(k=2), generator=make_generator(0)))
    fgsm = FGSM(eps=0.3, objective="average")
    assert torch.equal(fgsm(theirs, x, y), fgsm(theirs, x, y, Average(), generator=make_generator(0)))


def test_what_an_attack_is_bound_to_is_no_algorithm_setting() -> None:
    with pytest.raises(ConfigError, match="'objective' is not an algorithm setting"):
        make_attack("pgd", {**SETTINGS, "objective": "single"})
    with pytest.raises(ConfigError, match="unknown objective 'avg'"):
        PGD(**SETTINGS, objective="avg")


def test_a_module_breaking_the_contract_is_refused(mnist_test: Dataset) -> None:
    with pytest.raises(ModelError, match=r"forward returned a dict"):
        PGD(**SETTINGS)(_DictOut(), mnist_test.x[:4], mnist_test.y[:4])


class _DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.fc(x.flatten(1))}
