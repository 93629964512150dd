"""Objectives on a real (briefly trained) 3-exit RDI-SmallCNN: what each loss is, and max-average's guarantee."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rdibench.attacks import PGD, Average, make_objective, select_max_average, single_candidates
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
