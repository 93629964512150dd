"""Adaptive inference: the exit rules, equal-share threshold fitting, and executor agreement on real images."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rdibench import inference
from rdibench.core.errors import UnknownNameError
from rdibench.data import DataRoots, DataSpec, load
from rdibench.models import create_model, load_checkpoint
from rdibench.models.importers.triple_wins import AUTHORS_OFFSETS


def test_entropy_is_natural_log_with_the_authors_epsilon() -> None:
    uniform = torch.zeros(1, 10)
    assert float(inference.entropy(uniform)) == pytest.approx(-math.log(0.1 + 1e-5), rel=1e-5)
    assert float(inference.entropy(torch.tensor([[100.0, 0.0]]))) < 1e-4


def test_route_takes_the_first_exit_strictly_below_its_threshold() -> None:
    confident = torch.tensor([[20.0, 0.0]])
    unsure = torch.zeros(1, 2)
    h_unsure = float(inference.entropy(unsure))
    logits = [torch.cat([unsure, confident]), torch.cat([confident, confident]), torch.cat([unsure, unsure])]
    assert inference.route(logits, [0.5, 0.5]).tolist() == [1, 0]
    assert inference.route([unsure, unsure], [h_unsure]).tolist() == [1]  # equal is not below: strict


def test_max_softmax_takes_the_first_exit_strictly_above_its_threshold() -> None:
    confident = torch.tensor([[20.0, 0.0]])
    unsure = torch.zeros(1, 2)  # max-softmax 0.5
    logits = [torch.cat([unsure, confident]), torch.cat([confident, confident]), torch.cat([unsure, unsure])]
    assert inference.route(logits, [0.9, 0.9], "max_softmax").tolist() == [1, 0]
    assert inference.route([unsure, unsure], [0.5], "max_softmax").tolist() == [1]  # equal is not above: strict
    assert inference.route([unsure, unsure], [0.4], "max_softmax").tolist() == [0]
    rule = inference.exit_rule("max_softmax")
    assert float(rule.score(confident)) == pytest.approx(1.0) and float(rule.uncertainty(unsure)) == -0.5


@pytest.mark.parametrize("rule", ["entropy", "max_softmax"])
def test_fit_gives_equal_clean_exit_shares_on_the_validation_split(roots: DataRoots, rule: str) -> None:
    torch.manual_seed(0)
    model = create_model("rdi_smallcnn").eval()
    val = load(DataSpec(dataset="mnist", split="val", val_size=3000), roots)
    with torch.no_grad():
        logits = model(val.x)
    t = inference.fit_thresholds(logits, rule)
    shares = torch.bincount(inference.route(logits, t, rule), minlength=3) / len(val)
    assert shares.tolist() == pytest.approx([1 / 3] * 3, abs=1 / len(val))


def test_the_rules_disagree_on_who_leaves_yet_both_fit_equal_shares() -> None:
    """Entropy reads the whole distribution, max-softmax only its top: same shares, different samples."""
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(300, 10, generator=g) * 3 for _ in range(3)]
    by = {r: inference.route(logits, inference.fit_thresholds(logits, r), r) for r in ("entropy", "max_softmax")}
    assert all(torch.bincount(e, minlength=3).tolist() == [100, 100, 100] for e in by.values())
    assert not torch.equal(by["entropy"], by["max_softmax"])


def test_a_user_rule_plugs_in_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference.EXIT_RULES, "_items", dict(inference.EXIT_RULES._items))

    @inference.register_exit_rule
    class Margin(inference.ExitRule):
        """Gap between the two largest softmax probabilities."""

        name = "margin"
        higher_is_confident = True

        def score(self, logits: torch.Tensor) -> torch.Tensor:
            top = torch.softmax(logits.float(), 1).topk(2, dim=1).values
            return top[:, 0] - top[:, 1]

    g = torch.Generator().manual_seed(1)
    logits = [torch.randn(90, 5, generator=g) for _ in range(3)]
    t = inference.fit_thresholds(logits, "margin")
    assert torch.bincount(inference.route(logits, t, "margin"), minlength=3).tolist() == [30, 30, 30]
    with pytest.raises(UnknownNameError, match=r"unknown exit rule 'maxsoftmax'.*Allowed: entropy, margin"):
        inference.route(logits, t, "maxsoftmax")


def test_adjust_applies_scale_then_offset() -> None:
    assert inference.adjust([1.0, 2.0], [3.0, 4.0], None) == [3.0, 8.0]
    assert inference.adjust([1.0, 2.0], None, [-0.5, 0.0]) == [0.5, 2.0]


@pytest.mark.parametrize("rule", ["entropy", "max_softmax"])
def test_executors_agree_on_real_mnist(roots: DataRoots, rule: str) -> None:
    torch.manual_seed(1)
    model = create_model("rdi_smallcnn").eval()
    x = load(DataSpec(dataset="mnist", n=512), roots).x
    with torch.no_grad():
        t = inference.fit_thresholds(model(x), rule)
    a, b = inference.simulate(model, x, t, rule), inference.early_exit(model, x, t, rule)
    assert torch.equal(a.pred, b.pred) and torch.equal(a.exit, b.exit)
    assert len(set(a.exit.tolist())) == model.num_exits  # every exit is exercised


def test_executors_agree_on_the_authors_model(authors_ckpt: Path, roots: DataRoots) -> None:
    model = load_checkpoint(authors_ckpt).model
    x = load(DataSpec(dataset="cifar10", n=1017), roots).x
    with torch.no_grad():
        t = inference.adjust(inference.fit_thresholds(model(x)), None, AUTHORS_OFFSETS)
    a, b = inference.simulate(model, x, t), inference.early_exit(model, x, t)
    assert torch.equal(a.pred, b.pred) and torch.equal(a.exit, b.exit)
    assert len(set(a.exit.tolist())) == 7
