"""FLOP tables: the paper's convention to two decimals (docs/protocol.md §7), the cumulative one, a cross-check, and the
cost of models written outside rdibench (their own naming, their own forward) against hand counts."""

from __future__ import annotations

import copy
import io
import re

import pytest
import torch
import torch.nn.functional as F
from ptflops import pytorch_engine
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rdibench.core.errors import CostError
from rdibench.flops import exit_costs, expected_mflops, trace
from rdibench.flops.layers import density
from rdibench.flops.trace import MEASURE_SEEDS
from rdibench.models import MultiExitNet, create_model

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


def _by_structure(model: MultiExitNet) -> list[float]:
    """The ``full`` convention from the MultiExitNet structure: ptflops' per-module counts, summed over
    segments 0..i and heads 0..i by name (how rdibench counted before costs were measured from the forward)."""
    work = copy.deepcopy(model).eval()
    counter = pytorch_engine.add_flops_counting_methods(work)
    counter.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
    with torch.no_grad():
        work(torch.zeros(1, *model.input_shape))
    counts = {n: m.__flops__ * density(m) for n, m in work.named_modules() if hasattr(m, "__flops__")}
    counter.stop_flops_count()

    def part(prefix: str) -> float:
        return sum(v for k, v in counts.items() if k.startswith(prefix + "."))

    parts = [part(f"segments.{i}") + part(f"heads.{i}") for i in range(model.num_exits)]
    return [sum(parts[: i + 1]) / 1e6 for i in range(model.num_exits)]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_measured_costs_equal_the_structural_count_on_the_zoo(name: str) -> None:
    model = create_model(name)
    assert exit_costs(model).full == pytest.approx(_by_structure(model), rel=1e-12)


@pytest.mark.parametrize("name", ["smallcnn", "resnet38", "mobilenetv2"])
def test_conv_and_linear_macs_agree_with_torch_flop_counter(name: str) -> None:
    """torch's counter counts 2 FLOPs per MAC of conv and matmul; the dense conv MACs + FC MACs must match.

    Dense: a random init can draw an exact 0.0 weight, which the sparse-aware count rightly skips but torch's
    counter does not; comparing sparse-aware counts made this test depend on the tests run before it."""
    model = create_model(name).eval()
    with torch.no_grad():  # what a random init draws now and then (about 2**-24 per weight): an exact zero
        next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.view(-1)[0] = 0.0
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *model.input_shape))
    conv = sum(c.paper for c in trace(model, model.input_shape).calls)
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


# Hand counts from layer shapes, per image, as (paper, full) MACs: paper = convolution multiply-accumulates
# (C_in * C_out * k * k per output position), full = every layer as ptflops counts it.
def conv(cin: int, cout: int, k: int, hw: int, bias: bool = True) -> tuple[int, int]:
    macs = cin * cout * k * k * hw
    return macs, macs + (cout * hw if bias else 0)


def linear(i: int, o: int) -> tuple[int, int]:
    return 0, i * o + o


def bn(c: int, hw: int) -> tuple[int, int]:
    return 0, 2 * c * hw  # scale and shift per element


def elementwise(n: int) -> tuple[int, int]:
    return 0, n  # ReLU: one op per output; pooling: one per input element


def total(*layers: tuple[int, int]) -> tuple[int, int]:
    return sum(p for p, _ in layers), sum(f for _, f in layers)


class SDNLike(nn.Module):
    """An SDN-style net with its own naming: all blocks run first, then one classifier per block."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),  # 8x16x16
                nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU()),  # 16x8x8
                nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()),  # 32x4x4
            ]
        )
        self.classifiers = nn.ModuleList(
            [
                nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)),
                nn.Sequential(nn.Conv2d(16, 4, 1, bias=False), nn.Flatten(), nn.Linear(4 * 64, 5)),
                nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5)),
            ]
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return tuple(c(f) for c, f in zip(self.classifiers, features, strict=True))


def test_an_sdn_like_model_costs_its_hand_count() -> None:
    blocks = [
        total(conv(3, 8, 3, 16 * 16), bn(8, 256), elementwise(8 * 256)),
        total(conv(8, 16, 3, 8 * 8), bn(16, 64), elementwise(16 * 64)),
        total(conv(16, 32, 3, 4 * 4), elementwise(32 * 16)),
    ]
    heads = [
        total(elementwise(8 * 256), linear(8, 5)),
        total(conv(16, 4, 1, 8 * 8, bias=False), linear(4 * 64, 5)),
        total(elementwise(32 * 16), linear(32, 5)),
    ]
    paper = [sum(b[0] for b in blocks[: i + 1]) + heads[i][0] for i in range(3)]
    full = [sum(b[1] for b in blocks[: i + 1]) + sum(h[1] for h in heads[: i + 1]) for i in range(3)]
    costs = exit_costs(SDNLike())
    assert costs.paper == pytest.approx([p / 2**20 for p in paper], rel=1e-9)
    assert costs.full == pytest.approx([f / 1e6 for f in full], rel=1e-9)


class TrunkBranches(nn.Module):
    """A shared trunk splits into a cheap early branch and a deep branch carrying two exits, with a residual
    join and one ReLU module called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2))  # 6x24x24 -> 6x12x12
        self.early = nn.Sequential(nn.Flatten(), nn.Linear(6 * 144, 10))
        self.deep = nn.Conv2d(6, 12, 3)  # 12x10x10
        self.deeper = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1), nn.BatchNorm2d(12))  # 12x10x10
        self.act = nn.ReLU()
        self.mid = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 10))
        self.final = nn.Sequential(nn.Flatten(), nn.Linear(1200, 10))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        t = self.trunk(x)
        d = self.act(self.deep(t))
        e = self.act(self.deeper(d)) + d
        return [self.early(t), self.mid(d), self.final(e)]


def test_a_shared_trunk_with_branches_costs_its_hand_count() -> None:
    trunk = total(conv(1, 6, 5, 24 * 24), elementwise(6 * 576), elementwise(6 * 576))
    deep = total(conv(6, 12, 3, 100), elementwise(1200))
    deeper = total(conv(12, 12, 3, 100), bn(12, 100), elementwise(1200))
    early, mid, final = linear(864, 10), total(elementwise(1200), linear(12, 10)), linear(1200, 10)
    paper = [trunk[0] + early[0], trunk[0] + deep[0] + mid[0], trunk[0] + deep[0] + deeper[0] + final[0]]
    full = [trunk[1] + early[1], trunk[1] + early[1] + deep[1] + mid[1]]
    full.append(full[1] + deeper[1] + final[1])
    costs = exit_costs(TrunkBranches(), (1, 28, 28))
    assert costs.paper == pytest.approx([p / 2**20 for p in paper], rel=1e-9)
    assert costs.full == pytest.approx([f / 1e6 for f in full], rel=1e-9)


class Broken(nn.Module):
    """A one-conv model whose exits go wrong in the way ``kind`` says."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 36, 3)
        self.extra = nn.Parameter(torch.randn(3, 4 * 36))
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> object:
        h = self.conv(x).flatten(1)
        if self.kind == "constant exit":
            return [self.fc(h), torch.zeros(1, 3)]
        if self.kind == "functional":
            return [self.fc(h), F.linear(h, self.extra)]
        if self.kind == "uncounted exit":
            return [self.fc(h), x.flatten(1)[:, :3] * self.scale]
        if self.kind == "no_grad layer":
            with torch.no_grad():
                h = self.conv(x).flatten(1)
            return [self.fc(h)]
        if self.kind == "control flow":
            return [self.fc(h)] if x.flatten()[0] > self.cut else [self.fc(h), self.fc(h * 2)]
        return {"logits": self.fc(h)}

    cut = 0.0


BROKEN = {
    "constant exit": "logits of exit 1 do not depend on the input",
    "functional": "ran outside any layer rdibench counts",
    "uncounted exit": "logits of exit 1 depend on no layer rdibench counts",
    "no_grad layer": "layer conv (Conv2d) ran without autograd history",
    "control flow": "differ between two forwards on different inputs",
    "dict": "Broken: forward returned a dict; the model contract asks for a list or tuple",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_cost_that_cannot_be_measured_says_why(kind: str) -> None:
    model = Broken(kind)
    firsts = [float(torch.rand(1, generator=torch.Generator().manual_seed(s))) for s in MEASURE_SEEDS]
    model.cut = sum(firsts) / 2  # the two measuring inputs' first pixels fall on both sides of the cut
    assert min(firsts) < model.cut < max(firsts)
    with pytest.raises(CostError, match=re.escape(BROKEN[kind])):
        exit_costs(model, (1, 8, 8))


def test_a_layer_that_computes_more_than_its_type_is_refused() -> None:
    class LowRankLinear(nn.Linear):
        """A Linear with an extra low-rank path (as LoRA): counting it as a Linear would leave compute out."""

        def __init__(self) -> None:
            super().__init__(16, 4)
            self.down, self.up = nn.Parameter(torch.randn(2, 16)), nn.Parameter(torch.randn(4, 2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) + x @ self.down.T @ self.up.T

    with pytest.raises(CostError, match=r"computes .* more than the .* of a Linear"):
        exit_costs(nn.Sequential(nn.Flatten(), LowRankLinear()), (1, 4, 4))
    with pytest.raises(CostError, match="has no input_shape"):
        exit_costs(nn.Sequential(nn.Flatten(), nn.Linear(16, 4)))
    plain = exit_costs(nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), (1, 4, 4))  # a plain tensor: one exit
    assert plain.full == pytest.approx(((16 * 4 + 4) / 1e6,)) and plain.paper == (0.0,)
