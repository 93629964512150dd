"""A model's card on the results page: where it came from, how it was defended and trained, its thresholds.

Read from the manifest's copy of each model card (what the run actually loaded), never from the store, so the
page shows the model as evaluated. Paths of the machine that trained it are left out (recipe file, data cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from pathlib import PurePath
from typing import Any

from rdibench.report.tables import markdown_row
from rdibench.results.page import describe, number

NOT_RECORDED = "not recorded"


def model_facts(entry: Mapping[str, Any], seed: Any, data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) rows of one model from its manifest ``entry``, per-model ``seed`` and ``data`` record:
    identity, source, defence, training budget, pruning, thresholds, costs."""
    card = entry.get("card") or {}
    kwargs = card.get("arch_kwargs") or {}
    arch = card.get("arch") or NOT_RECORDED
    rows = [
        ("architecture", f"{arch} ({describe(kwargs)})" if kwargs else arch),
        ("source", card.get("source") or NOT_RECORDED),
        ("defence", card.get("defence") or NOT_RECORDED),
        ("training budget", training_budget(card.get("training")) if "training" in card else NOT_RECORDED),
    ]
    if card.get("pruning"):
        rows.append(("pruning", describe(card["pruning"])))
    rows += [
        ("thresholds", _thresholds(entry)),
        ("threshold fit", _fit(entry.get("threshold_record"))),
        ("exit costs (MFlops)", _costs(entry.get("exit_costs"))),
        ("weights sha256", card.get("weights_sha256") or entry.get("sha256") or NOT_RECORDED),
        ("evaluated on", _data(data)),
        ("seed", NOT_RECORDED if seed is None else str(seed)),
    ]
    if card.get("reported"):
        rows.append(("reported by its source", describe(card["reported"])))
    if card.get("notes"):
        rows.append(("notes", str(card["notes"])))
    return rows


def budget_markdown(manifest: Mapping[str, Any]) -> str | None:
    """One row per model of the run: its defence and what training it cost (its source, when it was trained
    elsewhere), so a table's numbers are never read apart from the budget behind them; None without models."""
    models = manifest.get("models") or {}
    if not models:
        return None
    lines = [markdown_row(["Model", "Defence", "Training budget"]), markdown_row(["---"] * 3)]
    for name, entry in models.items():
        card = entry.get("card") or {}
        if card.get("training"):
            budget = training_budget(card["training"])
        else:
            budget = f"not trained here: {card.get('source') or 'source not recorded'}"
        lines.append(markdown_row([name, card.get("defence") or NOT_RECORDED, budget]))
    return "\n".join(lines) + "\n"


def training_budget(training: Mapping[str, Any] | None) -> str:
    """Iterations, batch, optimiser, wall time and device of a recorded training run (its attack is the defence)."""
    if not training:
        return "not recorded here (imported or external weights: see source)"
    recipe = training.get("recipe") or {}
    optimizer = recipe.get("optimizer") or {}
    parts = [f"{training.get('iterations', '?')} iterations"]
    if recipe.get("batch_size"):
        parts.append(f"batch {recipe['batch_size']}")
    if optimizer:
        parts.append(f"{optimizer.get('kind', '?')} lr {describe(optimizer.get('lr'))}")
    if training.get("wall_time_s") is not None:
        parts.append(f"{float(training['wall_time_s']) / 3600:.2f} h wall time on {_devices(training)}")
    if training.get("seed") is not None:
        parts.append(f"seed {training['seed']}")
    base = training.get("base") or {}
    if base.get("path"):
        parts.append(f"fine-tuned from {PurePath(base['path']).name}")
    if recipe.get("name"):
        parts.append(f"recipe {recipe['name']} ({str(training.get('recipe_hash', ''))[:12]})")
    return ", ".join(parts)


def _devices(training: Mapping[str, Any]) -> str:
    """The devices a training ran on, in order (cards before per-stretch records name one ``device``)."""
    if "stretches" not in training:
        return str(training.get("device", "?"))
    devices = [str(s["device"] or "?") for s in training["stretches"]]
    return " then ".join(device for device, _ in groupby(devices))


def _thresholds(entry: Mapping[str, Any]) -> str:
    values = entry.get("thresholds")
    if values is None:
        return NOT_RECORDED
    if not values:
        return "none (one exit: static model)"
    return "entropy thresholds " + ", ".join(number(float(v)) for v in values)


def _fit(record: Mapping[str, Any] | None) -> str:
    """How the thresholds were fitted, protocol first (the rest differs by protocol)."""
    if not record:
        return NOT_RECORDED
    rest = {k: v for k, v in record.items() if k != "protocol"}
    return f"{record.get('protocol', '?')}" + (f": {describe(rest)}" if rest else "")


def _costs(costs: Mapping[str, Any] | None) -> str:
    if not costs:
        return NOT_RECORDED
    units = costs.get("units") or {}
    parts = [
        f"{rule}: " + ", ".join(f"{float(v):.3f}" for v in costs[rule]) + (f" ({units[rule]})" if rule in units else "")
        for rule in ("paper", "full")
        if costs.get(rule)
    ]
    return "; ".join(parts) or NOT_RECORDED


def _data(data: Mapping[str, Any] | None) -> str:
    if not data:
        return NOT_RECORDED
    return f"{data.get('label', '?')}, n = {data.get('n', '?')} (source {data.get('source', '?')})"
