"""The attack contract, for every built-in algorithm and one attack per library adapter.

Output in [0, 1] and inside the eps-ball, same shape and dtype, identical for the same generator seed,
and the model left as it came: mode, requires_grad flags, .grad, and torch's and numpy's global RNGs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rdibench.attacks import ALGORITHMS, Single, make_attack
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

SETTINGS: dict[str, dict[str, Any]] = {
    "pgd": {"eps": 0.1, "steps": 3, "step_size": 0.04},
    "apgd": {"eps": 0.1, "steps": 3, "restarts": 2},
    "fgsm": {"eps": 0.1, "random_start": True},
    "wrm": {"gamma": 1.0, "steps": 3},
    "torchattacks:PGD": {"eps": 0.1, "alpha": 0.04, "steps": 3},
    "art:ProjectedGradientDescent": {"eps": 0.1, "eps_step": 0.04, "max_iter": 3, "num_random_init": 1},
    "autoattack": {"eps": 0.3, "version": "custom", "attacks": ["apgd-ce"]},
}
N = 16


def test_every_builtin_has_contract_settings() -> None:
    assert set(ALGORITHMS.names()) <= set(SETTINGS)


def _run(name: str, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    return make_attack(name, SETTINGS[name])(model, x, y, Single(), generator=make_generator(seed))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_attack_contract(name: str, smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    smallcnn.train()  # as during adversarial training: the attack must hand the mode back
    frozen = next(smallcnn.parameters())
    frozen.requires_grad_(False)
    with_grad = list(smallcnn.parameters())[-1]
    with_grad.grad = torch.ones_like(with_grad)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()

    x_adv = _run(name, smallcnn, x, y, seed=3)

    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    eps = SETTINGS[name].get("eps")
    if eps is not None:
        assert (x_adv - x).abs().max() <= eps + 1e-6
    assert not torch.equal(x_adv, x)
    assert smallcnn.training and all(m.training for m in smallcnn.modules())
    assert not frozen.requires_grad
    assert all(p.requires_grad for p in smallcnn.parameters() if p is not frozen)
    assert with_grad.grad is not None and torch.equal(with_grad.grad, torch.ones_like(with_grad))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state, strict=True))
    assert torch.equal(_run(name, smallcnn, x, y, seed=3), x_adv)
