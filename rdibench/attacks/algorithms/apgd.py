"""Auto-PGD (Croce and Hein, ICML 2020): PGD with momentum and a step size it halves itself, on any objective."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from rdibench.attacks.base import Attack, AttackParams, uniform_like
from rdibench.attacks.objectives import Objective
from rdibench.models.multiexit import MultiExitNet


class APGDParams(AttackParams):
    eps: float = Field(gt=0, description="radius in ``norm`` on the [0, 1] pixel scale")
    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model")
    steps: int = Field(100, ge=1, description="iterations per restart (AutoAttack: 100)")
    restarts: int = Field(1, ge=1, description="random restarts; each attacks only the samples not yet fooled")
    rho: float = Field(0.75, gt=0, le=1, description="halve the step at a checkpoint if fewer than rho of the steps "
                       "since the last one raised the loss")  # fmt: skip
    momentum: float = Field(0.75, ge=0, le=1, description="weight of the new step against the previous move")

    @model_validator(mode="after")
    def _linf_radius(self) -> APGDParams:
        if self.norm == "Linf" and self.eps > 1:
            raise ValueError(f"an L-inf eps above 1 ({self.eps}) is the whole [0, 1] box; use eps <= 1")
        return self


def checkpoints(steps: int) -> list[int]:
    """Iterations (1-based) after which the step size is reconsidered: the first after 0.22 N, then gaps
    shrinking by 0.03 N down to 0.06 N (the paper's p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06))."""
    gap, shrink, least = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    marks, at = [], gap
    while at <= steps:
        marks.append(at)
        gap = max(gap - shrink, least)
        at += gap
    return marks


class APGD(Attack):
    """Auto-PGD: a momentum step (0.75), the step size starting at 2 eps and halved at checkpoints where the
    loss oscillated or stalled (then restarting from the best point), random restarts on the samples the
    objective says are not yet fooled.

    The objective supplies the per-sample loss (its per-exit ``loss`` may be ``ce`` or ``dlr``: APGD-CE and
    APGD-DLR) and the success rule (``objective.fooled``: exit k wrong for ``single``, the routed prediction
    for ``routing``/``soft_routing``, every exit for ``average``). A sample the attack fools keeps the
    fooling point; any other keeps its highest-loss point over all restarts (never the clean image).
    Checked against pyautoattack's APGD on a one-exit model (tests/attacks/test_agreement.py). With a DLR
    loss, samples whose first gradient is exactly zero are recorded as a warning, as AutoAttack does.
    Input ``x`` [N, C, H, W] in [0, 1], labels [N]; returns adversarial images of the same shape.
    Example: ``APGD(eps=0.3, steps=100)(model, x, y, Routing(thresholds=t), generator=g)``.
    """

    name: ClassVar[str] = "apgd"
    Params = APGDParams
    params: APGDParams

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        best = x.clone()
        best_loss = torch.full((len(x),), -math.inf, device=x.device)
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for _ in range(self.params.restarts):
            todo = (~fooled).nonzero().squeeze(1)
            if not len(todo):
                break
            x_best, loss, won, x_won = self.run_once(model, x[todo], y[todo], objective, generator)
            better = ~won & (loss > best_loss[todo])
            best[todo[better]], best_loss[todo[better]] = x_best[better], loss[better]
            best[todo[won]], fooled[todo[won]] = x_won[won], True
        return best

    def run_once(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One restart: the highest-loss point and its loss, whether each sample was fooled, and where."""
        p = self.params
        x_adv = self.project(x + p.eps * self.normalize(self.start_direction(x, generator)), x)
        loss, grad, won = self.loss_grad_fooled(model, x_adv, y, objective)
        if objective.loss == "dlr" and (zero := int((grad.flatten(1).abs().sum(1) == 0).sum())):
            self.warn("zero_gradients", f"{zero} points with zero gradient at the start (DLR loss)")
        won = _or_none(won, len(x), x.device)
        x_won = x_adv.clone()
        x_best, loss_best, grad_best = x_adv.clone(), loss.clone(), grad.clone()
        step = torch.full((len(x), *[1] * (x.dim() - 1)), 2.0 * p.eps, device=x.device)
        x_prev, loss_prev = x_adv.clone(), loss.clone()
        rises = torch.zeros(len(x), device=x.device)
        best_at_check, halved_at_check = loss_best.clone(), torch.ones(len(x), dtype=torch.bool, device=x.device)
        marks, since = set(checkpoints(p.steps)), 0
        for i in range(p.steps):
            a = 1.0 if i == 0 else p.momentum
            z = self.project(x_adv + step * self.normalize(grad, sign=True), x)
            x_prev, x_adv = x_adv, self.project(x_adv + a * (z - x_adv) + (1 - a) * (x_adv - x_prev), x)
            loss, grad, now = self.loss_grad_fooled(model, x_adv, y, objective)
            if now is not None:
                x_won[now], won = x_adv[now], won | now
            rises += (loss > loss_prev).float()
            loss_prev = loss
            up = loss > loss_best
            x_best[up], grad_best[up], loss_best[up] = x_adv[up], grad[up], loss[up]
            since += 1
            if i + 1 in marks:
                oscillating = rises < p.rho * since
                stalled = ~halved_at_check & (best_at_check >= loss_best)
                halve = oscillating | stalled
                step[halve] /= 2.0
                x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]
                best_at_check, halved_at_check = loss_best.clone(), halve
                rises.zero_()
                since = 0
        return x_best, loss_best, won, x_won

    def start_direction(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """U(-1, 1) per pixel for L-inf, N(0, 1) for L2 (normalised to the sphere of radius eps by the caller)."""
        if self.params.norm == "Linf":
            return uniform_like(x, -1.0, 1.0, generator)
        return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)

    def normalize(self, v: torch.Tensor, sign: bool = False) -> torch.Tensor:
        """``v`` scaled to unit norm per sample (L-inf: the sign for a step, ``v / max|v|`` for a start)."""
        if self.params.norm == "Linf" and sign:
            return v.sign()
        flat = v.flatten(1)
        norm = flat.abs().amax(1) if self.params.norm == "Linf" else flat.norm(dim=1)
        return v / (norm.view(-1, *[1] * (v.dim() - 1)) + 1e-12)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Onto the eps-ball around ``x``, then the [0, 1] box (clipping to the box only shrinks the step)."""
        eps = self.params.eps
        if self.params.norm == "Linf":
            return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
        delta = (x_adv - x).flatten(1)
        scale = (eps / (delta.norm(dim=1) + 1e-12)).clamp(max=1.0)
        return (x + (delta * scale[:, None]).view_as(x)).clamp(0.0, 1.0)


def _or_none(won: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
    """An objective without a success rule never counts a sample as fooled (its best-loss point is kept)."""
    return torch.zeros(n, dtype=torch.bool, device=device) if won is None else won
