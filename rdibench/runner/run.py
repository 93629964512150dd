"""run_suite: evaluate every cell of a suite into a versioned run directory, resumably.

Each finished cell is appended to ``cells.jsonl`` at once (atomic line), so an interrupt loses only
the cell in flight and ``resume`` finishes the run. A cell already computed elsewhere for identical
inputs (model weights, attack signature, data, thresholds, seed, code) is taken from the cell cache, and
adversarial images another cell reuses are kept in the cache until it is done (an interrupted max-average
cell does not make its single-exit attacks again).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from rdibench.core.device import Acceleration, resolve_device
from rdibench.core.errors import ConfigError, ResultsError
from rdibench.core.files import atomic_write
from rdibench.core.hashing import sha256_json
from rdibench.core.seeding import derive_seed
from rdibench.data import DataRoots, Dataset, dataset_info, load
from rdibench.evaluation import Cell, SuiteConfig, expand
from rdibench.evaluation.adversarial import ImageKey
from rdibench.evaluation.image_store import ImageStore, shared_keys
from rdibench.evaluation.sources import deferrable_exits, resolve_model
from rdibench.evaluation.thresholds import resolve_thresholds
from rdibench.flops import exit_costs
from rdibench.models.fetch import fetch
from rdibench.report import write_report
from rdibench.results import RunDir
from rdibench.runner import environment
from rdibench.runner.context import Context, LoadedModel, Progress, cell_image_keys, identity, place
from rdibench.runner.executors import Executor, ExecutorConfig, make_executor

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    out_root: Path | None = None
    resume: Path | None = None
    only: str | None = None
    cell_cache: bool = True
    progress: Progress | None = None
    notes: str = ""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    device: str = "auto"
    """auto, cpu, cuda or cuda:N. ``auto`` is CUDA when available for the local executor; the processes and ray
    executors keep their workers on the CPU unless a device is named."""
    given: Mapping[str, nn.Module] = field(default_factory=dict)
    """Modules passed in memory (``rdibench.evaluate``), by the suite's model name."""
    acceleration: Acceleration = field(default_factory=Acceleration)
    """Channels-last layout and compiled forwards where cells run (speed only; recorded in the manifest)."""


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


def _load_models(
    suite: SuiteConfig,
    data: dict[str, Dataset],
    roots: DataRoots,
    cache: Path,
    device: str,
    given: Mapping[str, nn.Module],
    skip: set[str],
    *,
    train_device: str,
    acceleration: Acceleration,
) -> dict[str, LoadedModel]:
    """Every model but ``skip`` on ``device`` (and ``data`` with it), with its thresholds and per-exit costs; a
    recipe model no store holds is trained first, on ``train_device`` with ``acceleration``."""
    out = {}
    for spec in suite.models:
        if spec.name in skip:
            continue
        ckpt = resolve_model(
            spec,
            cache,
            roots,
            list(suite.stores),
            data=data[spec.name],
            folder=suite.folder(),
            where=suite.origin(),
            module=given.get(spec.name),
            train_device=train_device,
            acceleration=acceleration,
        )
        ckpt.model.to(device)
        dataset = suite.data_for(spec).dataset
        if ckpt.card.dataset != dataset:
            raise ResultsError(f"model {spec.name!r} is a {ckpt.card.dataset} model; it is evaluated on {dataset}")
        protocol = spec.thresholds or suite.thresholds
        x = data[spec.name].x
        thresholds, record = resolve_thresholds(protocol, ckpt, x, roots, batch_size=suite.batch_size)
        out[spec.name] = LoadedModel(
            ckpt,
            ckpt.card.model_id(),
            exit_costs(ckpt.model, dataset_info(dataset).input_shape),
            thresholds,
            record,
            derive_seed(suite.seed, spec.name),
            record["rule"],
        )
    return out


def _cache_key(cell: Cell, ctx: Context) -> str:
    """Everything a cell's numbers depend on, floating-point noise included: a cell computed on another kind of
    device or under other speed settings is computed again, not passed off as this run's."""
    m = ctx.models[cell.model.name]
    return sha256_json(
        {
            "model": m.sha256,
            "attack": cell.attack.signature(cell.exit),
            "probe": cell.attack.probe,
            "data": ctx.data[cell.model.name].checksum,
            "thresholds": m.thresholds,
            "exit_rule": m.exit_rule,
            "seed": m.seed,
            "sanity": ctx.suite.sanity.model_dump(),
            **_computed_alike(ctx),
        }
    )


def _computed_alike(ctx: Context) -> dict[str, Any]:
    """What a cached cell or stored image shares with this run's besides its own inputs: the code, the device kind
    (cuda:0 and cuda:1 compute alike), the speed settings and the batch size (per-batch seeds)."""
    return {
        "batch": ctx.suite.batch_size,
        "code": ctx.code_version,
        "device": ctx.device.split(":")[0],
        "acceleration": ctx.acceleration.describe(),
    }


def _image_store(ctx: Context, shared: Mapping[ImageKey, set[str]]) -> ImageStore:
    """The run's adversarial-image cache: the images of ``shared`` keys (some other cell reuses them) are kept on
    disk in the cache until every cell that needs them is done, so a resumed run reuses them."""
    return ImageStore(
        ctx.cache_dir / "images",
        frozenset(shared),
        sha256_json(_computed_alike(ctx)),
        device=ctx.device,
        acceleration=ctx.acceleration,
    )


def _cache_file(cell: Cell, ctx: Context) -> Path:
    return ctx.cache_dir / "cells" / f"{_cache_key(cell, ctx)}.json"


def _cached(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _store(path: Path, record: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(record))


def _manifest(
    suite: SuiteConfig, source: dict[str, str], ctx: Context, executor: Executor, notes: str
) -> dict[str, Any]:
    return {
        "rdibench_version": environment.versions()["rdibench"],
        "suite": suite.as_written(),
        "suite_source": source,
        "suite_sha256": source.get("sha256"),
        "git": environment.git_state(),
        "versions": environment.versions(),
        **environment.machine(ctx.device),
        "acceleration": ctx.acceleration.describe(),
        "code_version": ctx.code_version,
        "seed": suite.seed,
        "seeds": {name: m.seed for name, m in ctx.models.items()},
        "data": {name: d.provenance() for name, d in ctx.data.items()},
        "models": {
            name: {
                "sha256": m.sha256,
                "card": m.ckpt.card.model_dump(mode="json"),
                "thresholds": m.thresholds,
                "exit_rule": m.exit_rule,
                "threshold_record": m.threshold_record,
                "exit_costs": m.costs.to_dict(),
            }
            for name, m in ctx.models.items()
        },
        "executor": asdict(executor.config),
        "notes": notes,
    }


def prepare(
    suite: SuiteConfig,
    roots: DataRoots,
    *,
    device: str = "cpu",
    given: Mapping[str, nn.Module] | None = None,
    only: Sequence[str] = (),
    train_device: str | None = None,
    acceleration: Acceleration | None = None,
) -> tuple[Context, list[Cell]]:
    """Load the data and models of a suite onto ``device`` (a resolved one: cpu, cuda, cuda:N), resolve
    thresholds and costs there, and expand the cells in run order. ``given``: modules passed in memory.
    A recipe model that must be trained trains on ``train_device`` (default ``device``) with ``acceleration``.

    Published models are fetched first, so a file that cannot be had stops the run before any data is read.
    ``only``: the ``--only`` patterns. A model none of them can select is not trained or downloaded just to be
    left out: it is not loaded, and its cells (expanded from its recipe or catalogue entry) stay pending for a
    later ``--resume``.
    """
    deferred = {
        spec.name: exits
        for spec in suite.models
        if only
        and not _may_select(spec.name, only)
        and (exits := deferrable_exits(spec, roots, suite.stores)) is not None
    }
    for spec in suite.models:
        if spec.published is not None and spec.name not in deferred:
            fetch(spec.published, roots)
    data = _load_data(suite, roots)
    ctx = Context(suite, data, {}, environment.code_version(), roots.cache, device=device)
    place(ctx)  # the data, before thresholds are fitted on it
    loaded = _load_models(
        suite,
        ctx.data,
        roots,
        roots.cache,
        device,
        given or {},
        skip=set(deferred),
        train_device=train_device or device,
        acceleration=acceleration or Acceleration(),
    )
    ctx.models.update(loaded)
    return ctx, expand(suite, {name: m.ckpt.model.num_exits for name, m in ctx.models.items()} | deferred)


def _only_patterns(only: str | None) -> list[str]:
    return [p for p in (only or "").split(",") if p]


def _may_select(model: str, patterns: Sequence[str]) -> bool:
    """Whether some ``--only`` pattern can match a cell key ``model|attack`` of ``model``: a key holds one
    ``|``, so a pattern's text before its own ``|`` must match the model name; one without ``|`` may match any."""
    return any("|" not in p or fnmatch.fnmatch(model, p.split("|", 1)[0]) for p in patterns)


def _open_run(
    suite: SuiteConfig, source: dict[str, str], ctx: Context, executor: Executor, options: RunOptions
) -> RunDir:
    """The run directory: the one to resume (made by this suite, or by it before it gained models), or a new one."""
    if options.resume is None:
        manifest = _manifest(suite, source, ctx, executor, options.notes)
        return RunDir.create(options.out_root or suite.output, suite.name, suite.config_hash(), manifest)
    run = RunDir.open(options.resume)
    recorded = run.manifest
    fresh = _manifest(suite, source, ctx, executor, options.notes)
    if recorded.get("config_hash") != suite.config_hash():
        _grow(run, recorded, suite, fresh, options.resume)
    # models an earlier --only left unloaded enter the manifest when they are first loaded; recorded ones stay
    if any(name not in (recorded.get("models") or {}) for name in fresh["models"]):
        run.update_manifest(**{key: fresh[key] | (recorded.get(key) or {}) for key in ("models", "seeds", "data")})
    return run


def _grow(run: RunDir, recorded: dict[str, Any], suite: SuiteConfig, fresh: dict[str, Any], where: Path) -> None:
    """Resume a run whose suite has since only gained models: the suite with just the run's models (and its
    description then) must hash as the run was made, so every recorded cell still holds; the manifest then
    takes the grown suite and keeps the hashes it grew from. Any other change needs a new run."""
    written = recorded.get("suite") or {}
    earlier = [m["name"] for m in written.get("models", [])]
    if recorded.get("config_hash") != suite.config_hash(models=earlier, description=written.get("description", "")):
        raise ResultsError(
            f"{where} was made by a different version of this suite (config hash "
            f"{recorded.get('config_hash', '?')[:8]} vs {suite.config_hash()[:8]}); --resume accepts a suite that "
            "only gained models, each earlier one kept as it was; start a new run instead"
        )
    added = [m.name for m in suite.models if m.name not in earlier]
    grown = [*recorded.get("grown", []), {"from_config_hash": recorded["config_hash"], "added_models": added}]
    gained = ", ".join(added) or "no model (only its description changed)"
    log.info("%s: the suite gained %s since this run began; earlier cells are kept", where, gained)
    run.update_manifest(
        suite=fresh["suite"],
        suite_source=fresh["suite_source"],
        suite_sha256=fresh["suite_sha256"],
        config_hash=suite.config_hash(),
        grown=grown,
    )


def run_suite(suite: SuiteConfig, source: dict[str, str], roots: DataRoots, options: RunOptions) -> RunDir:
    """Run (or resume) a suite; returns the run directory, whose report files are written at the end.

    The driver alone writes: cached cells first, then each cell the executor finishes, as it arrives
    (any order; ``position`` keeps the suite order for the report). So result directories, flags, the
    cell cache and ``resume`` behave the same under every executor.
    """
    executor = make_executor(options.executor)  # a bad flag or a missing Ray fails before anything loads
    local = executor.config.kind == "local"
    device = resolve_device(options.device, auto=None if local else "cpu")
    # the local executor evaluates in this process; the parallel ones ship a CPU context, each worker moves its own
    patterns = _only_patterns(options.only)
    ctx, cells = prepare(
        suite,
        roots,
        device=device if local else "cpu",
        given=options.given,
        only=patterns,
        train_device=resolve_device(options.device),  # training runs here, in the driver: auto means the GPU
        acceleration=options.acceleration,
    )
    ctx.device, ctx.acceleration = device, options.acceleration
    if local:  # the parallel executors' workers set up their own copies (a compiled forward does not pickle)
        place(ctx)
    position = {c.key: i for i, c in enumerate(cells)}
    suite_keys = [c.key for c in cells]
    needs = {c.key: cell_image_keys(c, ctx) for c in cells if c.model.name in ctx.models}
    shared = shared_keys(needs)
    store = _image_store(ctx, shared) if options.cell_cache else None
    if store is not None:
        ctx.adv_cache = store
    if options.only is not None:
        cells = [c for c in cells if any(fnmatch.fnmatch(c.key, p) for p in patterns)]
        if not cells:
            shown = ", ".join(suite_keys[:6]) + (", ..." if len(suite_keys) > 6 else "")
            raise ConfigError(f"--only {options.only!r} matches none of the suite's cells 'model|attack' ({shown})")
    with executor:  # joins a Ray cluster before the run directory exists: no address, no empty run
        run = _open_run(suite, source, ctx, executor, options)
        done = run.finished_keys()
        todo = [c for c in cells if c.key not in done]
        progress = options.progress
        if progress:
            progress.start(len(cells), len(cells) - len(todo))

        def release(keys: Sequence[str]) -> None:
            """Delete the stored images that no unfinished cell of the run needs any more."""
            if store is not None:
                store.discard({k for key in keys for k in needs.get(key, []) if k in shared and shared[k] <= done})

        def commit(cell: Cell, record: dict[str, Any], cached: bool) -> None:
            run.append_cell({**record, "position": position[cell.key]})
            if record["status"] == "ok":
                done.add(cell.key)
                release([cell.key])
            if progress:
                progress.cell_finished(cell.key, record["status"], cached)

        release(list(done))

        fresh = []
        for cell in todo:
            record = _cached(_cache_file(cell, ctx)) if options.cell_cache else None
            if record is None:
                fresh.append(cell)
            else:  # same inputs under another display name or run: keep this run's identity
                commit(cell, {**record, **identity(cell, ctx), "cached": True}, cached=True)
        with closing(executor.run(fresh, ctx, progress)) as finished:
            for cell, record in finished:
                if record["status"] == "ok" and options.cell_cache:
                    _store(_cache_file(cell, ctx), record)
                commit(cell, record, cached=False)
    run.finish(suite_keys)
    write_report(run)
    return run
