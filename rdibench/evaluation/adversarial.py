"""Adversarial images for a whole selection, batched and seeded, shared between the cells that need them.

Why a module of its own: the cell, the probes and the executors' image reuse all ask for the same images by
the same key, so how images are made, seeded and cached lives in one place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace

import torch

from rdibench.attacks import OBJECTIVES, make_objective, select_max_average
from rdibench.attacks.factory import make_attack
from rdibench.core.seeding import derive_seed, make_generator
from rdibench.evaluation.specs import AttackSpec
from rdibench.inference import DEFAULT_RULE
from rdibench.models.multiexit import MultiExitNet

Progress = Callable[[int, int], None]
Warnings = Mapping[str, Sequence[str]]
"""Reliability warnings of an attack by check name (AutoAttack's flags: zero gradients, Square beating the
white-box attacks, a randomised defence...); empty when nothing was flagged."""


@dataclass(frozen=True)
class Adversarial:
    """Adversarial images for a selection and the warnings the attack raised while making them.

    ``cpu_s``: the process CPU seconds making them took, wherever that was; ``reused_cpu_s``: the part of it spent
    by other cells, whose images this one took from the cache. Why both: a cell that reuses images costs only its
    forwards, yet what the attack costs is what making its images cost, so a cost table charges it the reused part.
    """

    images: torch.Tensor
    warnings: Warnings = field(default_factory=dict)
    cpu_s: float = 0.0
    reused_cpu_s: float = 0.0

    def to(self, device: torch.device | str) -> Adversarial:
        """The same images on ``device`` (workers hand them to the driver on the CPU)."""
        return replace(self, images=self.images.to(device))


ImageKey = tuple[str, ...]
AdvCache = MutableMapping[ImageKey, Adversarial]
"""Adversarial images by (model id, attack signature[, rule, thresholds]): max-average reuses the single-exit
ones, and a one-exit model's average, random, routing and max-average attacks are its single one. The model id
names the weights, the seed and the images, so a cell's images never depend on which other cells ran. A plain
dict, or the runner's :class:`~rdibench.evaluation.image_store.ImageStore`, which keeps shared ones on disk."""


def retarget(spec: AttackSpec, objective: str, exit: int | None) -> AttackSpec:
    """``spec`` aimed at ``objective`` instead, keeping the objective settings that one takes (the per-exit
    loss carries over to max-average's single-exit candidates; a soft-routing tau means nothing there)."""
    keep = OBJECTIVES.get(objective).settings
    settings = {k: v for k, v in spec.objective_params.items() if k in keep}
    return spec.model_copy(update={"objective": objective, "exit": exit, "objective_params": settings})


def merge_warnings(*found: Warnings) -> dict[str, list[str]]:
    """Warnings of several attacks (max-average's candidates) under one dict, each message once."""
    out: dict[str, list[str]] = {}
    for warnings in found:
        for check, messages in warnings.items():
            kept = out.setdefault(check, [])
            kept += [m for m in messages if m not in kept]
    return out


def _adv_key(model_id: str, spec: AttackSpec, exit: int | None, thresholds: Sequence[float], rule: str) -> ImageKey:
    key = (model_id, spec.signature(exit))
    reads_routing = OBJECTIVES.get(spec.objective).reads_routing()
    return (*key, rule, repr(list(thresholds))) if reads_routing else key


def as_run(spec: AttackSpec, exit: int | None, num_exits: int) -> tuple[AttackSpec, int | None]:
    """The attack that actually runs: on a one-exit model an objective that declares ``one_exit_single`` is that
    exit's single attack, so a static baseline's row is one attack computed (and seeded) once, not four
    differently seeded copies of it."""
    if num_exits == 1 and OBJECTIVES.get(spec.objective).one_exit_single:
        return retarget(spec, "single", 0), 0
    return spec, exit


def image_keys(
    model_id: str, spec: AttackSpec, exit: int | None, num_exits: int, thresholds: Sequence[float], rule: str
) -> list[ImageKey]:
    """The cache keys of the images an attack is made of: its own, or one single-exit attack's per exit for an
    objective built from them (max-average). Cells with a key in common share those images, in one process
    through the cache and across workers through the executors' reuse plan."""
    spec, exit = as_run(spec, exit, num_exits)
    if OBJECTIVES.get(spec.objective).from_single_attacks:
        return [_adv_key(model_id, retarget(spec, "single", k), k, thresholds, rule) for k in range(num_exits)]
    return [_adv_key(model_id, spec, exit, thresholds, rule)]


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
) -> Adversarial:
    """Adversarial images for the whole selection; per-batch seeds come from (seed, attack signature, batch).

    An objective built from single-exit attacks (max-average) takes its candidates from ``cache`` when a
    single-exit cell already computed them (identical seeds give identical candidates either way). What runs
    on a one-exit model is :func:`as_run`'s. ``model_id`` names the weights, seed and images together.
    """
    spec, exit = as_run(spec, exit, model.num_exits)
    if OBJECTIVES.get(spec.objective).from_single_attacks:
        candidates = []
        for k in range(model.num_exits):
            candidates.append(
                attack_images(
                    model,
                    model_id,
                    retarget(spec, "single", k),
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
        cpu_start = time.process_time()
        images = torch.cat(
            [
                select_max_average(model, [c.images[i : i + batch_size] for c in candidates], y[i : i + batch_size])
                for i in range(0, len(x), batch_size)
            ]
        )
        return Adversarial(
            images,
            merge_warnings(*(c.warnings for c in candidates)),
            cpu_s=sum(c.cpu_s for c in candidates) + time.process_time() - cpu_start,
            reused_cpu_s=sum(c.reused_cpu_s for c in candidates),
        )
    key = _adv_key(model_id, spec, exit, thresholds, rule)
    if cache is not None and key in cache:
        return replace(cache[key], reused_cpu_s=cache[key].cpu_s)
    cpu_start = time.process_time()
    attack = make_attack(spec.algorithm, spec.params)
    objective = make_objective(
        spec.objective,
        num_exits=model.num_exits,
        exit=exit,
        thresholds=thresholds,
        rule=rule,
        **spec.objective_params,
    )
    signature, n_batches = spec.signature(exit), math.ceil(len(x) / batch_size)
    out = []
    for b, i in enumerate(range(0, len(x), batch_size)):
        g = make_generator(derive_seed(seed, signature, b))
        out.append(attack(model, x[i : i + batch_size], y[i : i + batch_size], objective, generator=g))
        if progress:
            progress(b + 1, n_batches)
    adv = Adversarial(torch.cat(out), merge_warnings(attack.warnings), cpu_s=time.process_time() - cpu_start)
    if cache is not None:
        cache[key] = adv
    return adv
