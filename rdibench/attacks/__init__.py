"""Floor 4: attacks on multi-exit models = objectives x algorithms (+ max-average, + library adapters)."""

from __future__ import annotations

from rdibench.attacks.algorithms import ALGORITHMS, FGSM, PGD, WRM
from rdibench.attacks.base import Attack, AttackParams, attack_mode, project_linf
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
    make_objective,
)

__all__ = [
    "ALGORITHMS",
    "FGSM",
    "OBJECTIVES",
    "PGD",
    "WRM",
    "Attack",
    "AttackParams",
    "Average",
    "MaxAverage",
    "Objective",
    "Random",
    "Routing",
    "Single",
    "Slowdown",
    "attack_mode",
    "make_objective",
    "max_average",
    "project_linf",
    "select_max_average",
    "single_candidates",
]
