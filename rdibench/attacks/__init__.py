"""Floor 4: attacks on multi-exit models = objectives x algorithms (+ max-average, + library adapters)."""

from __future__ import annotations

from rdibench.attacks.adapters import ArtAttack, AutoAttackAdapter, ExitView, TorchattacksAttack, view_for
from rdibench.attacks.algorithms import ALGORITHMS, APGD, FGSM, PGD, WRM
from rdibench.attacks.base import Attack, AttackParams, attack_mode, project_linf
from rdibench.attacks.factory import is_single_step, list_attacks, make_attack
from rdibench.attacks.maxavg import max_average, select_max_average, single_candidates
from rdibench.attacks.objectives import (
    OBJECTIVES,
    Average,
    MaxAverage,
    Objective,
    Random,
    Routing,
    Single,
    Slowdown,
    SoftRouting,
    make_objective,
    objective_settings,
)

__all__ = [
    "ALGORITHMS",
    "APGD",
    "FGSM",
    "OBJECTIVES",
    "PGD",
    "WRM",
    "ArtAttack",
    "Attack",
    "AttackParams",
    "AutoAttackAdapter",
    "Average",
    "ExitView",
    "MaxAverage",
    "Objective",
    "Random",
    "Routing",
    "Single",
    "Slowdown",
    "SoftRouting",
    "TorchattacksAttack",
    "attack_mode",
    "is_single_step",
    "list_attacks",
    "make_attack",
    "make_objective",
    "max_average",
    "objective_settings",
    "project_linf",
    "select_max_average",
    "single_candidates",
    "view_for",
]
