"""FLOP tables: the paper's convention to two decimals (paper.md §7), the cumulative one, a cross-check."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rdibench.flops import exit_costs, expected_mflops, module_macs
from rdibench.models import create_model

PAPER = {
    "rdi_smallcnn": [0.818, 7.00, 9.25],
    "rdi_resnet38": [16.79, 30.29, 36.54, 50.04, 61.42, 74.92, 79.42],
    "rdi_mobilenetv2": [7.94, 22.91, 30.13, 36.55, 51.16, 67.91, 86.92],
    "smallcnn": [9.25],
    "resnet38": [79.42],
    "mobilenetv2": [86.92],
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_convention_reproduces_the_tables(name: str) -> None:
    costs = exit_costs(create_model(name))
    assert costs.paper == pytest.approx(PAPER[name], abs=0.01)


@pytest.mark.parametrize("name", ["rdi_smallcnn", "rdi_resnet38", "rdi_mobilenetv2"])
def test_full_convention_is_cumulative_and_honest(name: str) -> None:
    costs = exit_costs(create_model(name))
    assert all(b > a for a, b in zip(costs.full, costs.full[1:], strict=False))
    # counting every layer and every branch passed through can only cost more than the paper's rule
    assert all(f >= p * 2**20 / 1e6 for f, p in zip(costs.full, costs.paper, strict=False))


@pytest.mark.parametrize("name", ["smallcnn", "resnet38", "mobilenetv2"])
def test_conv_and_linear_macs_agree_with_torch_flop_counter(name: str) -> None:
    """torch's counter counts 2 FLOPs per MAC of conv and matmul; ptflops' conv MACs + FC MACs must match."""
    model = create_model(name).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *model.input_shape))
    conv = sum(module_macs(model, model.input_shape, "paper").values())
    linear = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert counter.get_total_flops() == 2 * (conv + linear)


def test_counts_are_sparse_aware() -> None:
    model = create_model("smallcnn")
    dense = exit_costs(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight[m.weight.abs() < m.weight.abs().median()] = 0.0
    sparse = exit_costs(model)
    assert sparse.paper[0] == pytest.approx(dense.paper[0] / 2, rel=0.01)
    assert sparse.full[0] < dense.full[0]


def test_expected_mflops_weights_exit_costs_by_fractions() -> None:
    costs = exit_costs(create_model("rdi_smallcnn")).paper
    assert expected_mflops([1 / 3] * 3, costs) == pytest.approx(sum(costs) / 3)
    assert expected_mflops([0, 0, 1], costs) == pytest.approx(costs[-1])
