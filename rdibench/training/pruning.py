"""Pruned baselines (docs/protocol.md §6.4): structured channel pruning to a target MFlops, unstructured global
magnitude pruning to a target sparsity (or sparse-aware MFlops). Both are followed by adversarial fine-tuning.

Costs are the paper convention (conv MACs / 2**20) of the last exit, so a baseline's target can be set to the
RDI-Net's average MFlops and the comparison is at equal compute.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune

from rdibench.core.errors import ConfigError
from rdibench.flops import exit_costs
from rdibench.models.multiexit import MultiExitNet

MAX_CHANNEL_RATIO = 0.95  # never remove more than 95% of a layer's channels
MAX_SPARSITY = 0.999
BISECT_STEPS = 12  # resolution 0.95 / 4096: finer than one channel of any layer


def main_mflops(model: MultiExitNet) -> float:
    """Paper-convention MFlops of the last exit (the full backbone), sparse-aware."""
    return exit_costs(model).paper[-1]


def _smallest_meeting(cost: Callable[[float], float], before: float, target: float, high: float) -> float:
    """Smallest amount in (0, high] whose ``cost`` (MFlops after pruning a copy by that amount) is <= ``target``,
    by bisection (cost falls as the amount grows); ConfigError when the target is not below ``before`` or is
    out of reach at ``high``."""
    if target >= before:
        raise ConfigError(f"prune.target_mflops {target} is not below the model's {before:.4g} MFlops")
    if (floor := cost(high)) > target:
        raise ConfigError(
            f"prune.target_mflops {target} is unreachable: pruning {high:g} still leaves {floor:.4g} MFlops"
        )
    lo, hi = 0.0, high
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        if cost(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def _classifiers(model: MultiExitNet) -> list[nn.Module]:
    """The last Linear of every head: its outputs are the classes and must stay."""
    return [[m for m in head.modules() if isinstance(m, nn.Linear)][-1] for head in model.heads]


def _prune_channels(model: MultiExitNet, ratio: float, example_input: torch.Tensor) -> None:
    pruner = tp.pruner.BasePruner(
        model,
        example_input,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        ignored_layers=_classifiers(model),
    )
    pruner.step()


def prune_structured(
    model: MultiExitNet, target_mflops: float, example_input: torch.Tensor | None = None
) -> dict[str, Any]:
    """Remove whole channels (L1 filter magnitude, same ratio in every layer, dependencies coupled by
    torch-pruning's DependencyGraph) until the paper MFlops of the last exit are <= ``target_mflops``.

    The ratio is the smallest one meeting the target, found by bisection on copies; ``model`` is pruned in
    place. Returns the card's ``pruning`` record (``structured: True`` lets load_checkpoint reshape layers).
    """
    example = torch.zeros(1, *model.input_shape) if example_input is None else example_input
    before, params_before = main_mflops(model), sum(p.numel() for p in model.parameters())

    def cost(ratio: float) -> float:
        work = copy.deepcopy(model)
        _prune_channels(work, ratio, example)
        return main_mflops(work)

    ratio = _smallest_meeting(cost, before, target_mflops, MAX_CHANNEL_RATIO)
    _prune_channels(model, ratio, example)
    return {
        "structured": True,
        "method": f"torch-pruning {tp.__version__} BasePruner, L1 filter magnitude, uniform channel ratio",
        "channel_ratio": ratio,
        "target_mflops": target_mflops,
        "mflops_before": before,
        "mflops_after": main_mflops(model),
        "params_before": params_before,
        "params_after": sum(p.numel() for p in model.parameters()),
    }


def _weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all conv and linear layers."""
    ws = [getattr(m, name) for m, name in _weights(model)]
    return float(sum((w == 0).sum() for w in ws)) / sum(w.numel() for w in ws)


def _mask(model: nn.Module, sparsity: float) -> None:
    prune.global_unstructured(_weights(model), pruning_method=prune.L1Unstructured, amount=sparsity)


def _masked_mflops(model: MultiExitNet, sparsity: float) -> float:
    """MFlops of a pruned copy (masks folded in: a masked module cannot be deep-copied for counting)."""
    work = copy.deepcopy(model)
    _mask(work, sparsity)
    make_permanent(work)
    return main_mflops(work)


def prune_unstructured(model: MultiExitNet, sparsity: float) -> dict[str, Any]:
    """Global L1 magnitude pruning of a fraction ``sparsity`` of all conv + linear weights (``torch.nn.utils.prune``).

    The masks stay attached (``weight_orig`` * ``weight_mask``) so fine-tuning keeps pruned weights at zero;
    :func:`make_permanent` folds them in before saving. Sparse-aware MFlops follow from rdibench.flops.
    """
    if not 0 < sparsity < 1:
        raise ConfigError(f"prune.target_sparsity must lie in (0, 1), got {sparsity}")
    before, after = main_mflops(model), _masked_mflops(model, sparsity)
    _mask(model, sparsity)
    return {
        "structured": False,
        "method": "global L1 magnitude over conv + linear weights (torch.nn.utils.prune)",
        "requested_sparsity": sparsity,
        "sparsity": weight_sparsity(model),
        "mflops_before": before,
        "mflops_after": after,
    }


def sparsity_for_mflops(model: MultiExitNet, target_mflops: float) -> float:
    """The smallest global sparsity whose sparse-aware paper MFlops are <= ``target_mflops``."""
    return _smallest_meeting(lambda s: _masked_mflops(model, s), main_mflops(model), target_mflops, MAX_SPARSITY)


def make_permanent(model: nn.Module) -> None:
    """Fold the pruning masks into the weights (zeros stay zeros) and drop the reparametrisation."""
    for module, name in _weights(model):
        if prune.is_pruned(module):
            prune.remove(module, name)
