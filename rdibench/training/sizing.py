"""Sizing a baseline to another model's measured cost (a recipe's ``match_mflops``): the paper compares RDI-Nets
with pruned and compressed static models at equal compute, and that compute is known only once the RDI-Net is
trained (its exits' use on held-out images), so the budget is read from its card rather than typed into a recipe.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rdibench.core.errors import ConfigError
from rdibench.flops import exit_costs
from rdibench.models import create_model
from rdibench.models.checkpoint import read_card

WIDTH_STEP = 0.01


def matched_mflops(checkpoint: Path) -> float:
    """A trained model's average cost per image, paper convention: on its held-out images with its thresholds
    (its card's ``training.val.expected_mflops.paper``); a static model's is its one exit's."""
    val = (read_card(checkpoint).training or {}).get("val") or {}
    cost = (val.get("expected_mflops") or {}).get("paper")
    if cost is None:
        raise ConfigError(
            f"{checkpoint}: its card records no measured average cost (training.val.expected_mflops.paper); "
            "match_mflops takes a model trained by rdibench train"
        )
    return float(cost)


def width_for_mflops(arch: str, kwargs: dict[str, Any], num_classes: int, target: float) -> float:
    """The width, in steps of 0.01 up to 1, whose paper MFlops (last exit) are nearest ``target``: the narrowest
    of the widths that round to the same channels. Bisection over the steps: a model's cost never falls as its
    width grows."""

    @functools.cache
    def cost(step: int) -> float:
        model = create_model(arch, num_classes=num_classes, **kwargs, width=step * WIDTH_STEP)
        return exit_costs(model).paper[-1]

    low, high = 1, round(1 / WIDTH_STEP)
    if target >= cost(high):
        raise ConfigError(f"match_mflops: {target:.4g} MFlops is not below {arch}'s {cost(high):.4g} at width 1")
    while high - low > 1:  # invariant: cost(low) < target <= cost(high), or low is the narrowest
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid) < target else (low, mid)
    best = min((low, high), key=lambda s: (abs(cost(s) - target), s))
    while best > 1 and cost(best - 1) == cost(best):
        best -= 1
    return round(best * WIDTH_STEP, 2)
