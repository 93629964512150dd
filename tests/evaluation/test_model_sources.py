"""A suite's recipe model comes from a committed store when one holds it; only otherwise is it trained."""

from __future__ import annotations

from pathlib import Path

import yaml

from rdibench.data import DataRoots
from rdibench.evaluation.sources import resolve_model
from rdibench.evaluation.specs import ModelSpec
from rdibench.models.checkpoint import read_card
from rdibench.training import load_recipe, train
from tests.training.conftest import TINY


def test_a_recipe_found_in_a_store_is_loaded_not_retrained(tmp_path: Path, roots: DataRoots) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    store = tmp_path / "committed"
    trained = train(load_recipe(recipe), store=store, data_roots=roots, progress=False)
    cache = tmp_path / "cache"
    ckpt = resolve_model(ModelSpec(name="m", recipe=str(recipe)), cache, roots, [store])
    assert ckpt.card.weights_sha256 == read_card(trained).weights_sha256
    assert not (cache / "checkpoints").exists(), "a stored model must not be trained again"


def test_a_recipe_missing_from_every_store_is_trained_into_the_cache(tmp_path: Path, roots: DataRoots) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    cache = tmp_path / "cache"
    resolve_model(ModelSpec(name="m", recipe=str(recipe)), cache, roots, [tmp_path / "empty"])
    assert any((cache / "checkpoints").glob("tiny-*/card.json"))
