"""Adaptive inference (docs/protocol.md §4): routing by an exit rule, threshold fitting, and two executors.

``simulate`` computes every exit and routes afterwards (the paper's way; what attacks differentiate
through). ``early_exit`` stops computing a sample once it has left (the real saving). Both route with
the same function, so they must agree on every prediction and exit. The rule (entropy by default, as the
paper) is named, never implied by a caller: see :mod:`rdibench.inference.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rdibench.core.types import ExitLogits
from rdibench.inference.rules import DEFAULT_RULE, exit_rule
from rdibench.models.multiexit import MultiExitNet


def route(exit_logits: ExitLogits, thresholds: Sequence[float], rule: str = DEFAULT_RULE) -> torch.Tensor:
    """Exit index per sample: the first side exit where ``rule`` finds it strictly confident enough, else the last."""
    how = exit_rule(rule)
    n_exits = len(exit_logits)
    if len(thresholds) != n_exits - 1:
        raise ValueError(f"{n_exits} exits need {n_exits - 1} thresholds, got {len(thresholds)}")
    n = exit_logits[0].shape[0]
    chosen = torch.full((n,), n_exits - 1, dtype=torch.long, device=exit_logits[0].device)
    undecided = torch.ones(n, dtype=torch.bool, device=chosen.device)
    for i, t in enumerate(thresholds):
        leave = undecided & how.leaves(exit_logits[i], t)
        chosen[leave] = i
        undecided &= ~leave
    return chosen


def routed_logits(exit_logits: ExitLogits, exits: torch.Tensor) -> torch.Tensor:
    """The logits of each sample's chosen exit, [N, C]."""
    stacked = torch.stack(exit_logits, dim=0)  # [E, N, C]
    return stacked[exits, torch.arange(exits.shape[0], device=exits.device)]


def fit_thresholds(exit_logits: ExitLogits, rule: str = DEFAULT_RULE) -> list[float]:
    """Thresholds giving each exit an equal share of these (clean) samples (MSDNet protocol, docs/protocol.md §4).

    For side exit k, among the samples not yet exited, sort from most to least confident and take the score at
    position floor(D/N); the floor(D/N) samples before it leave at k (the rule is strict).
    """
    how = exit_rule(rule)
    n_exits = len(exit_logits)
    d = exit_logits[0].shape[0]
    per_exit = d // n_exits
    remaining = torch.ones(d, dtype=torch.bool)
    thresholds: list[float] = []
    for k in range(n_exits - 1):
        score = how.score(exit_logits[k]).cpu()
        idx = remaining.nonzero().squeeze(1)
        order = idx[torch.argsort(how.uncertainty(exit_logits[k]).cpu()[idx], stable=True)]
        thresholds.append(float(score[order[per_exit]]) if per_exit < len(order) else how.everyone_leaves())
        remaining[order[:per_exit]] = False
    return thresholds


def adjust(base: Sequence[float], scale: Sequence[float] | None, offset: Sequence[float] | None) -> list[float]:
    """``base * scale + offset`` per side exit: the authors' hand shifts (MNIST x3, x4; ResNet-38 -0.15 ...)."""
    s = scale or [1.0] * len(base)
    o = offset or [0.0] * len(base)
    if len(s) != len(base) or len(o) != len(base):
        raise ValueError(f"scale/offset need {len(base)} values, one per side exit")
    return [b * si + oi for b, si, oi in zip(base, s, o, strict=True)]


@dataclass(frozen=True)
class Routed:
    """Prediction and exit index per sample."""

    pred: torch.Tensor
    exit: torch.Tensor


@torch.no_grad()
def simulate(model: MultiExitNet, x: torch.Tensor, thresholds: Sequence[float], rule: str = DEFAULT_RULE) -> Routed:
    """All exits in one forward, then route (the paper's bookkeeping)."""
    logits = model(x)
    exits = route(logits, thresholds, rule)
    return Routed(routed_logits(logits, exits).argmax(1), exits)


@torch.no_grad()
def early_exit(model: MultiExitNet, x: torch.Tensor, thresholds: Sequence[float], rule: str = DEFAULT_RULE) -> Routed:
    """Run segment by segment and drop samples as soon as they leave: later segments see fewer images."""
    how = exit_rule(rule)
    n = x.shape[0]
    pred = torch.empty(n, dtype=torch.long, device=x.device)
    exits = torch.empty(n, dtype=torch.long, device=x.device)
    active = torch.arange(n, device=x.device)
    h = x
    last = model.num_exits - 1
    for i, (segment, head) in enumerate(zip(model.segments, model.heads, strict=True)):
        h = segment(h)
        logits = head(h)
        leave = (
            torch.ones(len(active), dtype=torch.bool, device=x.device)
            if i == last
            else how.leaves(logits, thresholds[i])
        )
        pred[active[leave]] = logits[leave].argmax(1)
        exits[active[leave]] = i
        active, h = active[~leave], h[~leave]
        if not len(active):
            break
    return Routed(pred, exits)


EXECUTORS = {"simulate": simulate, "early_exit": early_exit}
