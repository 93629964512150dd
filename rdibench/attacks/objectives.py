"""What a multi-exit attacker maximises: per-sample losses over the list of exit logits (docs/protocol.md §3).

Each objective is a small frozen dataclass; ``__call__(logits, y)`` returns a per-sample loss ``[N]``
built from a per-exit loss (``loss``: cross-entropy, or Croce and Hein's DLR), and ``fooled(logits, y)``
says per sample whether the attacker has already won (what APGD's restarts and keep-the-fooling-point
rule need). Objectives with randomness are ``bind``-ed to a generator once per batch, so an attack stays
a deterministic function of (inputs, seed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from rdibench.core.errors import ConfigError
from rdibench.core.registry import Registry
from rdibench.core.types import ExitLogits
from rdibench.inference import DEFAULT_RULE, exit_rule, route, routed_logits

ExitLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy, computed in float32 whatever the forward's precision."""
    return F.cross_entropy(logits.float(), y, reduction="none")


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio (Croce and Hein, ICML 2020): -(z_y - max_{i != y} z_i) / (z_(1) - z_(3)).

    Why: it is invariant to shifting and scaling the logits, so a model whose softmax saturates (zero
    cross-entropy gradient) still gives the attacker a direction. Needs at least three classes.
    """
    z = logits.float()
    if z.shape[1] < 3:
        raise ConfigError(f"the DLR loss needs at least 3 classes, the model has {z.shape[1]}")
    top = z.topk(3, dim=1).values
    true = z.gather(1, y[:, None]).squeeze(1)
    other = z.scatter(1, y[:, None], float("-inf")).amax(1)
    return -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)


EXIT_LOSSES: Registry[ExitLoss] = Registry("per-exit loss")
EXIT_LOSSES.register("ce")(cross_entropy)
EXIT_LOSSES.register("dlr")(dlr)


def wrong(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits.argmax(1) != y


def every_exit_wrong(logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
    """Won whatever exit the routing picks: the criterion of the objectives that attack all exits at once."""
    return torch.stack([wrong(z, y) for z in logits]).all(0)


def routed_wrong(logits: ExitLogits, y: torch.Tensor, thresholds: Sequence[float], rule: str) -> torch.Tensor:
    """The adaptive (routed) prediction is wrong: the criterion of the routing objectives."""
    return wrong(routed_logits(logits, route(logits, thresholds, rule)), y)


@dataclass(frozen=True)
class Objective:
    """Base: a differentiable per-sample loss over all exits; larger = better for the attacker.

    ``loss`` names the per-exit loss every label objective is built from (``ce`` or ``dlr``); ``settings``
    lists what a suite may set (``objective_params``); the other fields come from the model
    (:func:`make_objective` fills ``k``, ``num_exits``, ``thresholds`` and ``rule`` where a class has them).

    The class variables below declare how an objective expands into cells, reuses images and is viewed, so
    the suite expansion, the cell, the executors and the library adapters read them instead of its name.
    """

    name: ClassVar[str] = "objective"
    needs_labels: ClassVar[bool] = True
    """False for an attack on compute: it has no accuracy to lower (no ATA check, no probes)."""
    settings: ClassVar[tuple[str, ...]] = ("loss",)
    needs_side_exits: ClassVar[bool] = False
    """Nothing to attack on a one-exit model, whose cost cannot change: such cells are left out of its row."""
    one_exit_single: ClassVar[bool] = False
    """On a one-exit model it is exactly the single-exit loss, so it runs (and is seeded) as that attack."""
    from_single_attacks: ClassVar[bool] = False
    """Built from one single-exit attack per exit, so it reuses those attacks' images (max-average)."""
    view: ClassVar[str | None] = None
    """The single-logit view library attacks see it through (``exit``, ``routed``, ``surrogate``); None: none."""
    no_view: ClassVar[str] = (
        "library attacks take single, average, random or routing "
        "(run max_average through rdibench.attacks.maxavg with the library attack)"
    )
    loss: str = "ce"

    def __post_init__(self) -> None:
        EXIT_LOSSES.get(self.loss)  # an unknown name fails here, listing the allowed ones

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def exit_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return EXIT_LOSSES.get(self.loss)(logits, y)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor | None:
        """Per sample, has the attacker won (bool ``[N]``)? ``None``: no such criterion, keep the largest loss."""
        return None

    def bind(self, generator: torch.Generator) -> Objective:
        """A concrete objective for one batch (only ``random`` draws anything)."""
        return self

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, **({"loss": self.loss} if self.loss != "ce" else {})}

    @classmethod
    def takes_exit(cls) -> bool:
        """A suite's ``exit`` key aims it at one exit (single)."""
        return "k" in {f.name for f in fields(cls)}

    @classmethod
    def reads_routing(cls) -> bool:
        """Its images depend on the model's exit rule (and thresholds): caches and reuse key on them."""
        return "rule" in {f.name for f in fields(cls)}

    def view_settings(self) -> dict[str, object]:
        """The fields of its :attr:`view` (an exit, thresholds and rule, or weights)."""
        return {}


@dataclass(frozen=True)
class Single(Objective):
    """The per-exit loss at exit ``k`` (negative k counts from the end: -1 is the main branch attack)."""

    name: ClassVar[str] = "single"
    view: ClassVar[str | None] = "exit"
    k: int = -1

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return self.exit_loss(logits[self.k], y)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return wrong(logits[self.k], y)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "exit": self.k}

    def view_settings(self) -> dict[str, object]:
        return {"exit": self.k}


@dataclass(frozen=True)
class Average(Objective):
    """Mean of the per-exit losses (the paper's average attack); won once every exit is wrong."""

    name: ClassVar[str] = "average"
    one_exit_single: ClassVar[bool] = True
    view: ClassVar[str | None] = "surrogate"

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.exit_loss(z, y) for z in logits]).mean(0)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return every_exit_wrong(logits, y)


@dataclass(frozen=True)
class Weighted(Objective):
    """Convex combination of per-exit losses with fixed ``weights``."""

    name: ClassVar[str] = "weighted"
    one_exit_single: ClassVar[bool] = True
    view: ClassVar[str | None] = "surrogate"
    weights: tuple[float, ...] = ()

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(self.weights, device=logits[0].device)
        return (torch.stack([self.exit_loss(z, y) for z in logits]) * w[:, None]).sum(0)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return every_exit_wrong(logits, y)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "weights": list(self.weights)}

    def view_settings(self) -> dict[str, object]:
        return {"weights": self.weights}


@dataclass(frozen=True)
class Random(Objective):
    """Random convex exit weights r ~ U(0,1)^E / sum, drawn per batch from the attack's generator
    (docs/protocol.md §3.2a)."""

    name: ClassVar[str] = "random"
    one_exit_single: ClassVar[bool] = True
    no_view: ClassVar[str] = "its weights are fixed only once bound: call objective.bind(generator) first"
    num_exits: int = 0

    def bind(self, generator: torch.Generator) -> Objective:
        if self.num_exits < 1:
            raise ConfigError("objective 'random' needs the model's number of exits")
        r = torch.rand(self.num_exits, generator=generator)
        return Weighted(loss=self.loss, weights=tuple((r / r.sum()).tolist()))

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("bind() the random objective to a generator first")


@dataclass(frozen=True)
class Routing(Objective):
    """The per-exit loss at the exit the model's exit rule picks for each sample *now* (adaptive, beyond the paper).

    Hard routing has no gradient; the exit choice is re-evaluated at every step and the gradient flows
    through the chosen exit's logits only, so the attacker follows the model's own routing.
    """

    name: ClassVar[str] = "routing"
    one_exit_single: ClassVar[bool] = True
    view: ClassVar[str | None] = "routed"
    thresholds: tuple[float, ...] = ()
    rule: str = DEFAULT_RULE

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            exits = route([z.detach() for z in logits], self.thresholds, self.rule)
        per_exit = torch.stack([self.exit_loss(z, y) for z in logits])  # [E, N]
        return per_exit.gather(0, exits[None]).squeeze(0)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return routed_wrong(logits, y, self.thresholds, self.rule)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rule": self.rule, "thresholds": list(self.thresholds)}

    def view_settings(self) -> dict[str, object]:
        return {"thresholds": self.thresholds, "rule": self.rule}


@dataclass(frozen=True)
class SoftRouting(Objective):
    """The expected per-exit loss under a differentiable relaxation of the exit rule (sees through the exit choice).

    The hard rule leaves at the first side exit k whose score is on the confident side of t_k (entropy: H_k <
    t_k). Here each side exit is left with probability q_k = sigmoid((t_k - H_k) / tau) (the sign turns for a
    rule where higher is confident, e.g. max-softmax), chained: P(exit k) = q_k prod_{j<k} (1 - q_j), the last
    exit takes the rest, and the loss is sum_k P(exit k) loss_k. Why: ``routing`` follows the current exit
    only, so it never learns that a sample could be sent to an exit where it is wrong; here the gradient
    also moves the entropies, i.e. the routing itself (tau -> 0 is the hard rule). Won when the hard-routed
    prediction is wrong, as for ``routing``.
    """

    name: ClassVar[str] = "soft_routing"
    settings: ClassVar[tuple[str, ...]] = ("loss", "tau")
    one_exit_single: ClassVar[bool] = True
    no_view: ClassVar[str] = (
        "its gradient runs through the exit choice; use a built-in attack (pgd, apgd), or objective routing "
        "for the routed view"
    )
    thresholds: tuple[float, ...] = ()
    tau: float = 0.1
    rule: str = DEFAULT_RULE

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tau > 0:
            raise ConfigError(f"objective soft_routing: tau={self.tau!r} is not allowed; tau must be > 0")

    def exit_probabilities(self, logits: ExitLogits) -> torch.Tensor:
        """P(exit k) per sample, ``[E, N]``; each column sums to 1."""
        how = exit_rule(self.rule)
        sign = 1.0 if how.higher_is_confident else -1.0
        stay = torch.ones_like(logits[0][:, 0], dtype=torch.float32)
        probs = []
        for z, t in zip(logits[:-1], self.thresholds, strict=True):
            leave = torch.sigmoid(sign * (how.score(z) - t) / self.tau)
            probs.append(stay * leave)
            stay = stay * (1 - leave)
        return torch.stack([*probs, stay])

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        per_exit = torch.stack([self.exit_loss(z, y) for z in logits])  # [E, N]
        return (self.exit_probabilities(logits) * per_exit).sum(0)

    def fooled(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return routed_wrong(logits, y, self.thresholds, self.rule)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rule": self.rule, "thresholds": list(self.thresholds), "tau": self.tau}


@dataclass(frozen=True)
class Slowdown(Objective):
    """Make every side exit unsure under the model's exit rule (raise the entropy, lower the max-softmax ...), so
    inputs run the whole network (after DeepSloth, ICLR 2021).

    Labels are not used: the attacker targets compute, and the headline number is adversarial MFlops.
    """

    name: ClassVar[str] = "slowdown"
    needs_labels: ClassVar[bool] = False
    settings: ClassVar[tuple[str, ...]] = ()
    needs_side_exits: ClassVar[bool] = True
    no_view: ClassVar[str] = (
        "it uses no labels, but library attacks maximise a label loss (cross-entropy); use a label objective "
        "(single, average, random, routing) or a built-in attack"
    )
    rule: str = DEFAULT_RULE

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        side = logits[:-1] or logits
        how = exit_rule(self.rule)
        return torch.stack([how.uncertainty(z) for z in side]).mean(0)

    def describe(self) -> dict[str, object]:
        return {"objective": self.name, "rule": self.rule}


@dataclass(frozen=True)
class MaxAverage(Objective):
    """Marker for the max-average combinator (docs/protocol.md §3.1): one single-exit attack per exit, then per
    sample keep the candidate with the largest average cross-entropy over all exits (the paper's rule,
    whatever per-exit ``loss`` the candidates maximised). It is not a loss; the attack layer runs it with
    :func:`rdibench.attacks.maxavg.max_average`."""

    name: ClassVar[str] = "max_average"
    one_exit_single: ClassVar[bool] = True
    from_single_attacks: ClassVar[bool] = True

    def __call__(self, logits: ExitLogits, y: torch.Tensor) -> torch.Tensor:
        return Average()(logits, y)  # the selection criterion


OBJECTIVES: Registry[type[Objective]] = Registry("objective")
for _cls in (Single, Average, Random, Routing, SoftRouting, Slowdown, MaxAverage):
    OBJECTIVES.register(_cls.name)(_cls)


def _aimed() -> list[str]:
    return [name for name in OBJECTIVES if OBJECTIVES.get(name).takes_exit()]


def objective_settings(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The suite-given settings of objective ``name`` (``objective_params``), checked: names and values."""
    cls = OBJECTIVES.get(name)
    unknown = sorted(set(settings) - set(cls.settings))
    if unknown:
        allowed = ", ".join(cls.settings) or "none"
        raise ConfigError(f"objective {name!r}: unknown setting {', '.join(map(repr, unknown))}; allowed: {allowed}")
    if "loss" in settings and settings["loss"] not in EXIT_LOSSES:
        raise ConfigError(f"objective {name!r}: {EXIT_LOSSES.unknown_message(str(settings['loss']))}")
    if "tau" in settings and not (isinstance(settings["tau"], (int, float)) and settings["tau"] > 0):
        raise ConfigError(f"objective {name!r}: tau={settings['tau']!r} is not allowed; tau must be a number > 0")
    return dict(settings)


def make_objective(
    name: str,
    *,
    num_exits: int,
    exit: int | None = None,
    thresholds: Sequence[float] | None = None,
    rule: str = DEFAULT_RULE,
    **settings: Any,
) -> Objective:
    """Build objective ``name`` for a model with ``num_exits`` exits whose inputs leave by exit ``rule``;
    ``settings`` are the objective's own (``loss``, ``tau``: see each class's ``settings``). Errors name what
    is allowed."""
    cls = OBJECTIVES.get(name)
    given = objective_settings(name, settings)
    own = {f.name for f in fields(cls)}
    if cls.takes_exit():
        k = -1 if exit is None else exit
        if not -num_exits <= k < num_exits:
            raise ConfigError(
                f"objective {name}: exit {k} out of range for a {num_exits}-exit model "
                f"(allowed 0..{num_exits - 1} or -1 for the main exit)"
            )
        given["k"] = k % num_exits
    elif exit is not None:
        raise ConfigError(f"objective {name!r} takes no exit (only {', '.join(_aimed())} do)")
    if "thresholds" in own:
        if thresholds is None:
            raise ConfigError(f"objective {name!r} needs the model's thresholds")
        given["thresholds"] = tuple(thresholds)
    if "rule" in own:
        given["rule"] = rule
    if "num_exits" in own:
        given["num_exits"] = num_exits
    return cls(**given)
