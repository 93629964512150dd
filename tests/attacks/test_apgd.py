"""APGD on multi-exit objectives: its schedule, its restarts, its keep-the-fooling-point rule, its DLR warning."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from rdibench.attacks import APGD, make_objective
from rdibench.attacks.algorithms.apgd import checkpoints
from rdibench.core.errors import ConfigError
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

Accuracy = Callable[[MultiExitNet, torch.Tensor, torch.Tensor], float]
N = 64


def test_checkpoints_follow_the_paper() -> None:
    """The paper's p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), checkpoint w_j = p_j N."""
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    assert checkpoints(100) == [round(100 * pj) for pj in p[1:]]


def test_more_restarts_never_help_the_defender(smallcnn: MultiExitNet, mnist_test: Dataset, accuracy: Accuracy) -> None:
    """Restart r attacks only the samples still standing, from the same first start: accuracy cannot rise."""
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    objective = make_objective("single", num_exits=1)
    accs = [
        accuracy(
            smallcnn, APGD(eps=0.06, steps=5, restarts=r)(smallcnn, x, y, objective, generator=make_generator(4)), y
        )
        for r in (1, 3)
    ]
    assert accs[1] <= accs[0] < accuracy(smallcnn, x, y), accs


@pytest.mark.parametrize("name", ["average", "routing", "soft_routing", "random", "slowdown"])
def test_apgd_drives_every_multi_exit_objective(
    name: str, rdi_smallcnn: MultiExitNet, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    """Inside the ball and the box, and the objective higher than at the clean images; slowdown has no success
    rule, so its samples keep their highest-loss point."""
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    objective = make_objective(name, num_exits=3, thresholds=rdi_thresholds).bind(make_generator(0))
    x_adv = APGD(eps=0.1, steps=10)(rdi_smallcnn, x, y, objective, generator=make_generator(1))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert objective(rdi_smallcnn(x_adv), y).mean() > objective(rdi_smallcnn(x), y).mean()


def test_l2_apgd_stays_in_its_ball(smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    x_adv = APGD(eps=1.5, norm="L2", steps=5)(
        smallcnn, x, y, make_objective("single", num_exits=1), generator=make_generator(0)
    )
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 1.5 * (1 + 1e-5) and x_adv.min() >= 0 and x_adv.max() <= 1


def test_an_linf_radius_beyond_the_box_is_refused() -> None:
    with pytest.raises(ConfigError, match="whole \\[0, 1\\] box"):
        APGD(eps=2.0)


def test_zero_gradients_under_dlr_are_recorded(mnist_test: Dataset) -> None:
    """A model blind to its input (AutoAttack's zero-gradient check) is flagged, not silently "robust"."""
    blind = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(blind[1].weight)
    nn.init.normal_(blind[1].bias, generator=torch.Generator().manual_seed(0))
    model = MultiExitNet([nn.Identity()], [blind], arch="blind", input_shape=(1, 28, 28)).eval()
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    attack = APGD(eps=0.3, steps=5)
    attack(model, x, y, make_objective("single", num_exits=1, loss="dlr"), generator=make_generator(0))
    assert list(attack.warnings) == ["zero_gradients"]
    assert attack.warnings["zero_gradients"] == [f"{N} points with zero gradient at the start (DLR loss)"]
    ce = APGD(eps=0.3, steps=5)
    ce(model, x, y, make_objective("single", num_exits=1), generator=make_generator(0))
    assert ce.warnings == {}  # as AutoAttack: the check goes with the scale-free DLR loss
