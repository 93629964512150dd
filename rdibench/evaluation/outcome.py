"""What a model does with a set of images: routed prediction right or wrong, exit taken, every exit's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rdibench.inference import route, routed_logits
from rdibench.models.multiexit import MultiExitNet


@dataclass(frozen=True)
class Outcome:
    correct: torch.Tensor  # routed prediction correct, [N] bool
    exits: torch.Tensor  # [N] long
    correct_per_exit: torch.Tensor  # [E, N] bool

    def attacked_accuracy(self, exit: int | None) -> float:
        """Accuracy on what the attack targeted: exit ``exit``'s own for an attack aimed at one exit (single),
        the routed one otherwise (``exit`` None)."""
        if exit is not None:
            return mean(self.correct_per_exit[exit])
        return mean(self.correct)


@torch.no_grad()
def outcome(
    model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, thresholds: Sequence[float], rule: str, bs: int
) -> Outcome:
    """One forward per batch of ``bs`` gives every exit, the routing by exit ``rule`` and the routed prediction."""
    correct, exits, per_exit = [], [], []
    for i in range(0, len(x), bs):
        logits = model(x[i : i + bs])
        yb = y[i : i + bs]
        e = route(logits, thresholds, rule)
        exits.append(e)
        correct.append(routed_logits(logits, e).argmax(1) == yb)
        per_exit.append(torch.stack([z.argmax(1) == yb for z in logits]))
    # on the CPU whatever the model's device: flags are packed with numpy and compared across devices
    return Outcome(torch.cat(correct).cpu(), torch.cat(exits).cpu(), torch.cat(per_exit, dim=1).cpu())


def mean(flags: torch.Tensor) -> float:
    return float(flags.double().mean())
