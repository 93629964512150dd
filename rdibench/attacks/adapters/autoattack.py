"""AutoAttack (Croce and Hein, ICML 2020): the reference implementation, on a view of a multi-exit model."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator

from rdibench.attacks.adapters.common import ViewAttack
from rdibench.attacks.adapters.views import ExitView
from rdibench.attacks.base import AttackParams
from rdibench.attacks.objectives import Objective

if TYPE_CHECKING:
    from pyautoattack import AutoAttack

AutoAttackName = Literal["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"]
LOGGER = "auto-attack"
"""pyautoattack's logger: its reliability checks (``pyautoattack.checks``) report through it."""
CHECKS = ("randomized", "range_output", "dynamic", "n_classes", "zero_gradients", "square_sr")
"""pyautoattack's checks, named as its ``check_*`` functions: a randomised or dynamic defence, probabilities
instead of logits, too few classes, zero gradients under the DLR loss, Square (black-box) beating the
white-box attacks."""


class AutoAttackParams(AttackParams):
    eps: float = Field(gt=0, description="radius in ``norm`` on the [0, 1] pixel scale (AutoAttack's 0.3 not assumed)")
    norm: Literal["Linf", "L2", "L1"] = Field("Linf", description="threat model")
    version: Literal["standard", "plus", "rand", "custom"] = Field(
        "standard", description="standard: APGD-CE, APGD-T, FAB-T, Square; custom: the ``attacks`` listed"
    )
    attacks: tuple[AutoAttackName, ...] | None = Field(None, description="version custom only: attacks to run")
    seed: int | None = Field(None, description="AutoAttack's seed; None draws it from the rdibench generator")
    batch_size: int = Field(250, ge=1, description="batch size of run_standard_evaluation")

    @model_validator(mode="after")
    def _check(self) -> AutoAttackParams:
        if (self.version == "custom") != (self.attacks is not None):
            raise ValueError(
                "attacks is required with version 'custom' and not allowed otherwise (the version fixes it)"
            )
        return self


class AutoAttackAdapter(ViewAttack):
    """``autoattack``: the ``pyautoattack`` package (the authors' code), not torchattacks' reduced-step copy.

    The standard version runs untargeted APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and Square
    (5000 queries), each only on the samples still correctly classified. Its flags (eps, norm, version,
    attacks, seed, batch size) are settings; the per-attack settings the version implies are resolved
    at construction and recorded under ``resolved``. AutoAttack seeds torch's global RNG with its seed
    (drawn from the rdibench generator unless given) inside a fork, so the caller's state is restored.
    No state file is written. AutoAttack's own reliability checks (:data:`CHECKS`) do not print: each
    warning is kept in ``warnings`` under its check's name, and the cell records them. Inputs and labels
    as every attack; returns adversarial images.
    Example: ``AutoAttackAdapter(eps=0.3)(model, x, y, Single(), generator=g)``.
    """

    name: ClassVar[str] = "autoattack"
    distribution: ClassVar[str] = "pyautoattack"
    Params = AutoAttackParams
    params: AutoAttackParams

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with _captured(LOGGER):  # its "setting parameters" line is no news: the settings are recorded
            self.resolved = _settings(self.autoattack(torch.nn.Identity(), torch.device("cpu"), self.params.seed))

    def autoattack(self, model: torch.nn.Module, device: torch.device, seed: int | None) -> AutoAttack:
        from pyautoattack import AutoAttack

        p = self.params
        attacks = None if p.attacks is None else list(p.attacks)
        return AutoAttack(model, attacks=attacks, device=device, eps=p.eps, norm=p.norm, seed=seed, version=p.version)

    def run(self, view: ExitView, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        with _captured(LOGGER) as records:
            attack = self.autoattack(view, x.device, seed if self.params.seed is None else self.params.seed)
            x_adv, _ = attack.run_standard_evaluation(x, y, batch_size=self.params.batch_size)
        for record in records:
            self.warn(record.funcName.removeprefix("check_"), record.getMessage())
        return x_adv

    def describe(self, objective: Objective | None = None) -> dict[str, Any]:
        return {**super().describe(objective), "resolved": self.resolved, "checks": list(CHECKS)}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _captured(name: str) -> Iterator[list[logging.LogRecord]]:
    """Inside the block logger ``name`` prints nothing: its warnings are collected (yielded), the rest dropped."""
    logger, handler = logging.getLogger(name), _Collect()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _settings(attack: AutoAttack) -> dict[str, Any]:
    """What the version sets on each sub-attack (restarts, iterations, targets, queries)."""
    apgd, apgd_t, fab, square = attack.apgd, attack.apgd_targeted, attack.fab, attack.square
    return {
        "attacks_to_run": list(attack.attacks_to_run),
        "apgd": {"n_restarts": apgd.n_restarts, "n_iter": apgd.n_iter, "eot_iter": apgd.eot_iter, "rho": apgd.thr_decr},
        "apgd-t": {
            "n_restarts": apgd_t.n_restarts,
            "n_iter": apgd_t.n_iter,
            "n_target_classes": apgd_t.n_target_classes,
            "eot_iter": apgd_t.eot_iter,
        },
        "fab": {"n_restarts": fab.n_restarts, "n_iter": fab.n_iter, "n_target_classes": fab.n_target_classes},
        "square": {"n_queries": square.n_queries, "p_init": square.p_init, "n_restarts": square.n_restarts},
    }
