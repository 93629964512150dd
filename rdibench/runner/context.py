"""What evaluating any cell of a run needs (the Context), and the one per-cell function every executor calls.

Why one function: the numbers of a cell must not depend on where it ran. The driver builds the Context
once (models loaded, thresholds and costs resolved, data selected); a worker, local or remote, receives
it whole and calls :func:`evaluate_in_worker`, the same code the in-process executor runs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from rdibench.core.device import Acceleration
from rdibench.core.errors import portable_traceback
from rdibench.core.hashing import sha256_json
from rdibench.data import Dataset
from rdibench.evaluation import Cell, SuiteConfig, evaluate_cell
from rdibench.evaluation.adversarial import ImageKey, image_keys
from rdibench.evaluation.cell import AdvCache, CellResult, failed_checks
from rdibench.evaluation.specs import CLEAN
from rdibench.flops import ExitCosts
from rdibench.models import Checkpoint
from rdibench.results import pack_flags
from rdibench.results.flags import encode_index
from rdibench.runner import environment

log = logging.getLogger(__name__)

Event = tuple[Any, ...]
"""What a worker reports while it evaluates: ``("started", key, where)`` or ``("advanced", key, done, total)``."""
Notify = Callable[[Event], None]


class Progress(Protocol):
    """What the CLI's progress display implements (the runner never prints).

    Several cells may run at once under a parallel executor, so every call names its cell; ``where`` is
    ``host:pid`` of the process evaluating it.
    """

    def start(self, total: int, done: int) -> None: ...
    def cell_started(self, key: str, where: str) -> None: ...
    def cell_advanced(self, key: str, done: int, total: int) -> None: ...
    def cell_finished(self, key: str, status: str, cached: bool) -> None: ...


@dataclass
class LoadedModel:
    ckpt: Checkpoint
    sha256: str
    costs: ExitCosts
    thresholds: list[float]
    threshold_record: dict[str, Any]
    seed: int
    exit_rule: str


@dataclass
class Context:
    """Everything a cell reads. Picklable, so parallel executors ship it to each worker once."""

    suite: SuiteConfig
    data: dict[str, Dataset]  # by model name: models may evaluate different selections
    models: dict[str, LoadedModel]
    code_version: str
    cache_dir: Path
    adv_cache: AdvCache = field(default_factory=dict)
    device: str = "cpu"
    """Where cells run: models and data are moved there once per process (:func:`place`)."""
    acceleration: Acceleration = field(default_factory=Acceleration)
    """How models run there (channels-last layout, compiled forwards), applied by :func:`place` too."""


def place(ctx: Context) -> None:
    """Move the context's models and images to ``ctx.device`` and set them up by ``ctx.acceleration`` (a no-op
    for those already done), once per process: the driver does it for the local executor, each worker for its
    own copy of the context."""
    for m in ctx.models.values():
        ctx.acceleration.model(m.ckpt.model.to(ctx.device))
    moved: dict[int, Dataset] = {}  # models evaluated on one selection share its tensors
    for name, data in ctx.data.items():
        x = ctx.acceleration.images(data.x.to(ctx.device))
        if x is not data.x:
            if id(data) not in moved:
                moved[id(data)] = replace(data, x=x, y=data.y.to(ctx.device))
            ctx.data[name] = moved[id(data)]


def where() -> str:
    """``host:pid`` of this process: what the progress display shows for a running cell."""
    return f"{socket.gethostname()}:{os.getpid()}"


def cell_version(cell: Cell, suite: SuiteConfig) -> str:
    """What makes two cells comparable (asv's benchmark version): attack settings and threshold protocol."""
    from rdibench.core.version import __version__

    return sha256_json(
        {
            "rdibench": __version__.split(".")[0:2],
            "attack": cell.attack.signature(cell.exit),
            "thresholds": (cell.model.thresholds or suite.thresholds).model_dump(mode="json"),
        }
    )[:12]


def identity(cell: Cell, ctx: Context) -> dict[str, Any]:
    """The fields that name a cell in this run (a cached record from another run takes them over)."""
    return {
        "key": cell.key,
        "cell_version": cell_version(cell, ctx.suite),
        "model": cell.model.name,
        "attack": cell.attack_name,
    }


def cell_record(cell: Cell, ctx: Context, result: CellResult | None, error: str | None) -> dict[str, Any]:
    """The stored record of a cell: its identity and inputs, then the result or the error that stopped it."""
    m = ctx.models[cell.model.name]
    data = ctx.data[cell.model.name]
    base = {
        **identity(cell, ctx),
        "model_sha256": m.sha256,
        "attack_family": cell.attack.algorithm,
        "objective": None if cell.attack.algorithm == CLEAN else cell.attack.objective,
        "exit": cell.exit,
        "dataset": data.spec.dataset,
        "data_label": data.label,
        "lossy": data.lossy,
        "data_sha256": data.checksum,
        "n": len(data),
        "seed": m.seed,
        "thresholds": m.thresholds,
        "exit_rule": m.exit_rule,
        "threshold_protocol": m.threshold_record.get("protocol"),
        "code_version": ctx.code_version,
    }
    if result is None:
        return {**base, "status": "failed", "error": error, "wall_s": None}
    bad = failed_checks(result.record["sanity"])
    return {
        **base,
        **result.record,
        "status": "failed" if bad else "ok",
        "error": f"sanity checks failed: {', '.join(bad)}" if bad else None,
        "flags": pack_flags(
            result.clean_correct.numpy(),
            result.adv_correct.numpy(),
            result.exit_clean.numpy(),
            result.exit_adv.numpy(),
        ),
        "index": encode_index(data.index.numpy()),
    }


def image_source(ctx: Context, name: str) -> str:
    """What a model's adversarial images depend on besides the attack: its weights, its seed and its images.
    The seed comes from the suite name, so one model under two names (two threshold protocols) makes its own
    images under each, and a subset run (``--only``) gives the numbers of the full run."""
    m = ctx.models[name]
    return f"{m.sha256}:{m.seed}:{ctx.data[name].checksum}"


def cell_image_keys(cell: Cell, ctx: Context) -> list[ImageKey]:
    """The cache keys of the adversarial images ``cell`` is made of (none for a clean cell)."""
    if cell.attack.algorithm == CLEAN:
        return []
    m = ctx.models[cell.model.name]
    source = image_source(ctx, cell.model.name)
    return image_keys(source, cell.attack, cell.exit, m.ckpt.model.num_exits, m.thresholds, m.exit_rule)


def evaluate_record(
    cell: Cell, ctx: Context, advanced: Callable[[int, int], None] | None = None, *, worker: str | None = None
) -> dict[str, Any]:
    """The full record of one cell (what ``rdibench eval`` prints and the runner stores).

    ``worker`` (``host:pid``) is stored with the record. A failure inside the cell becomes a
    ``failed`` record with the error text, so the run goes on.
    """
    m, data = ctx.models[cell.model.name], ctx.data[cell.model.name]
    try:
        result = evaluate_cell(
            m.ckpt.model,
            image_source(ctx, cell.model.name),
            cell.attack,
            cell.exit,
            data.x,
            data.y,
            m.thresholds,
            m.costs,
            seed=m.seed,
            batch_size=ctx.suite.batch_size,
            rule=m.exit_rule,
            sanity=ctx.suite.sanity,
            cache=ctx.adv_cache,
            progress=advanced,
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a failing cell is recorded, the run goes on
        log.error("cell %s failed: %s", cell.key, e)
        record = cell_record(cell, ctx, None, f"{type(e).__name__}: {e}\n{portable_traceback(limit=5)}")
    else:
        record = cell_record(cell, ctx, result, None)
    record["threads"] = torch.get_num_threads()  # with wall_s: the cell's CPU cost (the report's cost table)
    return {**record, "worker": worker} if worker else record


def evaluate_in_worker(
    cell: Cell, ctx: Context, notify: Notify, reuse: AdvCache | None = None, keep: bool = False
) -> tuple[dict[str, Any], AdvCache]:
    """Evaluate one cell in a worker process, reporting start and per-batch progress through ``notify``.

    ``reuse`` holds adversarial images that other cells computed (the executors' reuse plan: max-average takes
    its model's single-exit candidates from it), as the in-process run's cache does (same seeds, same images,
    so the same numbers as recomputing them). With ``keep`` the images this cell computed come back for such
    reuse. The worker's cache is emptied after the cell, so its memory does not grow from cell to cell.
    """
    here = where()
    notify(("started", cell.key, here))
    mismatch = _code_mismatch(ctx, here)
    if mismatch:
        return {**cell_record(cell, ctx, None, mismatch), "worker": here}, {}

    def advanced(done: int, total: int) -> None:
        notify(("advanced", cell.key, done, total))

    place(ctx)
    ctx.adv_cache.update({key: adv.to(ctx.device) for key, adv in (reuse or {}).items()})
    try:
        record = evaluate_record(cell, ctx, advanced, worker=here)
        return record, {key: adv.to("cpu") for key, adv in ctx.adv_cache.items()} if keep else {}
    finally:
        ctx.adv_cache.clear()


def _code_mismatch(ctx: Context, here: str) -> str | None:
    """Why this worker must not evaluate (its rdibench source differs from the driver's, so its numbers
    could silently differ), or None."""
    version = environment.code_version()
    if version == ctx.code_version:
        return None
    return (
        f"worker {here} has rdibench code {version}, the driver {ctx.code_version}; "
        "install the same rdibench (same commit) on every machine of the cluster"
    )
