"""Resolve a model's exit rule and thresholds under a protocol: stored, held-out fit, the authors' fit, or fixed."""

from __future__ import annotations

from typing import Any

import torch

from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots, DataSpec, dataset_info, load
from rdibench.evaluation.specs import ThresholdSpec
from rdibench.inference import adjust, exit_rule, fit_thresholds
from rdibench.models import Checkpoint, model_device
from rdibench.models.multiexit import MultiExitNet


@torch.no_grad()
def all_exit_logits(model: MultiExitNet, x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Every exit's logits for ``x``, batched on the model's device; one forward per batch gives all exits."""
    model.eval()
    device = model_device(model)
    chunks = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    return [torch.cat([c[k] for c in chunks]) for k in range(model.num_exits)]


def resolve_thresholds(
    spec: ThresholdSpec,
    ckpt: Checkpoint,
    eval_x: torch.Tensor,
    roots: DataRoots,
    *,
    batch_size: int = 512,
) -> tuple[list[float], dict[str, Any]]:
    """Thresholds for ``ckpt`` and a record of how they were obtained (stored with every cell and in the manifest).

    The record's ``rule`` is the exit rule they are for: the suite's ``thresholds.rule``, else the card's.
    """
    card = ckpt.card
    rule = spec.rule or card.exit_rule
    exit_rule(rule)  # a card naming a rule nobody registered fails here, listing the known ones
    if ckpt.model.num_exits == 1:
        return [], {"protocol": "static", "rule": rule}
    if spec.protocol == "card":
        if card.thresholds is None:
            raise ConfigError(
                f"model {card.name!r} has no thresholds in its card; use thresholds.protocol held-out or authors"
            )
        if rule != card.exit_rule:
            raise ConfigError(
                f"model {card.name!r}: its card holds {card.exit_rule} thresholds, not {rule}; "
                "use thresholds.protocol held-out, authors or fixed to get thresholds for that rule"
            )
        return list(card.thresholds), {
            "protocol": "card",
            "rule": rule,
            "fit": card.threshold_fit and card.threshold_fit.model_dump(),
        }
    if spec.protocol == "fixed":
        if len(spec.values or []) != ckpt.model.num_exits - 1:
            raise ConfigError(f"thresholds.values needs {ckpt.model.num_exits - 1} values for model {card.name!r}")
        return list(spec.values or []), {"protocol": "fixed", "rule": rule}
    if spec.protocol == "authors":
        fit_x, fit_on = eval_x, "the evaluated clean images (authors' protocol)"
    else:
        val = load(
            DataSpec(
                dataset=card.dataset,
                split="val",
                val_size=spec.val_size,
                val_seed=spec.val_seed,
                source=spec.source if spec.source in dataset_info(card.dataset).sources else "auto",
            ),
            roots,
        )
        fit_x, fit_on = val.x, f"{val.label} validation split n={len(val)} seed={spec.val_seed}"
    shift = card.threshold_shift if spec.shift == "model" else None
    if shift is not None and rule != card.exit_rule:
        raise ConfigError(
            f"model {card.name!r}: its hand shifts were made for {card.exit_rule} thresholds; "
            f"with rule {rule} set thresholds.shift: none"
        )
    base = fit_thresholds(all_exit_logits(ckpt.model, fit_x, batch_size), rule)
    values = adjust(base, shift.scale if shift else None, shift.offset if shift else None)
    record = {
        "protocol": spec.protocol,
        "rule": rule,
        "fit_on": fit_on,
        "n": len(fit_x),
        "base": base,
        "shift": shift.model_dump() if shift else None,
    }
    return values, record
