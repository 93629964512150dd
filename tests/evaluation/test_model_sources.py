"""A suite's recipe model comes from a committed store when one holds it; only otherwise is it trained."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rdibench.core.device import Acceleration
from rdibench.data import DataRoots
from rdibench.evaluation.sources import resolve_model
from rdibench.evaluation.specs import ModelSpec
from rdibench.models.checkpoint import read_card
from rdibench.training import load_recipe, train
from tests.training.conftest import TINY, crash, interrupt_at


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


def test_a_suite_continues_an_interrupted_training_of_its_recipe(
    tmp_path: Path, roots: DataRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted suite run is rerun as it was: its training goes on from the cache's last checkpoint (as
    ``rdibench train --resume`` would) with the run's speed settings, and ends on the uninterrupted model."""
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    straight = train(load_recipe(recipe), store=tmp_path / "straight", data_roots=roots, progress=False)
    cache, spec = tmp_path / "cache", ModelSpec(name="m", recipe=str(recipe))
    with monkeypatch.context() as m:
        interrupt_at(m, 5, crash)
        with pytest.raises(RuntimeError, match="power cut"):
            resolve_model(spec, cache, roots, [])
    assert any((cache / "checkpoints").glob("tiny-*/train_state.pt"))
    fast = Acceleration(channels_last=True)
    ckpt = resolve_model(spec, cache, roots, [], train_device="cpu", acceleration=fast)
    training = ckpt.card.training
    assert training["resumes"] == 1
    (before, after) = training["stretches"]
    assert before["iterations"][1] == after["iterations"][0] and after["iterations"][1] == training["iterations"]
    assert [s["device"] for s in (before, after)] == ["cpu", "cpu"]
    assert [s["acceleration"] for s in (before, after)] == [Acceleration().describe(), fast.describe()]
    assert training["curves"][0] == read_card(straight).training["curves"][0]  # before the cut: the same run
