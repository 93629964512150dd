"""Turn a suite's ModelSpec into a loaded checkpoint (a directory, a published model, an import, a recipe from
the store, a user's factory model, or a module given in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from rdibench.core.device import Acceleration
from rdibench.core.errors import ConfigError, RdibenchError
from rdibench.core.hashing import sha256_file
from rdibench.data import DataRoots, Dataset, dataset_info
from rdibench.evaluation.specs import ModelSpec
from rdibench.models import Checkpoint, load_checkpoint
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.factory import build_factory_model, module_checkpoint
from rdibench.models.fetch import describe_fetch, fetch, imported
from rdibench.models.importers import import_checkpoint


def resolve_model(
    spec: ModelSpec,
    cache: Path,
    roots: DataRoots,
    stores: list[Path] | None = None,
    *,
    data: Dataset | None = None,
    folder: Path | None = None,
    where: str = "suite",
    module: nn.Module | None = None,
    train_device: str = "cpu",
    acceleration: Acceleration | None = None,
) -> Checkpoint:
    """Load the model a suite names; published models are fetched into the cache once (models roots first);
    imports are converted once into ``cache`` keyed by the file's sha256; a recipe's model, and each base model
    it is fine-tuned from, comes from the first store holding it (``stores``, then the cache), else is trained
    on ``train_device`` with ``acceleration``, continuing the cache's interrupted training of that recipe if
    there is one (an interrupted suite run resumes where its training stopped).

    A factory model (imported from ``folder``, the suite's) and a ``module`` given in memory are built for
    ``data`` (its image shape and dataset); what goes wrong there is a ConfigError naming ``where`` (the
    suite), the model's key, the file and what was wrong.
    """
    if spec.factory is not None or spec.given is not None:
        return _user_model(spec, data, folder, where, module)
    if spec.checkpoint is not None:
        return load_checkpoint(spec.checkpoint)
    if spec.published is not None:
        return load_checkpoint(fetch(spec.published, roots))
    if spec.import_path is not None and spec.import_kind is not None:
        out = _import_dir(spec.import_path, spec.import_kind, cache)
        if not (out / "card.json").exists():
            import_checkpoint(spec.import_kind, spec.import_path, out)
        return load_checkpoint(out)
    from rdibench.training import load_recipe, train

    assert spec.recipe is not None  # guaranteed by ModelSpec's validator
    path = train(
        load_recipe(spec.recipe),
        store=cache / "checkpoints",
        reuse_from=stores or [],
        data_roots=roots,
        progress=False,
        resume=True,
        device=train_device,
        acceleration=acceleration,
    )
    return load_checkpoint(path)


def describe_source(spec: ModelSpec, roots: DataRoots, stores: Sequence[Path] = ()) -> str:
    """Where :func:`resolve_model` would take ``spec``'s model from, found without loading, downloading or
    training anything (``rdibench validate`` prints it, so a run that would download or train says so first)."""
    if spec.factory is not None:
        return f"factory {spec.factory}" + (f", weights {spec.weights}" if spec.weights else "")
    if spec.given is not None:
        return f"given in memory ({spec.given})"
    if spec.checkpoint is not None:
        return f"checkpoint {spec.checkpoint.resolve()}"
    if spec.published is not None:
        return f"published {spec.published}: {describe_fetch(spec.published, roots)}"
    if spec.import_path is not None and spec.import_kind is not None:
        out = _import_dir(spec.import_path, spec.import_kind, roots.cache)
        done = f"imported, {out}" if (out / "card.json").exists() else "imported into the cache on first use"
        return f"{spec.import_kind} file {spec.import_path}: {done}"
    from rdibench.training import describe_training, load_recipe

    assert spec.recipe is not None  # guaranteed by ModelSpec's validator
    recipe = load_recipe(spec.recipe)
    return f"recipe {recipe.name}: {describe_training(recipe, roots.cache / 'checkpoints', stores)}"


def _import_dir(path: Path, kind: str, cache: Path) -> Path:
    """An external file is converted once, into the cache, keyed by its contents."""
    return cache / "imports" / f"{kind}-{sha256_file(path)[:16]}"


def deferrable_exits(spec: ModelSpec, roots: DataRoots, stores: Sequence[Path] = ()) -> int | None:
    """The exit count of a model whose loading would train it (:func:`untrained_exits`) or fetch it (a published
    model the cache has not imported), known without doing either; None for every other model. A run whose
    ``--only`` leaves such a model out neither trains nor downloads it: its cells stay pending."""
    if spec.published is not None:
        return None if imported(spec.published, roots) else PUBLISHED.get(spec.published).num_exits
    return untrained_exits(spec, roots.cache, stores)


def untrained_exits(spec: ModelSpec, cache: Path, stores: Sequence[Path] = ()) -> int | None:
    """The exit count of a recipe model that neither ``stores`` nor the cache holds trained (loading it would
    train it), read from its recipe without training; None for every other model."""
    if spec.recipe is None:
        return None
    from rdibench.training import find_trained, load_recipe, plan

    recipe = load_recipe(spec.recipe)
    if find_trained(recipe, [*stores, cache / "checkpoints"]) is not None:
        return None
    return plan(recipe).num_exits


def _user_model(
    spec: ModelSpec, data: Dataset | None, folder: Path | None, where: str, module: nn.Module | None
) -> Checkpoint:
    if data is None:
        raise ValueError(f"model {spec.name!r} is built for the data it is evaluated on: pass data")
    shape, dataset = tuple(data.x.shape[1:]), data.spec.dataset
    classes = dataset_info(dataset).num_classes
    key = "factory" if spec.factory is not None else "given"
    try:
        if spec.factory is not None:
            return build_factory_model(
                spec.factory,
                spec.kwargs,
                weights=spec.weights,
                folder=folder,
                name=spec.name,
                dataset=dataset,
                input_shape=shape,
                num_classes=classes,
            )
        if module is None:
            raise ConfigError("a model given in memory exists only in rdibench.evaluate; a suite names a factory")
        return module_checkpoint(module, name=spec.name, dataset=dataset, input_shape=shape, num_classes=classes)
    except RdibenchError as e:
        raise ConfigError(f"{where}: models.{spec.name}.{key}: {e}") from None
