"""Single-logit views of a multi-exit model, so library attacks (one logits tensor, cross-entropy) run unchanged.

A library attack maximises CE(view(x), y). Each rdibench objective maps to the view whose CE is that
objective, or the closest differentiable stand-in:

- ``single(k)`` -> ``exit`` k: CE at exit k, exactly the objective; gradients flow through exit k only.
- ``routing`` -> ``routed``: the logits of the exit the model's exit rule picks for each sample, exactly the
  ``routing`` objective. The choice itself is hard (no gradient); it is re-made at every forward, and
  gradients flow through the chosen exit's logits only.
- ``average`` / ``random`` (bound to fixed weights) -> ``surrogate``: s = sum_i w_i log_softmax(z_i).
  Its CE is sum_i w_i CE_i + log Z with Z = sum_c prod_i p_i(c)^{w_i} <= 1 (weighted AM-GM), i.e. the
  objective minus a non-negative gap that vanishes when the exits agree. Its argmax is the
  product-of-experts prediction, so a library attack on it pushes every exit's true-class probability
  down at once, as the average attack does; gradients flow through every exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rdibench.attacks.objectives import Objective
from rdibench.core.errors import ConfigError
from rdibench.inference import DEFAULT_RULE, route, routed_logits
from rdibench.models.multiexit import MultiExitNet

ViewKind = Literal["exit", "routed", "surrogate"]


@dataclass(frozen=True)
class View:
    """Which single-logit view to present: ``exit`` k, ``routed`` (exit rule and thresholds) or ``surrogate``
    (weights).

    ``weights=None`` means uniform over the model's exits (the average objective).
    """

    kind: ViewKind
    exit: int = -1
    thresholds: tuple[float, ...] = ()
    rule: str = DEFAULT_RULE
    weights: tuple[float, ...] | None = None

    def describe(self) -> dict[str, object]:
        if self.kind == "exit":
            return {"view": "exit", "exit": self.exit, "gradient": f"exit {self.exit}"}
        if self.kind == "routed":
            return {
                "view": "routed",
                "rule": self.rule,
                "thresholds": list(self.thresholds),
                "gradient": "the routed exit's logits",
            }
        weights: object = "uniform" if self.weights is None else list(self.weights)
        return {"view": "surrogate", "weights": weights, "gradient": "every exit (sum of w_i log_softmax z_i)"}


def view_of(objective: Objective) -> View:
    """The view for ``objective`` (see the module docstring); an objective without labels has none."""
    if objective.needs_labels and objective.loss != "ce":
        raise ConfigError(
            f"objective setting loss={objective.loss!r}: library attacks maximise their own loss on a view; "
            "a per-exit loss other than ce goes with a built-in attack (pgd, apgd, fgsm, wrm)"
        )
    if objective.view is None:
        raise ConfigError(f"objective {objective.name!r} has no single-logit view: {objective.no_view}")
    return View(objective.view, **objective.view_settings())  # type: ignore[arg-type]


class ExitView(nn.Module):
    """A multi-exit model presented as one ``[N, C]`` float32 logits tensor (see the module docstring).

    The view owns no parameters of its own and starts in the model's mode, so a library that saves and
    restores ``view.training`` leaves the model's mode as the attack base set it.
    """

    def __init__(self, model: MultiExitNet, view: View) -> None:
        super().__init__()
        n = model.num_exits
        if view.kind == "exit" and not -n <= view.exit < n:
            raise ConfigError(f"view exit {view.exit} out of range for a {n}-exit model (allowed 0..{n - 1} or -1)")
        if view.kind == "routed" and len(view.thresholds) != n - 1:
            raise ConfigError(f"routed view: a {n}-exit model needs {n - 1} thresholds, got {len(view.thresholds)}")
        if view.kind == "surrogate" and view.weights is not None and len(view.weights) != n:
            raise ConfigError(f"surrogate view: a {n}-exit model needs {n} weights, got {len(view.weights)}")
        self.model = model
        self.view = view
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.view.kind == "exit":
            return logits[self.view.exit].float()
        if self.view.kind == "routed":
            exits = route([z.detach() for z in logits], self.view.thresholds, self.view.rule)
            return routed_logits(logits, exits).float()
        log_p = torch.stack([F.log_softmax(z.float(), dim=1) for z in logits])  # [E, N, C]
        if self.view.weights is None:
            return log_p.mean(0)
        w = torch.tensor(self.view.weights, device=log_p.device, dtype=log_p.dtype)
        return (w[:, None, None] * log_p).sum(0)


def view_for(model: MultiExitNet, objective: Objective) -> ExitView:
    """``model`` seen through the view of ``objective``: single(k) -> exit k, routing -> routed, average/weighted
    -> surrogate; an objective without labels (slowdown) raises :class:`ConfigError`."""
    return ExitView(model, view_of(objective))
