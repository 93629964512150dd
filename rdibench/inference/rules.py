"""Exit rules: how confident an exit is about a sample, and on which side of its threshold the sample leaves.

Why a registry: the paper routes by softmax entropy, SDN and most early-exit work by max-softmax confidence,
and a user may have a rule of their own; routing, threshold fitting, the routing and slowdown attacks and the
records all go through one interface, so a new rule is one small class with ``@register_exit_rule``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
from pydantic import AfterValidator

from rdibench.core.registry import Registry

ENTROPY_EPS = 1e-5  # as the authors: H = -sum p ln(p + 1e-5)
DEFAULT_RULE = "entropy"


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Softmax entropy per sample (natural log), [N, C] -> [N]."""
    p = torch.softmax(logits.float(), dim=1)
    return -(p * torch.log(p + ENTROPY_EPS)).sum(dim=1)


class ExitRule:
    """A per-sample confidence score of one exit's logits and the direction in which it means "confident".

    A sample leaves at a side exit when its score is strictly on the confident side of that exit's threshold:
    below it when ``higher_is_confident`` is False (entropy), above it when True (max-softmax). ``score`` must be
    differentiable: attacks on routing and compute follow its gradient.
    """

    name: ClassVar[str]
    higher_is_confident: ClassVar[bool]

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """[N, C] logits -> [N] scores, in the units the thresholds are written in."""
        raise NotImplementedError

    def uncertainty(self, logits: torch.Tensor) -> torch.Tensor:
        """The score turned so that larger means less confident, whatever the rule's direction."""
        s = self.score(logits)
        return -s if self.higher_is_confident else s

    def leaves(self, logits: torch.Tensor, threshold: float) -> torch.Tensor:
        """[N] bool: the samples confident enough to leave at an exit with ``threshold`` (strict)."""
        s = self.score(logits)
        return s > threshold if self.higher_is_confident else s < threshold

    def everyone_leaves(self) -> float:
        """The threshold that lets every sample leave (an exit given all remaining samples)."""
        return float("-inf") if self.higher_is_confident else float("inf")


EXIT_RULES: Registry[type[ExitRule]] = Registry("exit rule")


def register_exit_rule(cls: type[ExitRule]) -> type[ExitRule]:
    """Register an :class:`ExitRule` subclass under its ``name`` (suites, recipes and cards name it)."""
    return EXIT_RULES.register(cls.name)(cls)


def exit_rule(name: str) -> ExitRule:
    """The rule registered as ``name``; an unknown name raises UnknownNameError listing the known ones."""
    return EXIT_RULES.get(name)()


def _registered(name: str) -> str:
    if name not in EXIT_RULES:
        raise ValueError(EXIT_RULES.unknown_message(name))
    return name


ExitRuleName = Annotated[str, AfterValidator(_registered)]
"""An exit rule's name checked against the registry (suites and recipes use it)."""


@register_exit_rule
class Entropy(ExitRule):
    """Softmax entropy (the paper's rule, docs/protocol.md §4): leave when it is below the threshold."""

    name = "entropy"
    higher_is_confident = False

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return entropy(logits)


@register_exit_rule
class MaxSoftmax(ExitRule):
    """Max-softmax confidence (SDN, BranchyNet-style confidence exits): leave when it is above the threshold."""

    name = "max_softmax"
    higher_is_confident = True

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=1).amax(dim=1)
