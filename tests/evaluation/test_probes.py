"""The sanity probes and the security curve, on the committed defended SmallCNN and on a gradient-masked copy.

The probes must pass on an honest model and fail on one whose gradients are masked: a check that could
not fail would prove nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from rdibench.data import DataRoots, Dataset, DataSpec, load
from rdibench.evaluation import evaluate_cell
from rdibench.evaluation.cell import failed_checks
from rdibench.evaluation.probes import tolerance
from rdibench.evaluation.specs import AttackSpec, SanitySpec
from rdibench.flops import exit_costs
from rdibench.models import MultiExitNet, load_checkpoint
from tests.conftest import REPO

DEFENDED = REPO / "baselines" / "models" / "mnist-smallcnn-pgdat-31cd44483520"
PGD = {"eps": 0.3, "steps": 10, "step_size": 0.04}
SANITY = SanitySpec(probe_n=40, curve=[0.5, 1.5])


@pytest.fixture(scope="module")
def data(roots: DataRoots) -> Dataset:
    return load(DataSpec(dataset="mnist", split="test", n=40), roots)


def _defended() -> MultiExitNet:
    return load_checkpoint(DEFENDED).model.eval()


def _probe(model: MultiExitNet, data: Dataset, params: dict[str, Any], algorithm: str = "pgd") -> dict[str, Any]:
    spec = AttackSpec(name=algorithm, algorithm=algorithm, objective="single", exit=0, params=params, probe=True)
    result = evaluate_cell(
        model, "m", spec, 0, data.x, data.y, [], exit_costs(model), seed=0, batch_size=40, sanity=SANITY
    )
    return result.record


def test_an_honest_attack_passes_its_probes_and_draws_a_falling_curve(data: Dataset) -> None:
    record = _probe(_defended(), data, PGD)
    checks, curve = record["sanity"], record["security_curve"]
    assert not failed_checks(checks), checks
    assert {"unbounded_breaks_all", "more_steps_not_better", "curve_not_rising"} <= set(checks)
    assert 0 < record["cpu_s"] <= record["wall_s"] * torch.get_num_threads() + 0.5  # the cell's own CPU time
    assert curve["eps"] == sorted(curve["eps"]) and curve["eps"][0] == 0.0 and curve["norm"] == "Linf"
    assert curve["eps"][1:] == pytest.approx([0.15, 0.3, 0.45])  # the suite's multiples of eps
    assert curve["acc"][0] == record["metrics"]["ta_per_exit"][0]  # eps 0: the clean images (probe_n = n here)
    assert curve["acc"][2] == checks["probe_base_acc"]  # the suite's eps: the attack itself
    assert curve["acc"][-1] < curve["acc"][0]  # a larger radius costs accuracy
    assert all(b <= a + tolerance(40) for a, b in itertools.pairwise(curve["acc"]))


def test_one_step_is_not_asked_to_break_everything_at_an_unbounded_radius(data: Dataset) -> None:
    """FGSM at eps=1 moves every pixel to a corner of the box, which need not fool a model (a barely trained
    SmallCNN kept more than 5 % there): the check is left out for a one-step attack, the curve still drawn."""
    record = _probe(_defended(), data, {"eps": 0.3}, algorithm="fgsm")
    checks = record["sanity"]
    assert "unbounded_breaks_all" not in checks and not failed_checks(checks), checks
    assert record["security_curve"]["acc"][-1] < record["security_curve"]["acc"][0]


def test_probes_fail_a_gradient_masked_model(data: Dataset) -> None:
    """Logits scaled by 1e4 saturate the softmax: cross-entropy gradients vanish in float32, PGD without a random
    start cannot move, and ATA looks like clean accuracy. The unbounded probe catches it."""
    model = _defended()
    head = model.heads[-1]
    model.heads[-1] = torch.nn.Sequential(head, _Scale(1e4))
    record = _probe(model, data, {**PGD, "random_start": False})
    assert record["metrics"]["ata"] == record["metrics"]["ta"]  # the masked model looks perfectly robust
    assert "unbounded_breaks_all" in failed_checks(record["sanity"])


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.factor
