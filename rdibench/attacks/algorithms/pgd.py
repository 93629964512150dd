"""Projected gradient descent, L-inf (Madry et al., ICLR 2018), on any multi-exit objective."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from rdibench.attacks.base import Attack, AttackParams, start_point
from rdibench.attacks.objectives import Objective
from rdibench.models.multiexit import MultiExitNet


class PGDParams(AttackParams):
    eps: float = Field(gt=0, le=1, description="L-inf radius on the [0, 1] pixel scale")
    steps: int = Field(ge=1, description="number of gradient steps")
    step_size: float = Field(gt=0, description="step per iteration (alpha)")
    random_start: bool = Field(True, description="start from x + U(-eps, eps), clipped to the box")


class PGD(Attack):
    """x <- Proj_{B_eps(x) ∩ [0,1]}(x + alpha * sign(grad objective)), ``steps`` times.

    Unlike the authors' code the random start is clipped to [0, 1] too, so every iterate is a valid image.
    Input ``x`` [N, C, H, W] in [0, 1], labels [N]; returns adversarial images of the same shape.
    Example: ``PGD(eps=0.3, steps=40, step_size=0.01)(model, x, y, Average(), generator=g)``.
    """

    name: ClassVar[str] = "pgd"
    Params = PGDParams
    params: PGDParams

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        p = self.params
        x_adv = start_point(x, p.eps, p.random_start, generator)
        # the eps-ball meet the [0, 1] box, computed once: clamping to it equals project_linf bit for bit
        low, high = (x - p.eps).clamp_(min=0.0), (x + p.eps).clamp_(max=1.0)
        for _ in range(p.steps):
            _, grad = self.loss_and_grad(model, x_adv, y, objective)
            x_adv = torch.clamp(x_adv + p.step_size * grad.sign(), low, high)
        return x_adv
