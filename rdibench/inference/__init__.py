"""Floor 3 (beside flops): adaptive inference. Exit rules decide who leaves where; routing, threshold fitting and
the executors apply them."""

from __future__ import annotations

from rdibench.inference.routing import (
    EXECUTORS,
    Routed,
    adjust,
    early_exit,
    fit_thresholds,
    route,
    routed_logits,
    simulate,
)
from rdibench.inference.rules import (
    DEFAULT_RULE,
    ENTROPY_EPS,
    EXIT_RULES,
    ExitRule,
    ExitRuleName,
    entropy,
    exit_rule,
    register_exit_rule,
)

__all__ = [
    "DEFAULT_RULE",
    "ENTROPY_EPS",
    "EXECUTORS",
    "EXIT_RULES",
    "ExitRule",
    "ExitRuleName",
    "Routed",
    "adjust",
    "early_exit",
    "entropy",
    "exit_rule",
    "fit_thresholds",
    "register_exit_rule",
    "route",
    "routed_logits",
    "simulate",
]
