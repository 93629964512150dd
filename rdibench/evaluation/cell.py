"""evaluate_cell: one attack on one model, every number of the cell from one pass over the data.

Per batch there is one clean forward and one adversarial forward; each gives every exit at once, so
TA/ATA per exit, the routed (adaptive) prediction, exit fractions and MFlops all come from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rdibench.attacks import OBJECTIVES
from rdibench.attacks.factory import make_attack
from rdibench.evaluation.adversarial import AdvCache, Progress, attack_images
from rdibench.evaluation.outcome import Outcome, mean, outcome
from rdibench.evaluation.probes import probes, tolerance
from rdibench.evaluation.specs import CLEAN, AttackSpec, SanitySpec
from rdibench.flops import ExitCosts, expected_mflops
from rdibench.inference import DEFAULT_RULE
from rdibench.models.multiexit import MultiExitNet

__all__ = ["AdvCache", "CellResult", "evaluate_cell", "failed_checks", "jsonable", "sanity_checks"]


@dataclass
class CellResult:
    """Numbers (JSON-able ``record``) plus per-sample arrays for paired comparisons and worst-case ATA."""

    record: dict[str, Any]
    clean_correct: torch.Tensor
    adv_correct: torch.Tensor
    exit_clean: torch.Tensor
    exit_adv: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


def _fractions(exits: torch.Tensor, num_exits: int) -> list[float]:
    return (torch.bincount(exits, minlength=num_exits).double() / len(exits)).tolist()


def jsonable(value: Any) -> Any:
    """Settings as JSON can store them: a library's ``np.inf`` norm becomes ``"inf"``, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _norms(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, float]:
    d = (x_adv - x).flatten(1)
    return {
        "linf_max": float(d.abs().max()) if len(d) else 0.0,
        "linf_mean": float(d.abs().amax(1).mean()) if len(d) else 0.0,
        "l2_mean": float(d.norm(dim=1).mean()) if len(d) else 0.0,
    }


def evaluate_cell(
    model: MultiExitNet,
    model_id: str,
    spec: AttackSpec,
    exit: int | None,
    x: torch.Tensor,
    y: torch.Tensor,
    thresholds: Sequence[float],
    costs: ExitCosts,
    *,
    seed: int,
    batch_size: int = 256,
    rule: str = DEFAULT_RULE,
    sanity: SanitySpec | None = None,
    cache: AdvCache | None = None,
    progress: Progress | None = None,
) -> CellResult:
    """TA, ATA (routed and per exit), exit fractions and MFlops clean and adversarial, norms, sanity checks;
    the attack's own reliability warnings; with ``spec.probe``, the probes and the security curve. Inputs
    leave where exit ``rule`` with ``thresholds`` sends them (entropy, the paper's, unless told)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    model.eval()
    n_exits = model.num_exits
    clean = outcome(model, x, y, thresholds, rule, batch_size)
    norm: str | None = None
    warnings: dict[str, Any] = {}
    reused_cpu_s = 0.0
    curve: dict[str, Any] | None = None
    if spec.algorithm == CLEAN:
        x_adv, adv, params = x, clean, {}
    else:
        made = attack_images(
            model,
            model_id,
            spec,
            exit,
            x,
            y,
            thresholds,
            seed=seed,
            batch_size=batch_size,
            rule=rule,
            cache=cache,
            progress=progress,
        )
        x_adv, warnings, reused_cpu_s = made.images, dict(made.warnings), made.reused_cpu_s
        adv = outcome(model, x_adv, y, thresholds, rule, batch_size)
        params = jsonable(make_attack(spec.algorithm, spec.params).describe())
        norm = params.get("norm")
    frac_clean, frac_adv = _fractions(clean.exits, n_exits), _fractions(adv.exits, n_exits)
    metrics: dict[str, Any] = {
        "ta": mean(clean.correct),
        "ata": mean(adv.correct),
        "ta_per_exit": [mean(c) for c in clean.correct_per_exit],
        "ata_per_exit": [mean(c) for c in adv.correct_per_exit],
        "exit_fractions_clean": frac_clean,
        "exit_fractions_adv": frac_adv,
        "mflops_paper_clean": expected_mflops(frac_clean, costs.paper),
        "mflops_paper_adv": expected_mflops(frac_adv, costs.paper),
        "mflops_full_clean": expected_mflops(frac_clean, costs.full),
        "mflops_full_adv": expected_mflops(frac_adv, costs.full),
        **_norms(x, x_adv),
    }
    checks = sanity_checks(spec, exit, norm, x, x_adv, clean, adv)
    if spec.probe and spec.algorithm != CLEAN:
        found, curve = probes(
            model, model_id, spec, exit, norm, x, y, thresholds, rule, seed, batch_size, sanity or SanitySpec()
        )
        checks.update(found)
    record = {
        "attack_params": params,
        "objective": None if spec.algorithm == CLEAN else spec.objective,
        "objective_params": spec.objective_params,
        "exit": exit,
        "n": len(y),
        "seed": seed,
        "metrics": metrics,
        "sanity": checks,
        "attack_warnings": warnings,
        **({"security_curve": curve} if curve else {}),
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,  # what the cell cost, however busy the machine was
        "reused_cpu_s": reused_cpu_s,  # what the images it took from other cells cost them
    }
    return CellResult(record, clean.correct, adv.correct, clean.exits, adv.exits)


def sanity_checks(
    spec: AttackSpec,
    exit: int | None,
    norm: str | None,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    clean: Outcome,
    adv: Outcome,
) -> dict[str, Any]:
    """Checks every cell must pass: box, eps-ball (L-inf or L2), and accuracy not raised on the attacked objective.

    The attacked accuracy is the exit's own for ``single``, the routed one otherwise; an attack may
    flip a few wrong samples right, so the tolerance is two binomial standard errors at worst case.
    """
    eps = spec.params.get("eps")
    checks: dict[str, Any] = {"in_box": bool(x_adv.min() >= 0 and x_adv.max() <= 1)}
    delta = (x_adv - x).flatten(1)
    if eps is not None and norm == "Linf":
        checks["in_eps_ball"] = bool(delta.abs().max() <= float(eps) + 1e-6)
    if eps is not None and norm == "L2" and len(delta):
        checks["in_eps_ball"] = bool(delta.norm(dim=1).max() <= float(eps) * (1 + 1e-5) + 1e-6)
    if spec.algorithm != CLEAN and OBJECTIVES.get(spec.objective).needs_labels:
        before = clean.attacked_accuracy(exit)
        checks["ata_le_ta"] = adv.attacked_accuracy(exit) <= before + tolerance(len(x))
    return checks


def failed_checks(checks: dict[str, Any]) -> list[str]:
    """Names of boolean checks that are False."""
    return [k for k, v in checks.items() if isinstance(v, bool) and not v]
