"""Objectives on a real (briefly trained) 3-exit RDI-SmallCNN: what each loss is, when each is won, the relaxed
routing, and max-average's guarantee."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from rdibench.attacks import PGD, Average, make_objective, select_max_average, single_candidates
from rdibench.core.errors import ConfigError
from rdibench.data import Dataset
from rdibench.inference import route
from rdibench.models import MultiExitNet

N = 100


def test_average_is_the_mean_of_per_exit_ce(rdi_smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    logits = rdi_smallcnn(x)
    per_exit = torch.stack([F.cross_entropy(z, y, reduction="none") for z in logits])
    loss = make_objective("average", num_exits=3)(logits, y)
    assert loss.shape == (N,)
    torch.testing.assert_close(loss, per_exit.mean(0))


def test_routing_is_ce_at_the_routed_exit(
    rdi_smallcnn: MultiExitNet, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    logits = rdi_smallcnn(x)
    exits = route(logits, rdi_thresholds)
    assert len(exits.unique()) == 3  # the fitted thresholds spread the samples over all exits
    expected = torch.stack([F.cross_entropy(logits[int(e)][i : i + 1], y[i : i + 1])[()] for i, e in enumerate(exits)])
    loss = make_objective("routing", num_exits=3, thresholds=rdi_thresholds)(logits, y)
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss.sum(), logits[0], allow_unused=True)
    assert grad is not None and bool((grad[exits != 0] == 0).all())  # gradient only through the chosen exit


def test_max_average_is_no_weaker_than_any_candidate_under_its_rule(
    rdi_smallcnn: MultiExitNet, mnist_test: Dataset
) -> None:
    """The pick maximises each sample's average CE over exits, so under that rule it beats every candidate.

    ATA "under the selection rule": a sample survives while its average CE stays below tau (for
    tau = ln 2: the geometric mean of the exits' true-class probabilities stays above 1/2). The routed
    ATA has no such ordering: a candidate that wrecks a shallow exit wins the pick while routing then
    sends the sample to a deeper exit that is still right.
    """
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    candidates = single_candidates(PGD(eps=0.1, steps=5, step_size=0.03), rdi_smallcnn, x, y, seeds=[1, 2, 3])
    picked = select_max_average(rdi_smallcnn, candidates, y)
    with torch.no_grad():
        score = {i: Average()(rdi_smallcnn(c), y) for i, c in enumerate(candidates)}
        score["max_average"] = Average()(rdi_smallcnn(picked), y)
    for k in range(3):
        assert bool((score["max_average"] >= score[k] - 1e-6).all())
    for tau in (math.log(2), 1.0, 2.0):
        ata = {name: float((s < tau).float().mean()) for name, s in score.items()}
        assert ata["max_average"] <= min(ata[k] for k in range(3)), (tau, ata)


def test_dlr_is_the_authors_loss() -> None:
    """The per-exit DLR loss equals pyautoattack's ``dlr_loss`` (Croce and Hein's definition)."""
    from pyautoattack.autopgd_base import APGDAttack

    logits, y = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    reference = APGDAttack(torch.nn.Identity(), eps=0.3).dlr_loss(logits, y)
    torch.testing.assert_close(make_objective("single", num_exits=1, loss="dlr")([logits], y), reference)


def test_every_objective_takes_the_dlr_loss_and_says_when_it_has_won(
    rdi_smallcnn: MultiExitNet, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    logits = rdi_smallcnn(x)
    wrong = torch.stack([z.argmax(1) != y for z in logits])
    routed = route(logits, rdi_thresholds)
    expected = {
        "single": wrong[1],
        "average": wrong.all(0),
        "routing": wrong[routed, torch.arange(N)],
        "soft_routing": wrong[routed, torch.arange(N)],
    }
    for name, fooled in expected.items():
        ce = make_objective(name, num_exits=3, exit=1 if name == "single" else None, thresholds=rdi_thresholds)
        dlr = make_objective(
            name, num_exits=3, exit=1 if name == "single" else None, thresholds=rdi_thresholds, loss="dlr"
        )
        assert torch.equal(ce.fooled(logits, y), fooled) and torch.equal(dlr.fooled(logits, y), fooled), name
        assert not torch.allclose(ce(logits, y), dlr(logits, y)), name
    assert make_objective("slowdown", num_exits=3).fooled(logits, y) is None  # no labels: keep the largest loss


def test_soft_routing_relaxes_the_exit_rule(
    rdi_smallcnn: MultiExitNet, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    """Exit probabilities sum to one, sharpen into the hard rule as tau falls, and pass gradient to every exit."""
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    logits = rdi_smallcnn(x)
    hard = make_objective("routing", num_exits=3, thresholds=rdi_thresholds)
    exits = route(logits, rdi_thresholds)
    mismatch, gap = [], []
    with torch.no_grad():
        for tau in (1.0, 1e-2, 1e-4):
            soft = make_objective("soft_routing", num_exits=3, thresholds=rdi_thresholds, tau=tau)
            probs = soft.exit_probabilities(logits)
            torch.testing.assert_close(probs.sum(0), torch.ones(N))
            mismatch.append(float((probs.argmax(0) != exits).float().mean()))
            gap.append(float((soft(logits, y) - hard(logits, y)).abs().mean()))
    assert gap[0] > gap[1] > gap[2] and mismatch[0] >= mismatch[2], (gap, mismatch)
    assert gap[2] < 0.01 and mismatch[2] <= 0.02, (gap, mismatch)
    soft = make_objective("soft_routing", num_exits=3, thresholds=rdi_thresholds, tau=0.1)
    (grad,) = torch.autograd.grad(soft(logits, y).sum(), logits[0])
    assert bool((grad[exits != 0].abs().sum(1) > 0).all())  # routing's gradient there is zero (test above)


@pytest.mark.parametrize(
    ("name", "settings", "fragment"),
    [
        ("average", {"tau": 0.1}, "unknown setting 'tau'; allowed: loss"),
        ("routing", {"loss": "hinge"}, "unknown per-exit loss 'hinge'"),
        ("soft_routing", {"tau": 0}, "tau must be a number > 0"),
        ("slowdown", {"loss": "dlr"}, "allowed: none"),
    ],
)
def test_objective_settings_are_checked(name: str, settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        make_objective(name, num_exits=3, thresholds=[0.1, 0.2], **settings)
