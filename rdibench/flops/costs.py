"""Per-exit compute of a multi-exit model under the two conventions, from the layers each exit depends on.

* ``paper``: the authors' ``cal_flops.py`` rule (docs/protocol.md §7): conv multiply-accumulates only (no bias, FC,
  BN, pooling), divided by 2**20; exit i costs the layers its logits depend on (backbone to i plus exit i's own
  branch). It omits the branches a sample passed through without exiting, so it under-states a real early-exit
  pipeline.
* ``full``: every layer ptflops counts (conv incl. bias, linear, BN, ReLU, pooling ...), in 10**6 MACs,
  cumulative: exit i costs every layer any of exits 0..i depends on (the backbone to i and every earlier branch),
  the honest price of leaving at exit i, whatever order the model's forward runs them in.

Counts are sparse-aware: a conv or linear layer's count is scaled by the fraction of non-zero weights,
so unstructured pruning shows up (structured pruning shrinks the layers themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from rdibench.core.errors import CostError
from rdibench.flops.trace import Trace, trace

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


def costs_of(t: Trace) -> ExitCosts:
    """Both conventions from a trace: ``paper`` over each exit's own dependencies, ``full`` over the union of
    the dependencies of that exit and every earlier one."""
    paper = tuple(sum(t.calls[i].paper * t.calls[i].density for i in deps) / UNITS["paper"] for deps in t.depends)
    full, paid = [], frozenset[int]()
    for deps in t.depends:
        paid |= deps
        full.append(sum(t.calls[i].full * t.calls[i].density for i in sorted(paid)) / UNITS["full"])
    return ExitCosts(paper, tuple(full))


def exit_costs(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> ExitCosts:
    """Cost of leaving at each exit of ``model``, measured from its own forward on one image of ``input_shape``
    (default: the model's ``input_shape`` attribute); raises :class:`CostError` saying why when it cannot be
    measured."""
    shape = input_shape or getattr(model, "input_shape", None)
    if shape is None:
        raise CostError(
            f"{type(model).__name__} has no input_shape: pass the input shape of its data "
            "(rdibench.data.dataset_info(name).input_shape)"
        )
    return costs_of(trace(model, tuple(shape)))


def expected_mflops(exit_fractions: list[float] | tuple[float, ...], costs: tuple[float, ...]) -> float:
    """Average per-image cost when a fraction ``exit_fractions[i]`` of inputs leaves at exit i."""
    return float(sum(f * c for f, c in zip(exit_fractions, costs, strict=True)))
