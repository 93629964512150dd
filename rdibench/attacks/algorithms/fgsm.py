"""Fast gradient sign method (Goodfellow et al., ICLR 2015), optionally from a random start, always projected."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field, model_validator

from rdibench.attacks.base import Attack, AttackParams, project_linf, start_point
from rdibench.attacks.objectives import Objective
from rdibench.models.multiexit import MultiExitNet


class FGSMParams(AttackParams):
    eps: float = Field(gt=0, le=1, description="L-inf radius on the [0, 1] pixel scale")
    step_size: float | None = Field(None, gt=0, description="the single step (default: eps)")
    random_start: bool = Field(False, description="start from x + U(-noise, noise) (R+FGSM)")
    noise: float | None = Field(None, gt=0, description="random-start radius (default: eps); at most eps")

    @model_validator(mode="after")
    def _noise_in_ball(self) -> FGSMParams:
        if self.noise is not None and (self.noise > self.eps or not self.random_start):
            raise ValueError("noise needs random_start: true and must not exceed eps")
        return self


class FGSM(Attack):
    """One signed-gradient step, then projection onto the eps-ball and the box.

    The authors' ``fgm_*`` variants add uniform noise and then a full eps step without projecting, so
    their perturbation can reach 2*eps (docs/protocol.md §3.3). Here the result always lies in the eps-ball.
    N-FGSM (de Jorge et al., NeurIPS 2022), the single-step training attack that resists catastrophic
    overfitting at training radius r (noise 2r, step r, no projection to the r-ball), is this attack with
    ``eps = 3r, noise = 2r, step_size = r``: its perturbations never reach the 3r-ball's boundary by projection.
    """

    name: ClassVar[str] = "fgsm"
    Params = FGSMParams
    single_step = True
    params: FGSMParams

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        p = self.params
        x_adv = start_point(x, p.eps if p.noise is None else p.noise, p.random_start, generator)
        _, grad = self.loss_and_grad(model, x_adv, y, objective)
        step = p.eps if p.step_size is None else p.step_size
        return project_linf(x_adv + step * grad.sign(), x, p.eps)
