"""What a multi-exit attacker maximises: per-sample losses over the list of exit logits (paper.md §3).

Each objective is a small frozen dataclass; ``__call__(logits, y)`` returns a per-sample loss ``[N]``.
Objectives with randomness are ``bind``-ed to a generator once per batch, so an attack stays a
deterministic function of (inputs, seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from rdibench.core.errors import ConfigError
from rdibench.core.registry import Registry
from rdibench.core.types import ExitLogits
from rdibench.inference import DEFAULT_RULE, exit_rule, route


@dataclass(frozen=True)
class Objective:
    """Base: a differentiable per-sample loss over all exits; larger = better for the attacker."""

    name: ClassVar[str] = "objective"
    needs_labels: ClassVar[bool] = True

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def bind(self, generator: torch.Generator) -> Objective:
        """A concrete objective for one batch (only ``random`` draws anything)."""
        return self

    def describe(self) -> dict[str, object]:
        return {"objective": self.name}


def _ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y, reduction="none")


@dataclass(frozen=True)
class Single(Objective):
    """Cross-entropy at exit ``k`` (negative k counts from the end: -1 is the main branch attack)."""

    name: ClassVar[str] = "single"
    k: int = -1

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return _ce(logits[self.k], y)

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, "exit": self.k}


@dataclass(frozen=True)
class Average(Objective):
    """Mean of the per-exit cross-entropies (the paper's average attack)."""

    name: ClassVar[str] = "average"

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([_ce(z, y) for z in logits]).mean(0)


@dataclass(frozen=True)
class Weighted(Objective):
    """Convex combination of per-exit cross-entropies with fixed ``weights``."""

    name: ClassVar[str] = "weighted"
    weights: tuple[float, ...] = ()

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(self.weights, device=logits[0].device)
        return (torch.stack([_ce(z, y) for z in logits]) * w[:, None]).sum(0)

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, "weights": list(self.weights)}


@dataclass(frozen=True)
class Random(Objective):
    """Random convex exit weights r ~ U(0,1)^E / sum, drawn per batch from the attack's generator (paper.md §3.2a)."""

    name: ClassVar[str] = "random"
    num_exits: int = 0

    def bind(self, generator: torch.Generator) -> Objective:
        if self.num_exits < 1:
            raise ConfigError("objective 'random' needs the model's number of exits")
        r = torch.rand(self.num_exits, generator=generator)
        return Weighted(weights=tuple((r / r.sum()).tolist()))

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("bind() the random objective to a generator first")


@dataclass(frozen=True)
class Routing(Objective):
    """Cross-entropy at the exit the model's exit rule picks for each sample *now* (adaptive, beyond the paper).

    Hard routing has no gradient; the exit choice is re-evaluated at every step and the gradient flows
    through the chosen exit's logits only, so the attacker follows the model's own routing.
    """

    name: ClassVar[str] = "routing"
    thresholds: tuple[float, ...] = ()
    rule: str = DEFAULT_RULE

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            exits = route([z.detach() for z in logits], self.thresholds, self.rule)
        per_exit = torch.stack([_ce(z, y) for z in logits])  # [E, N]
        return per_exit.gather(0, exits[None]).squeeze(0)

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, "rule": self.rule, "thresholds": list(self.thresholds)}


@dataclass(frozen=True)
class Slowdown(Objective):
    """Make every side exit unsure under the model's exit rule (raise the entropy, lower the max-softmax ...), so
    inputs run the whole network (after DeepSloth, ICLR 2021).

    Labels are not used: the attacker targets compute, and the headline number is adversarial MFlops.
    """

    name: ClassVar[str] = "slowdown"
    needs_labels: ClassVar[bool] = False
    rule: str = DEFAULT_RULE

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        side = logits[:-1] or logits
        how = exit_rule(self.rule)
        return torch.stack([how.uncertainty(z) for z in side]).mean(0)

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, "rule": self.rule}


@dataclass(frozen=True)
class MaxAverage(Objective):
    """Marker for the max-average combinator (paper.md §3.1): one single-exit attack per exit, then per
    sample keep the candidate with the largest average loss over all exits. It is not a loss; the
    attack layer runs it with :func:`rdibench.attacks.maxavg.max_average`."""

    name: ClassVar[str] = "max_average"

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return Average()(logits, y)  # the selection criterion


OBJECTIVES: Registry[type[Objective]] = Registry("objective")
for _cls in (Single, Average, Random, Routing, Slowdown, MaxAverage):
    OBJECTIVES.register(_cls.name)(_cls)


def make_objective(
    name: str,
    *,
    num_exits: int,
    exit: int | None = None,
    thresholds: Sequence[float] | None = None,
    rule: str = DEFAULT_RULE,
) -> Objective:
    """Build objective ``name`` for a model with ``num_exits`` exits whose inputs leave by exit ``rule`` (errors
    name what is allowed)."""
    cls = OBJECTIVES.get(name)
    if cls is Single:
        k = -1 if exit is None else exit
        if not -num_exits <= k < num_exits:
            raise ConfigError(
                f"objective single: exit {k} out of range for a {num_exits}-exit model "
                f"(allowed 0..{num_exits - 1} or -1 for the main exit)"
            )
        return Single(k=k % num_exits)
    if exit is not None:
        raise ConfigError(f"objective {name!r} takes no exit (only 'single' does)")
    if cls is Random:
        return Random(num_exits=num_exits)
    if cls is Routing:
        if thresholds is None:
            raise ConfigError("objective 'routing' needs the model's thresholds")
        return Routing(thresholds=tuple(thresholds), rule=rule)
    if cls is Slowdown:
        return Slowdown(rule=rule)
    return cls()
