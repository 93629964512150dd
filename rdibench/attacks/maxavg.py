"""The max-average combinator (docs/protocol.md §3.1): per sample, the single-exit candidate with the largest
average loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rdibench.attacks.base import Attack, attack_mode
from rdibench.attacks.objectives import Average, Single
from rdibench.core.seeding import make_generator
from rdibench.models.multiexit import MultiExitNet


def single_candidates(
    attack: Attack,
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    *,
    train_mode: bool = False,
) -> list[torch.Tensor]:
    """x_adv_k = attack(single(k)) for every exit k, each from its own random start (seed ``seeds[k]``)."""
    return [
        attack(model, x, y, Single(k=k), generator=make_generator(seed, x.device), train_mode=train_mode)
        for k, seed in enumerate(seeds)
    ]


@torch.no_grad()
def select_max_average(
    model: MultiExitNet, candidates: Sequence[torch.Tensor], y: torch.Tensor, *, train_mode: bool = False
) -> torch.Tensor:
    """Per sample keep candidate k* = argmax_k mean_j CE(f_j(x_adv_k), y).

    Candidates may be reused from single attacks already run with the same settings.
    """
    with attack_mode(model, train_mode):
        losses = torch.stack([Average()(model(c), y) for c in candidates])  # [K, N]
    best = losses.argmax(0)
    stacked = torch.stack(list(candidates))  # [K, N, ...]
    return stacked[best, torch.arange(len(y), device=y.device)]


def max_average(
    attack: Attack,
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    *,
    train_mode: bool = False,
) -> torch.Tensor:
    """Run the single attacks, then select (use :func:`select_max_average` directly to reuse candidates).

    ``train_mode`` runs attacks and selection with the model in train mode, as the authors' defence does.
    """
    candidates = single_candidates(attack, model, x, y, seeds, train_mode=train_mode)
    return select_max_average(model, candidates, y, train_mode=train_mode)
