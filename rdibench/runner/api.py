"""``rdibench.evaluate``: the suite runner from Python, for any model meeting the model contract.

Why through the suite machinery: a call takes the same ``data``, ``attacks`` and ``thresholds`` a suite file
holds, validated by the same schema (:func:`~rdibench.evaluation.suite.build_suite`) and evaluated by the same
cells, so a model benchmarked from Python and from a suite gets the same numbers (RobustBench's
``benchmark(model, ...)`` for multi-exit models).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from rdibench.core.device import resolve_device
from rdibench.core.errors import ConfigError
from rdibench.data import resolve_roots
from rdibench.evaluation.suite import build_suite
from rdibench.models import AdaptedModel, Checkpoint, model_device
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.checkpoint import read_card
from rdibench.models.fetch import resolve_checkpoint
from rdibench.results import metrics_frame
from rdibench.runner.executors import ExecutorConfig, make_executor
from rdibench.runner.run import RunOptions, prepare, run_suite

SOURCE = "rdibench.evaluate (Python arguments)"
SUITE_NAME = "evaluate"


def evaluate(
    model: nn.Module | Checkpoint | str | os.PathLike[str],
    *,
    data: Mapping[str, Any],
    attacks: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    thresholds: Mapping[str, Any],
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    batch_size: int = 256,
    data_dir: str | None = None,
) -> pd.DataFrame:
    """Benchmark one model under ``attacks``; one row per attack with ``metrics.csv``'s columns.

    ``model``: any ``torch.nn.Module`` whose ``forward(x)`` returns per-exit logits (a list or tuple, shallow to
    deep; a tensor for one exit), an rdibench checkpoint (:func:`rdibench.load`), a checkpoint directory or a
    published model's name. ``data`` (``{"dataset": "mnist", "n": 1000}``), ``attacks`` (a list of attack
    entries, ``{"name": "pgd", "algorithm": "pgd", "objective": "max_average", "params": {...}}``) and
    ``thresholds`` (``{"protocol": "held-out"}``; a module has no card, so held-out, authors or fixed) take
    the shapes of a suite file's keys. ``device``: auto, cpu, cuda or cuda:N; the module is evaluated in eval
    mode on it and given back in its mode and on its device. With ``out`` the run is written to
    ``out/evaluate/<timestamp>-<hash>/`` like ``rdibench run --out``; without it nothing is written.
    ``data_dir``: dataset roots (default ``$RDIBENCH_DATA``, else ``./data``).
    """
    device = resolve_device(device)  # a device this machine lacks fails before anything loads
    roots = resolve_roots(data_dir)
    spec, given = _model_entry(model, name, roots)
    suite = build_suite(
        {
            "name": SUITE_NAME,
            "seed": seed,
            "data": data,
            "batch_size": batch_size,
            "thresholds": thresholds,
            "models": [spec],
            "attacks": [attacks] if isinstance(attacks, Mapping) else list(attacks),
        },
        source=SOURCE,
        base=Path.cwd(),
        given=given,
    )
    module = next(iter(given.values()), None)
    mode, where = (module.training, model_device(module)) if module is not None else (False, None)
    try:
        if out is None:
            ctx, cells = prepare(suite, roots, device=device, given=given)
            with make_executor(ExecutorConfig()) as executor:
                records = [record for _, record in executor.run(cells, ctx, None)]
            return metrics_frame(records)
        # a module's code is not versioned with rdibench's, so its cells are computed afresh, never cached
        options = RunOptions(out_root=Path(out), device=device, given=given, cell_cache=module is None)
        return metrics_frame(run_suite(suite, {"origin": SOURCE}, roots, options).cells())
    finally:
        if module is not None:
            module.train(mode).to(where)


def _model_entry(model: Any, name: str | None, roots: Any) -> tuple[dict[str, Any], dict[str, nn.Module]]:
    """The suite's model entry for ``model``, and the module when it is given in memory."""
    if isinstance(model, Checkpoint):
        if model.path is None or not (model.path / "card.json").is_file():  # a user's model: evaluated as given
            inner = model.model.module if isinstance(model.model, AdaptedModel) else model.model
            return _model_entry(inner, name or model.card.name, roots)
        return {"name": name or model.card.name, "checkpoint": str(model.path)}, {}
    if isinstance(model, nn.Module):
        cls = type(model)
        label = name or cls.__name__
        return {"name": label, "given": f"{cls.__module__}.{cls.__qualname__}"}, {label: model}
    if isinstance(model, (str, os.PathLike)):
        if str(model) in PUBLISHED and not Path(model).exists():
            return {"name": name or str(model), "published": str(model)}, {}
        path = resolve_checkpoint(model, roots)
        return {"name": name or read_card(path).name, "checkpoint": str(path)}, {}
    raise ConfigError(
        f"rdibench.evaluate: model is a {type(model).__name__}; give a torch.nn.Module returning per-exit logits, "
        "a checkpoint (rdibench.load), a checkpoint directory or a published model's name"
    )
