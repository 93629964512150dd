"""evaluate_cell: one attack on one model, every number of the cell from one pass over the data.

Per batch there is one clean forward and one adversarial forward; each gives every exit at once, so
TA/ATA per exit, the routed (adaptive) prediction, exit fractions and MFlops all come from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rdibench.attacks import make_objective, select_max_average
from rdibench.attacks.factory import make_attack
from rdibench.core.seeding import derive_seed, make_generator
from rdibench.evaluation.specs import CLEAN, AttackSpec, SanitySpec
from rdibench.flops import ExitCosts, expected_mflops
from rdibench.inference import DEFAULT_RULE, route, routed_logits
from rdibench.models.multiexit import MultiExitNet

Progress = Callable[[int, int], None]
AdvCache = dict[tuple[str, ...], torch.Tensor]
"""Adversarial images by (model sha256, attack signature[, exit rule and thresholds]): max-average reuses the
single-exit ones, and a model listed under two threshold protocols reuses every attack that does not read them."""

READS_ROUTING = frozenset({"routing", "slowdown"})
"""Objectives whose images depend on the exit rule (and, for routing, the thresholds)."""


ONE_EXIT_SINGLE = frozenset({"average", "random", "routing"})
"""Objectives that are exactly the single-exit loss on a one-exit model (a static backbone)."""


def _adv_key(
    model_id: str, spec: AttackSpec, exit: int | None, thresholds: Sequence[float], rule: str
) -> tuple[str, ...]:
    key = (model_id, spec.signature(exit))
    return (*key, rule, repr(list(thresholds))) if spec.objective in READS_ROUTING else key


@dataclass
class CellResult:
    """Numbers (JSON-able ``record``) plus per-sample arrays for paired comparisons and worst-case ATA."""

    record: dict[str, Any]
    clean_correct: torch.Tensor
    adv_correct: torch.Tensor
    exit_clean: torch.Tensor
    exit_adv: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    correct: torch.Tensor  # routed prediction correct, [N] bool
    exits: torch.Tensor  # [N] long
    correct_per_exit: torch.Tensor  # [E, N] bool


@torch.no_grad()
def _outcome(
    model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, thresholds: Sequence[float], rule: str, bs: int
) -> Outcome:
    correct, exits, per_exit = [], [], []
    for i in range(0, len(x), bs):
        logits = model(x[i : i + bs])
        yb = y[i : i + bs]
        e = route(logits, thresholds, rule)
        exits.append(e)
        correct.append(routed_logits(logits, e).argmax(1) == yb)
        per_exit.append(torch.stack([z.argmax(1) == yb for z in logits]))
    # on the CPU whatever the model's device: flags are packed with numpy and compared across devices
    return Outcome(torch.cat(correct).cpu(), torch.cat(exits).cpu(), torch.cat(per_exit, dim=1).cpu())


def _fractions(exits: torch.Tensor, num_exits: int) -> list[float]:
    return (torch.bincount(exits, minlength=num_exits).double() / len(exits)).tolist()


def _mean(flags: torch.Tensor) -> float:
    return float(flags.double().mean())


def attack_images(
    model: MultiExitNet,
    model_id: str,
    spec: AttackSpec,
    exit: int | None,
    x: torch.Tensor,
    y: torch.Tensor,
    thresholds: Sequence[float],
    *,
    seed: int,
    batch_size: int,
    rule: str = DEFAULT_RULE,
    cache: AdvCache | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Adversarial images for the whole selection; per-batch seeds come from (seed, attack signature, batch).

    ``max_average`` builds its candidates from the single-exit attacks with the same settings, taking
    them from ``cache`` when a single-exit cell already computed them (identical seeds give identical
    candidates either way). On a one-exit model the objectives in :data:`ONE_EXIT_SINGLE` are that exit's
    loss, so they run (and are seeded) as the single attack: a static baseline's table row is one attack,
    computed once per process, not four differently seeded copies of it.
    """
    if model.num_exits == 1 and spec.objective in ONE_EXIT_SINGLE:
        spec, exit = spec.model_copy(update={"objective": "single", "exit": 0}), 0
    if spec.objective == "max_average":
        candidates = []
        for k in range(model.num_exits):
            single = spec.model_copy(update={"objective": "single", "exit": k})
            candidates.append(
                attack_images(
                    model,
                    model_id,
                    single,
                    k,
                    x,
                    y,
                    thresholds,
                    seed=seed,
                    batch_size=batch_size,
                    rule=rule,
                    cache=cache,
                )
            )
            if progress:
                progress(k + 1, model.num_exits)
        return torch.cat(
            [
                select_max_average(model, [c[i : i + batch_size] for c in candidates], y[i : i + batch_size])
                for i in range(0, len(x), batch_size)
            ]
        )
    key = _adv_key(model_id, spec, exit, thresholds, rule)
    if cache is not None and key in cache:
        return cache[key]
    attack = make_attack(spec.algorithm, spec.params)
    objective = make_objective(spec.objective, num_exits=model.num_exits, exit=exit, thresholds=thresholds, rule=rule)
    signature, n_batches = spec.signature(exit), math.ceil(len(x) / batch_size)
    out = []
    for b, i in enumerate(range(0, len(x), batch_size)):
        g = make_generator(derive_seed(seed, signature, b))
        out.append(attack(model, x[i : i + batch_size], y[i : i + batch_size], objective, generator=g))
        if progress:
            progress(b + 1, n_batches)
    adv = torch.cat(out)
    if cache is not None:
        cache[key] = adv
    return adv


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
    """TA, ATA (routed and per exit), exit fractions and MFlops clean and adversarial, norms, sanity checks.

    Inputs leave where exit ``rule`` with ``thresholds`` sends them (entropy, the paper's, unless told).
    """
    start = time.perf_counter()
    model.eval()
    n_exits = model.num_exits
    clean = _outcome(model, x, y, thresholds, rule, batch_size)
    norm = None
    if spec.algorithm == CLEAN:
        x_adv, adv, params = x, clean, {}
    else:
        x_adv = attack_images(
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
        adv = _outcome(model, x_adv, y, thresholds, rule, batch_size)
        params = jsonable(make_attack(spec.algorithm, spec.params).describe())
        norm = params.get("norm")
    frac_clean, frac_adv = _fractions(clean.exits, n_exits), _fractions(adv.exits, n_exits)
    metrics: dict[str, Any] = {
        "ta": _mean(clean.correct),
        "ata": _mean(adv.correct),
        "ta_per_exit": [_mean(c) for c in clean.correct_per_exit],
        "ata_per_exit": [_mean(c) for c in adv.correct_per_exit],
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
        checks.update(
            probes(
                model, model_id, spec, exit, x, y, thresholds, rule, metrics, seed, batch_size, sanity or SanitySpec()
            )
        )
    record = {
        "attack_params": params,
        "objective": None if spec.algorithm == CLEAN else spec.objective,
        "exit": exit,
        "n": len(y),
        "seed": seed,
        "metrics": metrics,
        "sanity": checks,
        "wall_s": time.perf_counter() - start,
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
    """Checks every cell must pass: box, eps-ball, and accuracy not raised on the attacked objective.

    The attacked accuracy is the exit's own for ``single``, the routed one otherwise; an attack may
    flip a few wrong samples right, so the tolerance is two binomial standard errors at worst case.
    """
    n = len(x)
    tol = 2 * math.sqrt(0.25 / max(n, 1)) + 1 / max(n, 1)
    eps = spec.params.get("eps")
    checks: dict[str, Any] = {"in_box": bool(x_adv.min() >= 0 and x_adv.max() <= 1)}
    if eps is not None and norm == "Linf":
        checks["in_eps_ball"] = bool((x_adv - x).abs().max() <= float(eps) + 1e-6)
    if spec.algorithm != CLEAN and spec.objective != "slowdown":
        if spec.objective == "single" and exit is not None:
            before, after = _mean(clean.correct_per_exit[exit]), _mean(adv.correct_per_exit[exit])
        else:
            before, after = _mean(clean.correct), _mean(adv.correct)
        checks["ata_le_ta"] = after <= before + tol
    return checks


def probes(
    model: MultiExitNet,
    model_id: str,
    spec: AttackSpec,
    exit: int | None,
    x: torch.Tensor,
    y: torch.Tensor,
    thresholds: Sequence[float],
    rule: str,
    metrics: dict[str, Any],
    seed: int,
    batch_size: int,
    sanity: SanitySpec,
) -> dict[str, Any]:
    """Stronger variants on a subset must not do worse: eps=1 breaks ~everything (no gradient masking),
    twice the steps and 1.5x eps do not raise ATA beyond noise."""
    n = min(sanity.probe_n, len(x))
    xs, ys = x[:n], y[:n]
    objective = "average" if spec.objective == "max_average" else spec.objective
    base_spec = spec.model_copy(update={"objective": objective, "probe": False})
    params = dict(spec.params)
    out: dict[str, Any] = {"probe_n": n}

    def routed_acc(p: dict[str, Any]) -> float:
        variant = base_spec.model_copy(update={"params": p})
        adv = attack_images(
            model, model_id, variant, exit, xs, ys, thresholds, seed=seed, batch_size=batch_size, rule=rule
        )
        return _mean(_outcome(model, adv, ys, thresholds, rule, batch_size).correct)

    base = routed_acc(params)
    tol = 2 * math.sqrt(0.25 / n) + 1 / n
    out["probe_base_ata"] = base
    if "eps" in params:
        steps = params.get("steps")
        unbounded = {**params, "eps": 1.0}
        if steps and "step_size" in params:
            unbounded["step_size"] = max(float(params["step_size"]), 2.5 / int(steps))
        out["probe_unbounded_ata"] = routed_acc(unbounded)
        out["unbounded_breaks_all"] = out["probe_unbounded_ata"] <= sanity.unbounded_max_acc
        out["probe_larger_eps_ata"] = routed_acc({**params, "eps": min(1.0, float(params["eps"]) * 1.5)})
        out["larger_eps_not_better"] = out["probe_larger_eps_ata"] <= base + tol
    if "steps" in params:
        out["probe_more_steps_ata"] = routed_acc({**params, "steps": int(params["steps"]) * 2})
        out["more_steps_not_better"] = out["probe_more_steps_ata"] <= base + tol
    return out


def failed_checks(checks: dict[str, Any]) -> list[str]:
    """Names of boolean checks that are False."""
    return [k for k, v in checks.items() if isinstance(v, bool) and not v]
