"""Adaptive inference: the entropy rule, equal-share threshold fitting, and executor agreement on real images."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rdibench import inference
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


def test_fit_gives_equal_clean_exit_shares_on_the_validation_split(roots: DataRoots) -> None:
    torch.manual_seed(0)
    model = create_model("rdi_smallcnn").eval()
    val = load(DataSpec(dataset="mnist", split="val", val_size=3000), roots)
    with torch.no_grad():
        logits = model(val.x)
    t = inference.fit_thresholds(logits)
    shares = torch.bincount(inference.route(logits, t), minlength=3) / len(val)
    assert shares.tolist() == pytest.approx([1 / 3] * 3, abs=1 / len(val))


def test_adjust_applies_scale_then_offset() -> None:
    assert inference.adjust([1.0, 2.0], [3.0, 4.0], None) == [3.0, 8.0]
    assert inference.adjust([1.0, 2.0], None, [-0.5, 0.0]) == [0.5, 2.0]


@pytest.mark.parametrize("n_exits", [3])
def test_executors_agree_on_real_mnist(roots: DataRoots, n_exits: int) -> None:
    torch.manual_seed(1)
    model = create_model("rdi_smallcnn").eval()
    x = load(DataSpec(dataset="mnist", n=512), roots).x
    with torch.no_grad():
        t = inference.fit_thresholds(model(x))
    a, b = inference.simulate(model, x, t), inference.early_exit(model, x, t)
    assert torch.equal(a.pred, b.pred) and torch.equal(a.exit, b.exit)
    assert len(set(a.exit.tolist())) == n_exits  # every exit is exercised


def test_executors_agree_on_the_authors_model(authors_ckpt: Path, roots: DataRoots) -> None:
    model = load_checkpoint(authors_ckpt).model
    x = load(DataSpec(dataset="cifar10", n=1017), roots).x
    with torch.no_grad():
        t = inference.adjust(inference.fit_thresholds(model(x)), None, AUTHORS_OFFSETS)
    a, b = inference.simulate(model, x, t), inference.early_exit(model, x, t)
    assert torch.equal(a.pred, b.pred) and torch.equal(a.exit, b.exit)
    assert len(set(a.exit.tolist())) == 7
