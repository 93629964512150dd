"""``train(recipe)``: check everything, reuse or resume, train, fit thresholds on held-out data, write the card.

A run lives in ``<store>/<recipe name>-<recipe hash[:12]>/`` (or ``out_dir``): ``recipe.yaml`` while and after
training, ``train_state.pt`` while unfinished, then ``model.safetensors`` + ``card.json`` (an ordinary rdibench
checkpoint). A finished directory is returned as is, so suites reuse trained models instead of retraining.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch_pruning as tp
import yaml

from rdibench.core.device import Acceleration
from rdibench.core.errors import CheckpointError, ConfigError
from rdibench.core.hashing import sha256_json
from rdibench.core.seeding import derive_seed
from rdibench.core.types import ExitLogits
from rdibench.core.version import __version__
from rdibench.data import DataRoots, Dataset, dataset_info, load
from rdibench.flops import exit_costs, expected_mflops
from rdibench.inference import adjust, fit_thresholds, route, routed_logits
from rdibench.models import ModelCard, MultiExitNet, create_model, load_checkpoint, save_checkpoint
from rdibench.models.card import ThresholdFit, ThresholdShift
from rdibench.models.checkpoint import CARD, read_card
from rdibench.training import pruning, sizing
from rdibench.training.defence import Defence
from rdibench.training.loop import Trainer, seeded_global_rng
from rdibench.training.recipe import TrainRecipe, load_recipe, presets
from rdibench.training.sampling import BatchSampler
from rdibench.training.watch import HeldOutWatch

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
RECIPE_FILE = "recipe.yaml"
VAL_BATCH = 1000
# never change the weights; base and match_mflops enter by the identity of what they name
HASH_EXCLUDES = {"description", "checkpoint_every", "base", "match_mflops"}
Info = dict[str, Any] | None
"""What the card records of a pruning or of a match_mflops sizing (None: none done)."""


@dataclass(frozen=True)
class Plan:
    """A recipe checked against its model: resolved base, architecture, exits, and the recipe hash."""

    recipe: TrainRecipe
    hash: str
    base: Path | Plan | None  # a checkpoint directory, or the plan of a base recipe (trained on demand)
    match: Path | Plan | None  # match_mflops: the same
    arch: str
    arch_kwargs: dict[str, Any]
    num_exits: int


def resolve_ref(recipe: TrainRecipe, key: str) -> Path | TrainRecipe:
    """``base`` (or ``match_mflops``) as a checkpoint directory or a recipe: a path relative to the recipe's
    folder or the working directory, else a preset name."""
    ref = str(getattr(recipe, key))
    folder = recipe.source.parent if recipe.source else Path.cwd()
    for cand in dict.fromkeys([folder / ref, Path(ref)]):
        if (cand / CARD).is_file():
            return cand
        if cand.is_file():
            return load_recipe(cand)
    if ref in presets():
        return load_recipe(ref)
    raise recipe.error(key, f"{ref!r} is neither a checkpoint directory, a recipe file nor a preset")


def _resolve(recipe: TrainRecipe, key: str, chain: tuple[str, ...]) -> tuple[Path | Plan, str]:
    """What ``key`` names, checked (a recipe planned in turn), and its identity for this recipe's hash."""
    ref = resolve_ref(recipe, key)
    if isinstance(ref, Path):
        return ref, read_card(ref).weights_sha256
    if ref.name in (*chain, recipe.name):
        raise recipe.error(key, f"circular chain {' -> '.join((*chain, recipe.name, ref.name))}")
    planned = plan(ref, (*chain, recipe.name))
    return planned, planned.hash


def plan(recipe: TrainRecipe, _chain: tuple[str, ...] = ()) -> Plan:
    """Every check that needs the model, done before any data is loaded or any training starts."""
    base: Path | Plan | None = None
    match: Path | Plan | None = None
    data = dataset_info(recipe.data.dataset)
    if recipe.model is not None:
        arch, kwargs, base_id = recipe.model.arch, dict(recipe.model.kwargs), None
        model = create_model(arch, num_classes=data.num_classes, **kwargs)
    else:
        base, base_id = _resolve(recipe, "base", _chain)
        if isinstance(base, Path):
            ckpt = load_checkpoint(base)
            model, arch, kwargs = ckpt.model, ckpt.card.arch, ckpt.card.arch_kwargs
        else:
            arch, kwargs = base.arch, base.arch_kwargs
            model = create_model(arch, num_classes=data.num_classes, **kwargs)
    match_id = None
    if recipe.match_mflops is not None:
        match, match_id = _resolve(recipe, "match_mflops", _chain)
    shape = tuple(getattr(model, "input_shape", data.input_shape))
    if shape != data.input_shape:
        raise recipe.error(
            "data.dataset", f"{arch} takes inputs of shape {shape}; {data.name} images are {data.input_shape}"
        )
    n = model.num_exits
    kind = recipe.defence.kind
    if kind == "pgd_at" and n != 1:
        raise recipe.error("defence.kind", f"pgd_at trains static backbones; {arch} has {n} exits (use kind rdi)")
    if kind == "rdi" and n == 1:
        raise recipe.error("defence.kind", f"rdi needs a multi-exit model; {arch} has one exit (use kind pgd_at)")
    if recipe.exit_weights is not None and len(recipe.exit_weights) != n:
        raise recipe.error("exit_weights", f"{arch} has {n} exits, got {len(recipe.exit_weights)} weights")
    for key in ("scale", "offset"):
        values = getattr(recipe.thresholds, key)
        if values is not None and len(values) != n - 1:
            raise recipe.error(f"thresholds.{key}", f"needs one value per side exit ({n - 1}), got {len(values)}")
    target, key = (recipe.prune.target_mflops if recipe.prune else None), "prune.target_mflops"
    if isinstance(match, Path):  # a trained model's cost is known now; a recipe's once it is trained
        target, key = round(sizing.matched_mflops(match), 4), "match_mflops"
    if target is not None and recipe.prune and target >= (dense := pruning.main_mflops(model)):
        raise recipe.error(key, f"{target} is not below the base model's {dense:.4g} MFlops")
    dump = recipe.model_dump(mode="json", exclude=HASH_EXCLUDES)
    identity = {"recipe": dump, "base": base_id, **({"match_mflops": match_id} if match_id else {})}
    return Plan(recipe, sha256_json(identity), base, match, arch, kwargs, n)


def train(
    recipe: TrainRecipe,
    *,
    out_dir: Path | str | None = None,
    store: Path | str | None = None,
    resume: bool = False,
    progress: bool = True,
    data_roots: DataRoots,
    device: str = "cpu",
    acceleration: Acceleration | None = None,
    reuse_from: Sequence[Path | str] = (),
) -> Path:
    """Train ``recipe`` (or reuse its finished run) and return the checkpoint directory.

    ``store`` defaults to ``<data_roots.cache>/checkpoints``; base recipes are trained (or reused) there too.
    ``reuse_from``: read-only stores (the committed ``baselines/models``) whose finished runs of this recipe
    or of its bases are used as they are, so a pruned model is fine-tuned from the committed backbone instead
    of a retrained one. ``resume`` continues an interrupted run of the same recipe from its last checkpoint.
    ``acceleration`` (channels-last layout, compiled forwards) changes only speed, so it is not part of the
    recipe; the card records the device and settings of each stretch of the run (a resume starts one).
    """
    p = plan(recipe)
    store = Path(store) if store else data_roots.cache / "checkpoints"
    lookup = tuple(Path(s) for s in reuse_from)
    if out_dir is None and (found := _find(p, lookup)) is not None:
        logger.info("reusing the trained %s in %s", recipe.name, found)
        return found
    run_dir = Path(out_dir) if out_dir else _store_dir(p, store)
    how = _How(resume, progress, torch.device(device), acceleration or Acceleration(), lookup)
    return _train(p, run_dir, store, data_roots, how)


def describe_training(recipe: TrainRecipe, store: Path, reuse_from: Sequence[Path] = ()) -> str:
    """What :func:`train` with these stores would do, found without loading data or training: the finished run
    it would use, else what it would train (and first which bases). Why: ``rdibench validate`` shows it, so a
    suite that would train for hours says so before it starts."""
    return _describe(plan(recipe), store, tuple(reuse_from))


def _describe(p: Plan, store: Path, lookup: tuple[Path, ...]) -> str:
    found = _find(p, (*lookup, store))
    if found is not None:
        return f"trained, {found}"
    r = p.recipe
    state = _store_dir(p, store) / STATE_FILE
    text = f"NOT TRAINED: trains {r.schedule.iterations:,} iterations of batch {r.batch_size} first"
    if state.is_file():
        text += f" (continuing the interrupted run in {state.parent})"
    if isinstance(p.base, Plan):
        text += f"; its base {p.base.recipe.name}: {_describe(p.base, store, lookup)}"
    if isinstance(p.match, Plan):
        text += f"; sized to the cost of {p.match.recipe.name}: {_describe(p.match, store, lookup)}"
    return text


def portable_path(path: Path) -> str:
    """``path`` relative to the git work tree holding it (else its name): a card must not name the folders of
    the machine that trained it, and the recipe itself is in the card anyway."""
    path = path.resolve()
    root = next((d for d in path.parents if (d / ".git").exists()), path.parent)
    return path.relative_to(root).as_posix()


def _store_dir(p: Plan, store: Path) -> Path:
    """The store keys runs by recipe name (for people) and hash (for identity)."""
    return store / f"{p.recipe.name}-{p.hash[:12]}"


def find_trained(recipe: TrainRecipe, stores: Sequence[Path]) -> Path | None:
    """The finished checkpoint of exactly this recipe in the first store that has it (e.g. committed models)."""
    return _find(plan(recipe), stores)


def _find(p: Plan, stores: Sequence[Path]) -> Path | None:
    for store in stores:
        run_dir = _store_dir(p, store)
        if (run_dir / CARD).is_file() and (read_card(run_dir).training or {}).get("recipe_hash") == p.hash:
            return run_dir
    return None


@dataclass(frozen=True)
class _How:
    """How a training runs (never what it computes), passed on to the base recipes it trains first."""

    resume: bool
    progress: bool
    device: torch.device
    acceleration: Acceleration
    reuse_from: tuple[Path, ...]


def _train(p: Plan, run_dir: Path, store: Path, roots: DataRoots, how: _How) -> Path:
    recipe, device = p.recipe, how.device
    if (run_dir / CARD).is_file():
        if (read_card(run_dir).training or {}).get("recipe_hash") != p.hash:
            raise CheckpointError(f"{run_dir} holds a model of another recipe; choose another --out")
        logger.info("reusing the trained %s in %s", recipe.name, run_dir)
        return run_dir
    state_path = run_dir / STATE_FILE
    if state_path.exists() and not how.resume:
        raise ConfigError(f"{run_dir} holds an interrupted run of {recipe.name}: pass --resume to continue it")
    train_data, val_data = load(recipe.data.train_spec(), roots), load(recipe.data.val_spec(), roots)
    if recipe.batch_size > len(train_data):
        raise recipe.error("batch_size", f"{recipe.batch_size} exceeds the {len(train_data)} training images")
    base_dir, match_dir = (_trained(ref, store, roots, how) for ref in (p.base, p.match))
    p, matched = _sized(p, match_dir)
    model, prune_info = _build(p, base_dir, matched)
    model.to(device)
    sampler = BatchSampler(
        train_data.x,
        train_data.y,
        recipe.batch_size,
        seed=derive_seed(recipe.seed, "batches"),
        augment=recipe.data.augment == "crop_flip",
    )
    weights = recipe.exit_weights or [1.0] * p.num_exits
    trainer = Trainer(
        model,
        recipe,
        sampler,
        Defence(recipe.defence, weights, recipe.seed),
        device=device,
        state_path=state_path,
        recipe_hash=p.hash,
        watch=HeldOutWatch(recipe.watch, val_data.x, val_data.y, recipe.seed) if recipe.watch else None,
        acceleration=how.acceleration,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    if state_path.exists():
        trainer.load()
    trainer.run(progress=how.progress)
    Acceleration.release(model)  # FLOPs are counted, and weights written, from the plain module
    if prune_info and not prune_info["structured"]:
        pruning.make_permanent(model)
        prune_info["sparsity"] = pruning.weight_sparsity(model)
    card = _card(p, trainer, model, val_data, train_data, base_dir, (prune_info, matched), device)
    save_checkpoint(model.cpu(), card, run_dir)
    state_path.unlink(missing_ok=True)
    logger.info("trained %s in %.0f s -> %s", recipe.name, trainer.wall_time_s, run_dir)
    return run_dir


def _trained(ref: Path | Plan | None, store: Path, roots: DataRoots, how: _How) -> Path | None:
    """The checkpoint a base or match_mflops names: as given, found finished, or trained now."""
    if isinstance(ref, Plan):
        return _find(ref, how.reuse_from) or _train(ref, _store_dir(ref, store), store, roots, how)
    return ref


def _sized(p: Plan, match_dir: Path | None) -> tuple[Plan, Info]:
    """The plan with match_mflops applied (a model built here gets the width nearest the matched cost), and
    what the card records of it."""
    if match_dir is None:
        return p, None
    target = sizing.matched_mflops(match_dir)
    matched: dict[str, Any] = {
        "path": portable_path(match_dir),
        "weights_sha256": read_card(match_dir).weights_sha256,
        "mflops": target,
    }
    if p.recipe.prune is None:
        classes = dataset_info(p.recipe.data.dataset).num_classes
        matched["width"] = sizing.width_for_mflops(p.arch, p.arch_kwargs, classes, target)
        p = replace(p, arch_kwargs={**p.arch_kwargs, "width": matched["width"]})
    return p, matched


def _build(p: Plan, base_dir: Path | None, matched: Info) -> tuple[MultiExitNet, Info]:
    """The starting model: seeded fresh init, or the base checkpoint, pruned as the recipe asks (to the matched
    cost under match_mflops)."""
    recipe = p.recipe
    if base_dir is None:
        with seeded_global_rng(derive_seed(recipe.seed, "init"), torch.device("cpu")):
            return create_model(
                p.arch, num_classes=dataset_info(recipe.data.dataset).num_classes, **p.arch_kwargs
            ), None
    model = load_checkpoint(base_dir).model
    spec = recipe.prune
    if spec is None:
        return model, None
    target = matched["mflops"] if matched else spec.target_mflops
    if spec.kind == "structured":
        return model, pruning.prune_structured(model, float(target))  # type: ignore[arg-type]
    amount = spec.target_sparsity or pruning.sparsity_for_mflops(model, float(target))  # type: ignore[arg-type]
    return model, {**pruning.prune_unstructured(model, amount), "target_mflops": target}


@torch.no_grad()
def _val_logits(model: MultiExitNet, data: Dataset, device: torch.device) -> ExitLogits:
    model.eval()
    parts = [model(data.x[i : i + VAL_BATCH].to(device)) for i in range(0, len(data), VAL_BATCH)]
    return [torch.cat([part[e] for part in parts]).cpu() for e in range(model.num_exits)]


def _card(
    p: Plan,
    trainer: Trainer,
    model: MultiExitNet,
    val: Dataset,
    train_data: Dataset,
    base_dir: Path | None,
    sizing_info: tuple[Info, Info],
    device: torch.device,
) -> ModelCard:
    """Thresholds fitted on the validation hold-out (MSDNet equal shares, then the recipe's shift), plus the
    provenance a reader needs to trust or redo the run (``sizing_info``: what pruning did, what match_mflops
    matched)."""
    recipe, n = p.recipe, model.num_exits
    prune_info, matched = sizing_info
    logits = _val_logits(model, val, device)
    shift = recipe.thresholds
    base_t = fit_thresholds(logits, shift.rule) if n > 1 else []
    thresholds = adjust(base_t, shift.scale, shift.offset)
    exits = route(logits, thresholds, shift.rule)
    fractions = [float((exits == i).float().mean()) for i in range(n)]
    costs = exit_costs(model, dataset_info(recipe.data.dataset).input_shape)
    versions = {"rdibench": __version__, "torch": torch.__version__, "python": platform.python_version()}
    if prune_info:
        versions["torch_pruning"] = tp.__version__
    training = {
        "recipe": recipe.model_dump(mode="json"),
        "recipe_hash": p.hash,
        "recipe_file": portable_path(recipe.source) if recipe.source else None,
        "seed": recipe.seed,
        "versions": versions,
        "data": {"train": train_data.provenance(), "val": val.provenance()},
        "base": {"path": portable_path(base_dir), "weights_sha256": read_card(base_dir).weights_sha256}
        if base_dir
        else None,
        "matched_mflops": matched,
        "iterations": trainer.iteration,
        "wall_time_s": trainer.wall_time_s,
        "resumes": trainer.resumes,
        "stretches": trainer.stretches(),
        "curves": trainer.curves,
        "watch": {
            "attack": recipe.watch.attack.label(),
            "objective": "average",
            "curve": trainer.watch.curve if trainer.watch else [],
            "selected_iteration": trainer.selected_iteration,
        }
        if recipe.watch
        else None,
        "mflops": costs.to_dict(),
        "val": {
            "clean_acc_per_exit": [float((z.argmax(1) == val.y).float().mean()) for z in logits],
            "clean_acc_routed": float((routed_logits(logits, exits).argmax(1) == val.y).float().mean()),
            "exit_fractions": fractions,
            "expected_mflops": {c: expected_mflops(fractions, costs.of(c)) for c in ("paper", "full")},
        },
    }
    data = recipe.data
    fit = ThresholdFit(
        protocol="held-out",
        split=f"{data.dataset}/val n={len(val)} (val_size {data.val_size}, val_seed {data.val_seed})",
        n=len(val),
        base=base_t,
        scale=shift.scale,
        offset=shift.offset,
    )
    shifted = shift.scale is not None or shift.offset is not None
    return ModelCard(
        name=recipe.name,
        arch=p.arch,
        arch_kwargs=p.arch_kwargs,
        dataset=data.dataset,
        num_exits=n,
        thresholds=thresholds,
        exit_rule=shift.rule,
        threshold_fit=fit if n > 1 else None,
        threshold_shift=ThresholdShift(scale=shift.scale, offset=shift.offset, origin=f"recipe {recipe.name}")
        if shifted
        else None,
        source=f"rdibench train {recipe.name} (recipe sha256 {p.hash[:12]})",
        defence=recipe.defence.label(),
        training=training,
        pruning=prune_info,
    )
