"""The attack base class: what every algorithm shares (torchattacks' ``Attack``, with the loss taken out).

An algorithm implements ``perturb`` only. The base validates inputs, freezes parameters and puts the
model in eval mode for the attack (restoring both afterwards: the model leaves as it came), runs the
objective under the chosen precision, and never touches the global RNG (an explicit generator).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from rdibench.attacks.objectives import OBJECTIVES, MaxAverage, Objective, make_objective
from rdibench.core.errors import ConfigError
from rdibench.core.seeding import make_generator
from rdibench.core.types import ExitLogits
from rdibench.inference import DEFAULT_RULE, exit_rule
from rdibench.models.adapter import adapt_model
from rdibench.models.multiexit import MultiExitNet


class AttackParams(BaseModel):
    """Settings every attack shares; subclasses add theirs. Frozen and complete: what ran is what is recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast for the attack's forwards")


@contextlib.contextmanager
def attack_mode(model: torch.nn.Module, train_mode: bool = False) -> Iterator[None]:
    """Eval mode (or train mode for training-time attacks) and frozen parameters, both restored on exit."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.train(train_mode)
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


BOUND_KEYS = ("objective", "exit", "thresholds", "rule")
"""What an attack used on its own (``attack(model, x, y)``) is bound to; not algorithm settings."""


class Attack:
    """One algorithm with fixed settings, called ``attack(model, x, y)`` (torchattacks style) or, as rdibench's
    evaluation calls it, ``attack(model, x, y, objective, generator=g)``.

    The keywords of :data:`BOUND_KEYS` bind what a call without an objective attacks: ``objective`` (a name of
    :data:`~rdibench.attacks.objectives.OBJECTIVES` or an :class:`Objective`; default ``average``), ``exit``
    (objective single; -1 = main), ``thresholds`` and ``rule`` (the model's exit rule and its thresholds, for
    routing and slowdown; default entropy). Without ``generator``, random
    starts come from one seeded with 0, so a call is a deterministic function of its inputs. ``model`` is any
    module meeting the model contract (:mod:`rdibench.models.adapter`); ``max_average`` runs one single-exit
    attack per exit and keeps, per sample, the candidate with the largest average loss.
    Example: ``PGD(eps=0.3, steps=40, step_size=0.01, objective="max_average")(model, x, y)``.
    """

    name: ClassVar[str] = "attack"
    Params: ClassVar[type[AttackParams]] = AttackParams
    norm: ClassVar[str] = "Linf"
    single_step: ClassVar[bool] = False
    """One gradient step: at an unbounded radius the step lands on a corner of the box, which need not fool the
    model, so the sanity probes do not ask it to break every image and prefer an iterative attack to probe."""

    def __init__(
        self,
        *,
        objective: str | Objective = "average",
        exit: int | None = None,
        thresholds: Sequence[float] | None = None,
        rule: str = DEFAULT_RULE,
        **settings: Any,
    ) -> None:
        try:
            self.params = self.Params(**settings)
        except ValidationError as e:
            errors = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'params'}: {err['msg']}" for err in e.errors())
            raise ConfigError(
                f"attack {self.name!r}: {errors}. Allowed settings: {', '.join(self.Params.model_fields)}"
            ) from None
        if isinstance(objective, str):
            OBJECTIVES.get(objective)  # an unknown name fails now, listing the known ones
        exit_rule(rule)  # an unknown rule fails now too
        self.objective, self.exit, self.rule = objective, exit, rule
        self.thresholds = None if thresholds is None else tuple(float(t) for t in thresholds)
        self.warnings: dict[str, list[str]] = {}

    def warn(self, check: str, message: str) -> None:
        """Record a reliability warning (AutoAttack's flags: zero gradients, Square beating the white-box
        attacks...) under ``check``; kept across calls, so the cell that ran the attack stores every one."""
        messages = self.warnings.setdefault(check, [])
        if message not in messages:
            messages.append(message)

    def __repr__(self) -> str:
        settings = {**self.params.model_dump(), "objective": self.objective}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"

    def describe(self) -> dict[str, Any]:
        return {"algorithm": self.name, "norm": self.norm, **self.params.model_dump()}

    def bound_objective(self, num_exits: int) -> Objective:
        """The objective this attack was bound to, for a model with ``num_exits`` exits."""
        if not isinstance(self.objective, str):
            return self.objective
        try:
            return make_objective(
                self.objective, num_exits=num_exits, exit=self.exit, thresholds=self.thresholds, rule=self.rule
            )
        except ConfigError as e:
            hint = "give objective=, exit=, thresholds= and rule= to the attack"
            raise ConfigError(f"{type(self).__name__}: {e} ({hint})") from None

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        objective: Objective | None = None,
        *,
        generator: torch.Generator | None = None,
        train_mode: bool = False,
    ) -> torch.Tensor:
        """Adversarial images for ``x`` [N, C, H, W] in [0, 1] with labels ``y`` [N]; the model leaves as it came."""
        if x.min() < 0 or x.max() > 1:
            raise ConfigError("attacks take images in [0, 1]; normalisation belongs inside the model")
        multi_exit = adapt_model(model, tuple(x.shape[1:]))
        objective = objective if objective is not None else self.bound_objective(multi_exit.num_exits)
        generator = generator if generator is not None else make_generator(0)
        if isinstance(objective, MaxAverage):
            from rdibench.attacks.maxavg import max_average  # maxavg builds on this class

            draws = torch.randint(0, 2**62, (multi_exit.num_exits,), generator=generator, device=generator.device)
            return max_average(self, multi_exit, x, y, draws.tolist(), train_mode=train_mode)
        objective = objective.bind(generator)
        with attack_mode(multi_exit, train_mode):
            x_adv = self.perturb(multi_exit, x.detach(), y, objective, generator)
        return x_adv.detach()

    def loss_and_grad(
        self, model: MultiExitNet, x_adv: torch.Tensor, y: torch.Tensor, objective: Objective
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample objective and its input gradient; one forward gives every exit."""
        loss, grad, _ = self.loss_grad_fooled(model, x_adv, y, objective, track=False)
        return loss, grad

    def loss_grad_fooled(
        self, model: MultiExitNet, x_adv: torch.Tensor, y: torch.Tensor, objective: Objective, *, track: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Per-sample objective, its input gradient and (with ``track``) ``objective.fooled`` at ``x_adv``.

        The exit logits are not kept past the loss, so the graph of exits the objective ignores is freed
        before the backward (measurably faster for a single-exit objective on a CPU).
        """
        x_adv = x_adv.detach().requires_grad_(True)
        with self.autocast(x_adv.device):
            logits: ExitLogits = model(x_adv)
        loss = objective(logits, y)
        fooled = objective.fooled([z.detach() for z in logits], y) if track else None
        del logits
        (grad,) = torch.autograd.grad(loss.sum(), x_adv)
        return loss.detach(), grad, fooled

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if self.params.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        raise NotImplementedError


def uniform_like(x: torch.Tensor, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """U(low, high) noise shaped like ``x``, drawn on the generator's device then moved."""
    noise = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return (noise * (high - low) + low).to(x.device)


def start_point(x: torch.Tensor, eps: float, random_start: bool, generator: torch.Generator) -> torch.Tensor:
    """``x``, or ``x + U(-eps, eps)`` clipped to the box: the first iterate is always a valid image."""
    if not random_start:
        return x.clone()
    return (x + uniform_like(x, -eps, eps, generator)).clamp_(0.0, 1.0)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Onto the L-inf eps-ball around ``x`` and the [0, 1] box (in that order: the result satisfies both)."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)
