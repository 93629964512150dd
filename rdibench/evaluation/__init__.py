"""Floor 6: one cell = one model under one attack: TA, ATA, per-exit accuracy, exits and MFlops, sanity checks."""

from __future__ import annotations

from rdibench.evaluation.cell import CellResult, evaluate_cell
from rdibench.evaluation.specs import AttackSpec, ModelSpec, SanitySpec, ThresholdSpec
from rdibench.evaluation.suite import Cell, SuiteConfig, expand, load_suite

__all__ = [
    "AttackSpec",
    "Cell",
    "CellResult",
    "ModelSpec",
    "SanitySpec",
    "SuiteConfig",
    "ThresholdSpec",
    "evaluate_cell",
    "expand",
    "load_suite",
]
