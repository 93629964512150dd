"""Sanity probes and the security curve: stronger variants of an attack must do better, never worse.

Why: an attack that gradient masking defeats looks exactly like a robust model. Croce and Hein's and
Carlini et al.'s checklists ask that an unbounded attack break everything, that more iterations not help
the defender, and that accuracy fall as eps grows; each is measured here on the first ``probe_n`` images.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch

from rdibench.attacks import OBJECTIVES, is_single_step
from rdibench.evaluation.adversarial import attack_images, retarget
from rdibench.evaluation.outcome import outcome
from rdibench.evaluation.specs import AttackSpec, SanitySpec
from rdibench.models.multiexit import MultiExitNet

STEP_KEYS = ("step_size", "alpha", "eps_step")
"""Absolute step sizes (rdibench, torchattacks, ART): scaled with eps along the curve."""
ITERATION_KEYS = ("steps", "max_iter", "n_iter", "nb_iter")


def tolerance(n: int) -> float:
    """Two binomial standard errors at worst case plus one sample: what noise may move an accuracy by."""
    return 2 * math.sqrt(0.25 / max(n, 1)) + 1 / max(n, 1)


def unbounded_eps(norm: str | None, x: torch.Tensor) -> float | None:
    """A radius whose ball holds the whole [0, 1] box: 1 in L-inf, sqrt(pixels) in L2; None for other norms."""
    if norm == "Linf":
        return 1.0
    if norm == "L2":
        return math.sqrt(x[0].numel())
    return None


def scaled(params: dict[str, Any], eps: float) -> dict[str, Any]:
    """``params`` at radius ``eps``, absolute step sizes scaled by the same factor (a relative step is kept)."""
    factor = eps / float(params["eps"])
    return {**params, "eps": eps, **{k: float(params[k]) * factor for k in STEP_KEYS if params.get(k) is not None}}


def probes(
    model: MultiExitNet,
    model_id: str,
    spec: AttackSpec,
    exit: int | None,
    norm: str | None,
    x: torch.Tensor,
    y: torch.Tensor,
    thresholds: Sequence[float],
    rule: str,
    seed: int,
    batch_size: int,
    sanity: SanitySpec,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The probe checks and, for an attack with an eps, its security curve, on the first ``probe_n`` images.

    Accuracies are on what the attack targets (exit k for ``single``, the routed prediction otherwise); the
    curve also keeps the routed accuracy (ATA). Variants change the radius with the absolute step sizes
    scaled alike, so the total movement the attack can make scales too. Checks: an unbounded radius
    (the whole box) breaks ~everything, unless the attack takes one step
    (``unbounded_breaks_all``), twice the iterations do not raise accuracy beyond noise
    (``more_steps_not_better``), and along the curve accuracy never rises beyond noise (``curve_not_rising``).
    Max-average is probed as the average attack (its candidates are single-exit attacks).
    """
    n = min(sanity.probe_n, len(x))
    xs, ys = x[:n], y[:n]
    base = retarget(spec, "average", None) if OBJECTIVES.get(spec.objective).from_single_attacks else spec
    base = base.model_copy(update={"probe": False})
    params = dict(spec.params)
    tol = tolerance(n)

    def accuracies(variant: dict[str, Any]) -> tuple[float, float]:
        """(attacked accuracy, routed accuracy) under ``base`` with ``variant`` settings."""
        attack = base.model_copy(update={"params": variant})
        adv = attack_images(
            model, model_id, attack, exit, xs, ys, thresholds, seed=seed, batch_size=batch_size, rule=rule
        )
        result = outcome(model, adv.images, ys, thresholds, rule, batch_size)
        return result.attacked_accuracy(exit), result.attacked_accuracy(None)

    base_acc, base_ata = accuracies(params)
    checks: dict[str, Any] = {"probe_n": n, "probe_base_acc": base_acc}
    far = unbounded_eps(norm, xs) if "eps" in params else None
    iterations = next((k for k in ITERATION_KEYS if params.get(k)), None)
    if far is not None and not is_single_step(spec.algorithm):
        checks["probe_unbounded_acc"], _ = accuracies(scaled(params, far))
        checks["unbounded_breaks_all"] = checks["probe_unbounded_acc"] <= sanity.unbounded_max_acc
    if iterations:
        checks["probe_more_steps_acc"], _ = accuracies({**params, iterations: 2 * int(params[iterations])})
        checks["more_steps_not_better"] = checks["probe_more_steps_acc"] <= base_acc + tol
    if far is None:
        return checks, None
    clean = outcome(model, xs, ys, thresholds, rule, batch_size)
    points = {0.0: (clean.attacked_accuracy(exit), clean.attacked_accuracy(None))}
    points[float(params["eps"])] = (base_acc, base_ata)
    for multiple in sanity.curve:
        eps = min(float(params["eps"]) * multiple, far)
        if eps not in points:
            points[eps] = accuracies(scaled(params, eps))
    eps_sorted = sorted(points)
    attacked = [points[e][0] for e in eps_sorted]
    checks["curve_not_rising"] = all(b <= a + tol for a, b in itertools.pairwise(attacked))
    curve = {"n": n, "norm": norm, "eps": eps_sorted, "acc": attacked, "ata": [points[e][1] for e in eps_sorted]}
    return checks, curve
