"""Pruned baselines reach their targets, survive save/load, and keep their structure through fine-tuning."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots
from rdibench.flops import exit_costs
from rdibench.models import Checkpoint, ModelCard, create_model, load_checkpoint, save_checkpoint
from rdibench.models.checkpoint import read_card
from rdibench.training import TrainRecipe, describe_training, load_recipe, prune_structured, prune_unstructured, train
from rdibench.training.pruning import make_permanent, sparsity_for_mflops, weight_sparsity
from rdibench.training.sizing import width_for_mflops
from tests.training.conftest import interrupt_at

DENSE = 9.2559814453125  # SmallCNN, paper convention (docs/protocol.md §7)


@pytest.fixture
def smallcnn_ckpt(tmp_path: Path) -> Path:
    """A SmallCNN checkpoint to prune (random weights: pruning only needs magnitudes)."""
    torch.manual_seed(0)
    model = create_model("smallcnn")
    card = ModelCard(name="base", arch="smallcnn", dataset="mnist", num_exits=1, thresholds=[], source="test")
    return save_checkpoint(model, card, tmp_path / "base")


def test_structured_pruning_meets_the_mflops_target_and_reloads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("smallcnn")
    info = prune_structured(model, 5.7)
    after = exit_costs(model).paper[-1]
    assert 5.0 < after <= 5.7 and info["mflops_after"] == after and info["mflops_before"] == pytest.approx(DENSE)
    assert info["params_after"] < info["params_before"] and model(torch.rand(2, 1, 28, 28))[0].shape == (2, 10)
    card = ModelCard(name="p", arch="smallcnn", dataset="mnist", num_exits=1, source="test", pruning=info)
    loaded = load_checkpoint(save_checkpoint(model, card, tmp_path / "p")).model
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(loaded(x)[0], model.eval()(x)[0])


def test_unstructured_pruning_meets_sparsity_and_sparse_mflops() -> None:
    torch.manual_seed(0)
    model = create_model("smallcnn")
    info = prune_unstructured(model, 0.6)
    assert weight_sparsity(model) == pytest.approx(0.6, abs=1e-4) == info["sparsity"]
    make_permanent(model)
    assert weight_sparsity(model) == pytest.approx(0.6, abs=1e-4) and "segments.0.0.0.weight" in model.state_dict()
    assert exit_costs(model).paper[-1] == pytest.approx(info["mflops_after"])
    assert info["mflops_after"] < DENSE
    fresh = create_model("smallcnn")
    target = sparsity_for_mflops(fresh, 5.7)
    prune_unstructured(fresh, target)
    make_permanent(fresh)
    assert 5.6 < exit_costs(fresh).paper[-1] <= 5.7


def test_impossible_targets_fail_before_training(
    make_recipe: Callable[..., TrainRecipe], smallcnn_ckpt: Path, roots: DataRoots, tmp_path: Path
) -> None:
    recipe = make_recipe(model=None, base=str(smallcnn_ckpt), prune={"kind": "structured", "target_mflops": 12.0})
    with pytest.raises(ConfigError, match=r"line \d+: prune.target_mflops: 12.0 is not below .* 9.256 MFlops"):
        train(recipe, out_dir=tmp_path / "never", data_roots=roots, progress=False)
    assert not (tmp_path / "never").exists()
    with pytest.raises(ConfigError, match="unreachable"):
        prune_structured(create_model("smallcnn"), 0.001)


def _fine_tuned(
    make_recipe: Callable[..., TrainRecipe], base: Path, roots: DataRoots, out: Path, prune: dict
) -> Checkpoint:
    recipe = make_recipe(model=None, base=str(base), prune=prune, schedule={"iterations": 3, "milestones": []})
    ckpt = load_checkpoint(train(recipe, out_dir=out, data_roots=roots, progress=False))
    assert ckpt.card.training["base"]["weights_sha256"] == read_card(base).weights_sha256
    return ckpt


def test_structured_prune_then_adversarial_fine_tune(
    make_recipe: Callable[..., TrainRecipe], smallcnn_ckpt: Path, roots: DataRoots, tmp_path: Path
) -> None:
    ckpt = _fine_tuned(make_recipe, smallcnn_ckpt, roots, tmp_path / "ft", {"kind": "structured", "target_mflops": 5.7})
    assert ckpt.card.pruning["structured"] and ckpt.card.training["mflops"]["paper"][-1] <= 5.7


def test_unstructured_prune_then_adversarial_fine_tune(
    make_recipe: Callable[..., TrainRecipe], smallcnn_ckpt: Path, roots: DataRoots, tmp_path: Path
) -> None:
    ckpt = _fine_tuned(
        make_recipe, smallcnn_ckpt, roots, tmp_path / "ft", {"kind": "unstructured", "target_sparsity": 0.5}
    )
    assert weight_sparsity(ckpt.model) == ckpt.card.pruning["sparsity"] >= 0.5  # zeros survived fine-tuning
    assert ckpt.card.training["mflops"]["paper"][-1] < DENSE


def test_a_base_recipe_is_trained_into_the_store_and_reused(
    recipe_file: Callable[..., Path], make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path
) -> None:
    recipe_file("defended", schedule={"iterations": 2, "milestones": []})
    child = make_recipe(
        "pruned",
        model=None,
        base="defended.yaml",  # relative to the child's folder
        prune={"kind": "structured", "target_mflops": 5.7},
        schedule={"iterations": 2, "milestones": []},
    )
    store = tmp_path / "store"
    card = read_card(train(child, store=store, data_roots=roots, progress=False))
    (base_dir,) = store.glob("defended-*")
    assert card.training["base"]["weights_sha256"] == read_card(base_dir).weights_sha256
    assert card.pruning["mflops_after"] <= 5.7


def test_a_base_in_a_read_only_store_is_used_and_describe_says_what_would_train(
    recipe_file: Callable[..., Path],
    make_recipe: Callable[..., TrainRecipe],
    roots: DataRoots,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A committed base is fine-tuned from, not retrained; describe_training (what `rdibench validate` prints)
    says at every stage what train would do: train the base and the model, resume, or reuse."""
    recipe_file("defended", schedule={"iterations": 2, "milestones": []})
    child = make_recipe(
        "pruned",
        model=None,
        base="defended.yaml",
        prune={"kind": "structured", "target_mflops": 5.7},
        schedule={"iterations": 4, "milestones": []},
    )
    committed, cache = tmp_path / "committed", tmp_path / "cache"
    untrained = "NOT TRAINED: trains 4 iterations of batch 16 first"
    assert describe_training(child, cache, [committed]) == (
        f"{untrained}; its base defended: NOT TRAINED: trains 2 iterations of batch 16 first"
    )
    base_dir = train(load_recipe(tmp_path / "defended.yaml"), store=committed, data_roots=roots, progress=False)
    assert describe_training(child, cache, [committed]) == f"{untrained}; its base defended: trained, {base_dir}"
    with monkeypatch.context() as m:
        interrupt_at(m, 3, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            train(child, store=cache, reuse_from=[committed], data_roots=roots, progress=False)
    (cut,) = cache.glob("pruned-*")
    assert describe_training(child, cache, [committed]) == (
        f"{untrained} (continuing the interrupted run in {cut}); its base defended: trained, {base_dir}"
    )
    done = train(child, store=cache, reuse_from=[committed], data_roots=roots, progress=False, resume=True)
    assert done == cut and not list(cache.glob("defended-*"))  # the committed base was not trained again
    assert read_card(done).training["base"]["weights_sha256"] == read_card(base_dir).weights_sha256
    assert describe_training(child, cache, [committed]) == f"trained, {done}"
    assert train(child, store=tmp_path / "other", reuse_from=[cache], data_roots=roots, progress=False) == done
    assert not (tmp_path / "other").exists()


def test_the_width_search_finds_the_committed_compressed_resnet38s() -> None:
    """cifar-resnet38-compressed-fastat.yaml's width 0.81 was chosen by hand as the step nearest the average
    RDI-ResNet-38's measured 53.39 MFlops (0.82 rounds to the same channels): the search finds it too."""
    assert width_for_mflops("resnet38", {}, 10, 53.39) == 0.81


def test_match_mflops_sizes_pruned_and_compressed_models_to_the_trained_rdi_net(
    recipe_file: Callable[..., Path], make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path
) -> None:
    short = {"iterations": 2, "milestones": []}
    recipe_file("rdi", model={"arch": "rdi_smallcnn"}, defence={"kind": "rdi", "objective": "average"}, schedule=short)
    recipe_file("defended", schedule=short)
    pruned = make_recipe(
        "pruned",
        model=None,
        base="defended.yaml",
        prune={"kind": "structured"},
        match_mflops="rdi.yaml",
        schedule=short,
    )
    compressed = make_recipe("compressed", match_mflops="rdi.yaml", schedule=short)
    store = tmp_path / "store"
    assert describe_training(compressed, store).endswith(
        "; sized to the cost of rdi: NOT TRAINED: trains 2 iterations of batch 16 first"
    )

    small = read_card(train(compressed, store=store, data_roots=roots, progress=False))
    (rdi_dir,) = store.glob("rdi-*")  # trained first, once, for both
    target = read_card(rdi_dir).training["val"]["expected_mflops"]["paper"]
    assert target < DENSE
    matched = small.training["matched_mflops"]
    assert matched["mflops"] == target and matched["weights_sha256"] == read_card(rdi_dir).weights_sha256
    width = small.arch_kwargs["width"]
    assert width == matched["width"] and width < 1

    def cost(w: float) -> float:
        return exit_costs(create_model("smallcnn", width=w)).paper[-1]

    assert small.training["mflops"]["paper"][-1] == cost(width)
    assert all(abs(cost(width) - target) <= abs(cost(w) - target) for w in (width - 0.01, width + 0.01))

    cut = read_card(train(pruned, store=store, data_roots=roots, progress=False))
    assert len(list(store.glob("rdi-*"))) == 1, "reused, not trained again"
    assert cut.training["matched_mflops"]["mflops"] == target and cut.pruning["mflops_after"] <= target
    assert describe_training(pruned, store).startswith("trained, ")
