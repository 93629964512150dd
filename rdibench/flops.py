"""Per-exit compute of a multi-exit model, counted by ptflops forward hooks on one dummy input.

Two conventions, both reported everywhere:

* ``paper``: the authors' ``cal_flops.py`` rule (paper.md §7): conv multiply-accumulates only (no bias, FC,
  BN, pooling), divided by 2**20; exit i costs segments 0..i plus exit i's own head. It omits the heads a
  sample passed through without exiting, so it under-states a real early-exit pipeline.
* ``full``: every layer ptflops counts (conv incl. bias, linear, BN, ReLU, pooling), in 10**6 MACs,
  cumulative: exit i costs segments 0..i plus heads 0..i, the honest price of leaving at exit i.

Counts are sparse-aware: a conv or linear layer's count is scaled by the fraction of non-zero weights,
so unstructured pruning shows up (structured pruning shrinks the layers themselves).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from typing import Any, Literal

import torch
from ptflops import pytorch_engine
from torch import nn

from rdibench.models.multiexit import MultiExitNet

Convention = Literal["paper", "full"]
UNITS = {"paper": 2.0**20, "full": 1e6}


@dataclass(frozen=True)
class ExitCosts:
    """MFlops of leaving at each exit under both conventions (index = exit, shallow to deep)."""

    paper: tuple[float, ...]
    full: tuple[float, ...]

    def of(self, convention: Convention) -> tuple[float, ...]:
        return self.paper if convention == "paper" else self.full

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper": list(self.paper),
            "full": list(self.full),
            "units": {"paper": "MMAC/2^20 conv-only", "full": "1e6 MAC all layers"},
        }


def _conv_mac_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    """The paper's rule: C_in/groups * C_out * k_h * k_w * H_out * W_out, no bias."""
    k = module.kernel_size[0] * module.kernel_size[1]
    module.__flops__ += int(output.numel() * (module.in_channels // module.groups) * k)


def module_macs(model: nn.Module, input_shape: tuple[int, ...], convention: Convention) -> dict[str, float]:
    """MACs per leaf module name for one image, counted by ptflops hooks (``paper``: convs only)."""
    work = copy.deepcopy(model).eval()
    custom = {nn.Conv2d: _conv_mac_hook} if convention == "paper" else {}
    saved = pytorch_engine.CUSTOM_MODULES_MAPPING
    pytorch_engine.CUSTOM_MODULES_MAPPING = custom  # ptflops reads this global when hooks are attached
    try:
        counter = pytorch_engine.add_flops_counting_methods(work)
        counter.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
        with torch.no_grad():
            param = next(work.parameters())
            work(torch.zeros(1, *input_shape, dtype=param.dtype, device=param.device))
        counts: dict[str, float] = {}
        for name, mod in work.named_modules():
            if not hasattr(mod, "__flops__"):
                continue
            if convention == "paper" and not isinstance(mod, nn.Conv2d):
                continue
            counts[name] = float(mod.__flops__) * _density(mod)
        counter.stop_flops_count()
    finally:
        pytorch_engine.CUSTOM_MODULES_MAPPING = saved
    return counts


def _density(mod: nn.Module) -> float:
    weight = getattr(mod, "weight", None)
    if isinstance(mod, (nn.Conv2d, nn.Linear)) and isinstance(weight, torch.Tensor) and weight.numel():
        return float((weight != 0).sum()) / weight.numel()
    return 1.0


def _part_sums(model: MultiExitNet, convention: Convention) -> tuple[list[float], list[float]]:
    counts = module_macs(model, model.input_shape, convention)

    def total(prefix: str) -> float:
        return sum(v for k, v in counts.items() if k == prefix or k.startswith(prefix + "."))

    segs = [total(f"segments.{i}") for i in range(model.num_exits)]
    heads = [total(f"heads.{i}") for i in range(model.num_exits)]
    return segs, heads


def exit_costs(model: MultiExitNet) -> ExitCosts:
    """Cost of leaving at each exit under both conventions (see the module docstring)."""
    segs, heads = _part_sums(model, "paper")
    paper = tuple((sum(segs[: i + 1]) + heads[i]) / UNITS["paper"] for i in range(model.num_exits))
    segs, heads = _part_sums(model, "full")
    full = tuple((sum(segs[: i + 1]) + sum(heads[: i + 1])) / UNITS["full"] for i in range(model.num_exits))
    return ExitCosts(paper, full)


def expected_mflops(exit_fractions: list[float] | tuple[float, ...], costs: tuple[float, ...]) -> float:
    """Average per-image cost when a fraction ``exit_fractions[i]`` of inputs leaves at exit i."""
    return float(sum(f * c for f, c in zip(exit_fractions, costs, strict=True)))
