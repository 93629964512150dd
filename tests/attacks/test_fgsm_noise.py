"""FGSM's random-start radius (``noise``): N-FGSM, the single-step training attack that resists catastrophic
overfitting (de Jorge et al., NeurIPS 2022), is FGSM with ``eps = 3r, noise = 2r, step_size = r``."""

from __future__ import annotations

import pytest
import torch

from rdibench.attacks import FGSM, Single
from rdibench.attacks.base import start_point
from rdibench.core.errors import ConfigError
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

R = 0.05


def test_n_fgsm_is_noise_then_one_unprojected_step(smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:32], mnist_test.y[:32]
    smallcnn.eval()
    x_adv = FGSM(eps=3 * R, noise=2 * R, step_size=R, random_start=True)(
        smallcnn, x, y, Single(), generator=make_generator(5)
    )
    start = start_point(x, 2 * R, True, make_generator(5)).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(smallcnn(start)[-1], y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, start)
    by_hand = (start.detach() + R * grad.sign()).clamp(0, 1)
    assert torch.allclose(x_adv, by_hand, atol=1e-6)  # the 3r-ball's projection never binds
    delta = (x_adv - x).abs()
    assert delta.max() <= 3 * R + 1e-6 and delta.max() > 2 * R  # noise beyond r, as N-FGSM's


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"eps": R, "noise": 2 * R, "random_start": True}, "must not exceed eps"),
        ({"eps": 3 * R, "noise": 2 * R, "random_start": False}, "noise needs random_start"),
    ],
)
def test_noise_outside_the_ball_or_without_a_random_start_is_refused(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FGSM(**params)
