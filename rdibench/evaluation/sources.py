"""Turn a suite's ModelSpec into a loaded checkpoint (a directory, a published model, an import, or a recipe
from the store)."""

from __future__ import annotations

from pathlib import Path

from rdibench.core.hashing import sha256_file
from rdibench.data import DataRoots
from rdibench.evaluation.specs import ModelSpec
from rdibench.models import Checkpoint, load_checkpoint
from rdibench.models.fetch import fetch
from rdibench.models.importers import import_checkpoint


def resolve_model(spec: ModelSpec, cache: Path, roots: DataRoots, stores: list[Path] | None = None) -> Checkpoint:
    """Load the model a suite names; published models are fetched into the cache once (models roots first);
    imports are converted once into ``cache`` keyed by the file's sha256; a recipe's model comes from the
    first store holding it (``stores``, then the cache), else is trained."""
    if spec.checkpoint is not None:
        return load_checkpoint(spec.checkpoint)
    if spec.published is not None:
        return load_checkpoint(fetch(spec.published, roots))
    if spec.import_path is not None and spec.import_kind is not None:
        digest = sha256_file(spec.import_path)[:16]
        out = cache / "imports" / f"{spec.import_kind}-{digest}"
        if not (out / "card.json").exists():
            import_checkpoint(spec.import_kind, spec.import_path, out)
        return load_checkpoint(out)
    from rdibench.training import find_trained, load_recipe, train

    assert spec.recipe is not None  # guaranteed by ModelSpec's validator
    recipe = load_recipe(spec.recipe)
    trained = find_trained(recipe, list(stores or []))
    if trained is not None:
        return load_checkpoint(trained)
    return load_checkpoint(train(recipe, store=cache / "checkpoints", data_roots=roots, progress=False))
