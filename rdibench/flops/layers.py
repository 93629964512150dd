"""What one call of one layer costs, under each convention, from its module and the shapes it saw.

``full`` is ptflops' rule for the layer type (conv incl. bias, linear, norms, activations, pooling, upsampling,
RNNs, attention); ``paper`` is the authors' ``cal_flops.py`` rule, convolution multiply-accumulates only. Both
are per image (the measuring forward has batch 1). The weight density of a conv or linear layer is kept apart,
so counts can be dense (to check against torch's counter) or sparse-aware (what pruned models are charged).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from ptflops.pytorch_ops import MODULES_MAPPING
from torch import nn
from torch.nn.modules.conv import _ConvNd

Hook = Callable[[nn.Module, tuple[Any, ...], Any], None]


def counted_as(module: nn.Module) -> type | None:
    """The layer type ``module`` is counted as: its own if ptflops knows it, else the nearest one it derives from
    (a ``Conv2d`` subclass costs what a ``Conv2d`` does); None for layers ptflops treats as free (containers,
    dropout, flatten ...)."""
    return next((cls for cls in type(module).__mro__ if cls in MODULES_MAPPING), None)


def counting_rule(module: nn.Module) -> Hook | None:
    """ptflops' hook for the type ``module`` is counted as, or None."""
    cls = counted_as(module)
    return None if cls is None else MODULES_MAPPING[cls]


def full_macs(module: nn.Module, rule: Hook, inputs: tuple[Any, ...], output: Any) -> float:
    """ptflops' count for this one call (its hooks accumulate into ``module.__flops__``; a scratch value here)."""
    saved = module.__dict__.get("__flops__")
    module.__flops__ = 0
    try:
        rule(module, inputs, output)
        return float(module.__flops__)
    finally:
        if saved is None:
            del module.__flops__
        else:
            module.__flops__ = saved


def paper_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> float:
    """The paper's rule for a convolution: C_in/groups * C_out * prod(kernel) per output position, no bias
    (a transposed convolution: C_out/groups per input position); every other layer is free."""
    if not isinstance(module, _ConvNd):
        return 0.0
    kernel = math.prod(module.kernel_size)
    if module.transposed:
        return float(inputs[0].numel() * (module.out_channels // module.groups) * kernel)
    return float(output.numel() * (module.in_channels // module.groups) * kernel)


def multiplies(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> float | None:
    """Dense multiply-accumulates of a conv or linear call as torch's FLOP counter sees them (2 FLOPs each), or
    None for other layers: a subclass that computes more than its base class is caught by comparing the two."""
    if isinstance(module, nn.Linear):
        return float(inputs[0].numel() * module.out_features)
    return paper_macs(module, inputs, output) if isinstance(module, _ConvNd) else None


def density(module: nn.Module) -> float:
    """Fraction of non-zero weights of a conv or linear layer (1 for other layers): unstructured pruning's saving."""
    weight = getattr(module, "weight", None)
    if isinstance(module, (_ConvNd, nn.Linear)) and isinstance(weight, torch.Tensor) and weight.numel():
        return float((weight != 0).sum()) / weight.numel()
    return 1.0
