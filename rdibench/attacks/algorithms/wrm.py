"""WRM, the Lagrangian L2 attack of Sinha, Namkoong and Duchi (ICLR 2018)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from pydantic import Field

from rdibench.attacks.base import Attack, AttackParams
from rdibench.attacks.objectives import Objective
from rdibench.models.multiexit import MultiExitNet


class WRMParams(AttackParams):
    gamma: float = Field(gt=0, description="penalty weight on the squared L2 distance")
    steps: int = Field(15, ge=1, description="gradient ascent steps")
    step_size: float = Field(1.0, gt=0, description="base step; step t uses step_size / sqrt(t + 2) as the authors")


class WRM(Attack):
    """Gradient ascent on ``loss_i(x') - gamma * ||x'_i - x_i||_2^2`` per sample, clipped to [0, 1].

    There is no eps-ball: the penalty sets the budget, and the mean L2 distance reached is reported.
    The authors mix a batch-mean loss with a batch-sum penalty (docs/protocol.md §3.3); here both are per
    sample, so the attack on one image does not depend on the batch size.
    """

    name: ClassVar[str] = "wrm"
    norm: ClassVar[str] = "L2-Lagrangian"
    Params = WRMParams
    params: WRMParams

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        p = self.params
        x_adv = x.clone()
        for t in range(p.steps):
            _, grad = self.loss_and_grad(model, x_adv, y, objective)
            ascent = grad - 2.0 * p.gamma * (x_adv - x)
            x_adv = (x_adv + p.step_size / math.sqrt(t + 2) * ascent).clamp_(0.0, 1.0)
        return x_adv
