"""run_suite: evaluate every cell of a suite into a versioned run directory, resumably.

Each finished cell is appended to ``cells.jsonl`` at once (atomic line), so an interrupt loses only
the cell in flight and ``resume`` finishes the run. A cell already computed elsewhere for identical
inputs (model weights, attack signature, data, thresholds, seed, code) is taken from the cell cache.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rdibench.core.errors import ResultsError
from rdibench.core.hashing import sha256_json
from rdibench.core.seeding import derive_seed
from rdibench.data import DataRoots, Dataset, load
from rdibench.evaluation import Cell, SuiteConfig, evaluate_cell, expand
from rdibench.evaluation.cell import AdvCache, CellResult, failed_checks
from rdibench.evaluation.sources import resolve_model
from rdibench.evaluation.specs import CLEAN
from rdibench.evaluation.thresholds import resolve_thresholds
from rdibench.flops import ExitCosts, exit_costs
from rdibench.models import Checkpoint
from rdibench.report import write_report
from rdibench.results import RunDir, pack_flags
from rdibench.results.flags import encode_index
from rdibench.runner import environment

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What the CLI's progress display implements (the runner never prints)."""

    def start(self, total: int, done: int) -> None: ...
    def cell_started(self, key: str) -> None: ...
    def cell_advanced(self, done: int, total: int) -> None: ...
    def cell_finished(self, key: str, status: str, cached: bool) -> None: ...


@dataclass
class RunOptions:
    out_root: Path | None = None
    resume: Path | None = None
    only: str | None = None
    cell_cache: bool = True
    progress: Progress | None = None
    notes: str = ""


@dataclass
class LoadedModel:
    ckpt: Checkpoint
    sha256: str
    costs: ExitCosts
    thresholds: list[float]
    threshold_record: dict[str, Any]
    seed: int


@dataclass
class Context:
    suite: SuiteConfig
    data: dict[str, Dataset]  # by model name: models may evaluate different selections
    models: dict[str, LoadedModel]
    code_version: str
    cache_dir: Path
    adv_cache: AdvCache = field(default_factory=dict)


def _load_data(suite: SuiteConfig, roots: DataRoots) -> dict[str, Dataset]:
    """Each distinct selection is loaded once; the result maps model names to their data."""
    loaded: dict[str, Dataset] = {}
    out = {}
    for spec in suite.models:
        data_spec = suite.data_for(spec)
        key = data_spec.model_dump_json()
        if key not in loaded:
            loaded[key] = load(data_spec, roots)
        out[spec.name] = loaded[key]
    return out


def _load_models(suite: SuiteConfig, data: dict[str, Dataset], roots: DataRoots, cache: Path) -> dict[str, LoadedModel]:
    out = {}
    for spec in suite.models:
        ckpt = resolve_model(spec, cache, roots)
        dataset = suite.data_for(spec).dataset
        if ckpt.card.dataset != dataset:
            raise ResultsError(f"model {spec.name!r} is a {ckpt.card.dataset} model; it is evaluated on {dataset}")
        protocol = spec.thresholds or suite.thresholds
        x = data[spec.name].x
        thresholds, record = resolve_thresholds(protocol, ckpt, x, roots, batch_size=suite.batch_size)
        out[spec.name] = LoadedModel(
            ckpt,
            ckpt.card.weights_sha256,
            exit_costs(ckpt.model),
            thresholds,
            record,
            derive_seed(suite.seed, spec.name),
        )
    return out


def cell_version(cell: Cell, suite: SuiteConfig) -> str:
    """What makes two cells comparable (asv's benchmark version): attack settings and threshold protocol."""
    from rdibench import __version__

    return sha256_json(
        {
            "rdibench": __version__.split(".")[0:2],
            "attack": cell.attack.signature(cell.exit),
            "thresholds": (cell.model.thresholds or suite.thresholds).model_dump(mode="json"),
        }
    )[:12]


def _cache_key(cell: Cell, ctx: Context) -> str:
    m = ctx.models[cell.model.name]
    return sha256_json(
        {
            "model": m.sha256,
            "attack": cell.attack.signature(cell.exit),
            "probe": cell.attack.probe,
            "data": ctx.data[cell.model.name].checksum,
            "thresholds": m.thresholds,
            "seed": m.seed,
            "batch": ctx.suite.batch_size,
            "sanity": ctx.suite.sanity.model_dump(),
            "code": ctx.code_version,
        }
    )


def _identity(cell: Cell, ctx: Context) -> dict[str, Any]:
    return {
        "key": cell.key,
        "cell_version": cell_version(cell, ctx.suite),
        "model": cell.model.name,
        "attack": cell.attack_name,
    }


def _record(cell: Cell, ctx: Context, result: CellResult | None, error: str | None) -> dict[str, Any]:
    m = ctx.models[cell.model.name]
    data = ctx.data[cell.model.name]
    base = {
        **_identity(cell, ctx),
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


def _evaluate(cell: Cell, ctx: Context, progress: Progress | None) -> dict[str, Any]:
    m = ctx.models[cell.model.name]
    try:
        result = evaluate_cell(
            m.ckpt.model,
            m.sha256,
            cell.attack,
            cell.exit,
            ctx.data[cell.model.name].x,
            ctx.data[cell.model.name].y,
            m.thresholds,
            m.costs,
            seed=m.seed,
            batch_size=ctx.suite.batch_size,
            sanity=ctx.suite.sanity,
            cache=ctx.adv_cache,
            progress=progress.cell_advanced if progress else None,
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a failing cell is recorded, the run goes on
        log.error("cell %s failed: %s", cell.key, e)
        return _record(cell, ctx, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}")
    return _record(cell, ctx, result, None)


def _cached(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _store(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cell-")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def _manifest(suite: SuiteConfig, source: dict[str, str], ctx: Context, notes: str) -> dict[str, Any]:
    return {
        "rdibench_version": environment.versions()["rdibench"],
        "suite": suite.model_dump(mode="json"),
        "suite_source": source,
        "suite_sha256": source.get("sha256"),
        "git": environment.git_state(),
        "versions": environment.versions(),
        **environment.machine(),
        "code_version": ctx.code_version,
        "seed": suite.seed,
        "seeds": {name: m.seed for name, m in ctx.models.items()},
        "data": {name: d.provenance() for name, d in ctx.data.items()},
        "models": {
            name: {
                "sha256": m.sha256,
                "card": m.ckpt.card.model_dump(mode="json"),
                "thresholds": m.thresholds,
                "threshold_record": m.threshold_record,
                "exit_costs": m.costs.to_dict(),
            }
            for name, m in ctx.models.items()
        },
        "notes": notes,
    }


def prepare(suite: SuiteConfig, roots: DataRoots) -> tuple[Context, list[Cell]]:
    """Load the data and models of a suite, resolve thresholds, and expand the cells in run order."""
    data = _load_data(suite, roots)
    ctx = Context(suite, data, _load_models(suite, data, roots, roots.cache), environment.code_version(), roots.cache)
    return ctx, expand(suite, {name: m.ckpt.model.num_exits for name, m in ctx.models.items()})


def evaluate_record(cell: Cell, ctx: Context, progress: Progress | None = None) -> dict[str, Any]:
    """The full record of one cell (what ``rdibench eval`` prints and the runner stores)."""
    return _evaluate(cell, ctx, progress)


def _release(ctx: Context, cell: Cell, todo: list[Cell]) -> None:
    """Drop a model's cached adversarial images once no remaining cell can reuse them (memory stays bounded)."""
    sha = ctx.models[cell.model.name].sha256
    rest = todo[todo.index(cell) + 1 :]
    if not any(ctx.models[c.model.name].sha256 == sha for c in rest):
        for key in [k for k in ctx.adv_cache if k[0] == sha]:
            del ctx.adv_cache[key]


def run_suite(suite: SuiteConfig, source: dict[str, str], roots: DataRoots, options: RunOptions) -> RunDir:
    """Run (or resume) a suite; returns the run directory, whose report files are written at the end."""
    ctx, cells = prepare(suite, roots)
    cache_dir = ctx.cache_dir
    if options.only:
        cells = [c for c in cells if fnmatch.fnmatch(c.key, options.only)]
    if options.resume is not None:
        run = RunDir.open(options.resume)
        if run.manifest.get("config_hash") != suite.config_hash():
            raise ResultsError(
                f"{options.resume} was made by a different version of this suite (config hash "
                f"{run.manifest.get('config_hash', '?')[:8]} vs {suite.config_hash()[:8]}); start a new run instead"
            )
    else:
        root = options.out_root or suite.output
        run = RunDir.create(root, suite.name, suite.config_hash(), _manifest(suite, source, ctx, options.notes))
    done = run.finished_keys()
    todo = [c for c in cells if c.key not in done]
    if options.progress:
        options.progress.start(len(cells), len(cells) - len(todo))
    for cell in todo:
        if options.progress:
            options.progress.cell_started(cell.key)
        cache_file = cache_dir / "cells" / f"{_cache_key(cell, ctx)}.json"
        record = _cached(cache_file) if options.cell_cache else None
        cached = record is not None
        if record is not None:  # same inputs under another display name or run: keep this run's identity
            record = {**record, **_identity(cell, ctx), "cached": True}
        else:
            record = _evaluate(cell, ctx, options.progress)
            if record["status"] == "ok" and options.cell_cache:
                _store(cache_file, record)
        run.append_cell(record)
        _release(ctx, cell, todo)
        if options.progress:
            options.progress.cell_finished(cell.key, record["status"], cached)
    run.finish()
    write_report(run)
    return run
