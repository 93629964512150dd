"""Recipes: the paper presets match docs/protocol.md §5, and every bad recipe fails on load naming key, line and fix."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from rdibench.core.errors import ConfigError
from rdibench.models.checkpoint import read_card
from rdibench.training import TrainRecipe, load_recipe, plan, presets
from rdibench.training.recipe import ScheduleRecipe
from rdibench.training.run import find_trained, portable_path

REPO = Path(__file__).resolve().parents[2]


def test_paper_presets_follow_the_authors_code() -> None:
    assert presets() == ["paper-cifar-mobilenetv2", "paper-cifar-resnet38", "paper-mnist"]
    m = load_recipe("paper-mnist")
    a = m.defence.attack
    assert (m.model.arch, m.defence.kind, m.defence.objective) == ("rdi_smallcnn", "rdi", "max_average")
    assert (a.eps, a.steps, a.step_size, a.random_start) == (0.3, 40, 0.01, True)
    assert (m.optimizer.lr, m.optimizer.momentum, m.optimizer.weight_decay, m.batch_size) == (0.033, 0.9, 5e-4, 256)
    assert (m.schedule.iterations, m.schedule.milestones, m.schedule.gamma) == (13100, [11700, 12900], 0.1)
    assert m.thresholds.scale == [3.0, 4.0] and m.data.augment == "none"
    r = load_recipe("paper-cifar-resnet38")
    assert (r.defence.attack.eps, r.defence.attack.step_size, r.defence.attack.steps) == (8 / 255, 2 / 255, 10)
    assert (r.optimizer.lr, r.optimizer.weight_decay, r.batch_size) == (0.1, 1e-4, 128)
    assert (r.schedule.iterations, r.schedule.milestones, r.data.augment) == (64000, [32000, 48000], "crop_flip")
    mob = load_recipe("paper-cifar-mobilenetv2")
    assert (mob.model.arch, mob.optimizer.lr, mob.schedule.iterations) == ("rdi_mobilenetv2", 0.05, 82000)
    assert mob.schedule.milestones == [61700, 70000, 78000]


RECIPES = sorted(p for p in (REPO / "baselines").rglob("*.yaml") if "models" not in p.relative_to(REPO).parts)
"""Committed recipes (the copies inside trained checkpoints under baselines/models are records, not inputs)."""


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_committed_cpu_recipes_are_valid(path: Path) -> None:
    plan(load_recipe(path))  # includes resolving each base recipe and checking pruning targets


COMMITTED = sorted(p.parent for p in (REPO / "baselines" / "models").glob("*/card.json"))


@pytest.mark.parametrize("run_dir", COMMITTED, ids=lambda p: p.name)
def test_committed_recipes_still_find_their_committed_models(run_dir: Path) -> None:
    """A recipe field added with a default that enters the hashed dump would make every suite retrain the
    committed models: each committed model's recipe file must still hash to it."""
    recipe_file = read_card(run_dir).training["recipe_file"]
    assert find_trained(load_recipe(REPO / recipe_file), [run_dir.parent]) == run_dir


def test_schedule_is_a_pure_function_of_the_iteration() -> None:
    s = ScheduleRecipe(iterations=100, milestones=[50, 80], warmup={"iterations": 10, "lr": 0.01})
    assert [s.lr_at(i, 1.0) for i in (0, 9, 10, 49, 50, 79, 80)] == pytest.approx([0.01, 0.01, 1, 1, 0.1, 0.1, 0.01])
    short = s.shortened(10)
    assert (short.iterations, short.milestones, short.warmup.iterations) == (10, [5, 8], 1)


def test_cyclic_schedule_rises_to_the_peak_and_falls_to_zero() -> None:
    s = ScheduleRecipe(iterations=100, kind="cyclic", peak=0.4)
    lrs = [s.lr_at(i, 0.2) for i in range(100)]
    top = max(range(100), key=lrs.__getitem__)
    assert top in (39, 40) and lrs[top] == pytest.approx(0.2, rel=0.02)
    assert all(a < b for a, b in itertools.pairwise(lrs[: top + 1]))
    assert all(a > b for a, b in itertools.pairwise(lrs[top:]))
    assert 0 < lrs[0] < 0.01 and 0 < lrs[-1] < 0.01
    assert s.shortened(10).kind == "cyclic"


def test_fields_added_later_keep_old_recipe_hashes(make_recipe: Callable[..., TrainRecipe]) -> None:
    """kind, peak, watch, steps (fgsm), rule leave the dump at their defaults: committed models keep their hashes."""
    dump = make_recipe().model_dump(mode="json")
    assert "kind" not in dump["schedule"] and "peak" not in dump["schedule"] and "watch" not in dump
    assert "rule" not in dump["thresholds"]  # the exit rule, at its default entropy
    assert set(dump["defence"]["attack"]) == {"algorithm", "eps", "steps", "step_size", "random_start", "precision"}
    fgsm = make_recipe(defence={"attack": {"algorithm": "fgsm", "steps": None, "step_size": "10/255"}})
    assert "steps" not in fgsm.model_dump(mode="json")["defence"]["attack"]
    assert fgsm.defence.label() == "fast-at (FGSM-RS, eps 0.1, step 0.0392157)"


def test_cards_name_recipes_relative_to_their_work_tree(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "recipes").mkdir()
    inside = tmp_path / "repo" / "recipes" / "r.yaml"
    outside = tmp_path / "loose.yaml"
    assert portable_path(inside) == "recipes/r.yaml" and portable_path(outside) == "loose.yaml"


def test_iteration_override_is_recorded_in_the_hash(make_recipe: Callable[..., TrainRecipe]) -> None:
    r = make_recipe()
    short = r.with_iterations(4)
    assert short.schedule.iterations == 4 and short.source == r.source
    assert plan(short).hash != plan(r).hash


def test_unknown_key_names_path_line_and_suggestion(recipe_file: Callable[..., Path]) -> None:
    path = recipe_file(schedule={"gama": 0.1})
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    line = path.read_text().splitlines().index("  gama: 0.1") + 1
    assert f"{path}:{line}: schedule.gama: unknown key" in str(e.value)
    assert "did you mean 'gamma'?" in str(e.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"batch_size": "big"}, "batch_size: Input should be a valid integer"),
        ({"defence": {"kind": "rdii"}}, "Did you mean 'rdi'?"),
        ({"model": {"arch": "smalcnn"}}, "Did you mean 'smallcnn'"),
        ({"model": {"kwargs": {"widht": 0.5}}}, "kwargs.widht: smallcnn takes no 'widht'. Did you mean 'width'?"),
        ({"model": {"kwargs": {"width": 0}}}, "kwargs.width must be a number > 0"),
        ({"schedule": {"milestones": [8]}}, "milestones must lie in 1..7"),
        ({"optimizer": None}, "optimizer: Field required"),
        ({"defence": {"kind": "rdi"}}, "objective is required for kind 'rdi'"),
        ({"model": None, "base": "x", "prune": {"kind": "unstructured", "target_sparsity": 1.0}}, "less than 1"),
        ({"model": None, "base": "x", "prune": {"kind": "structured", "target_mflops": -1}}, "greater than 0"),
        ({"model": None, "base": "x", "prune": {"kind": "structured"}}, "prune needs a target"),
        (
            {"model": None, "base": "x", "prune": {"kind": "structured", "target_mflops": 5}, "match_mflops": "y"},
            "match_mflops sets the pruning target",
        ),
        ({"model": None, "base": "x", "match_mflops": "y"}, "not a fine-tune"),
        ({"model": {"kwargs": {"width": 0.5}}, "match_mflops": "y"}, "match_mflops chooses model.kwargs.width"),
        ({"model": {"arch": "rdi_resnet38"}, "match_mflops": "y"}, "rdi_resnet38 takes none"),
        ({"prune": {"kind": "structured", "target_mflops": 5}}, "prune needs base"),
        ({"defence": {"attack": {"algorithm": "fgsm"}}}, "fgsm takes one step: drop steps"),
        ({"defence": {"attack": {"noise": 0.1}}}, "noise is an fgsm setting"),
        ({"defence": {"attack": {"algorithm": "fgsm", "steps": None, "noise": 0.5}}}, "must not exceed eps"),
        ({"defence": {"attack": {"algorithm": "pgd", "steps": None}}}, "steps"),
        ({"schedule": {"kind": "cyclic"}}, "kind 'cyclic' takes neither milestones nor warmup"),
        ({"watch": {"every": 4, "n": 65, "attack": {"eps": 0.1, "steps": 2, "step_size": 0.05}}}, "watch.n (65)"),
        ({"data": {"dataset": "mnsit"}}, "unknown dataset 'mnsit'. Did you mean 'mnist'? Allowed: cifar10, mnist"),
        ({"data": {"dataset": "cifar10", "source": "exact-npz"}}, "no training source 'exact-npz'"),
        ({"data": {"source": "jpeg"}}, "dataset mnist has no training source 'jpeg' (allowed: auto, torchvision)"),
        ({"model": {"kwargs": {"num_classes": 5}}}, "kwargs.num_classes: the heads are sized from data.dataset"),
        ({"thresholds": {"rule": "confidence"}}, "thresholds.rule: unknown exit rule 'confidence'"),
    ],
)
def test_bad_values_fail_on_load(recipe_file: Callable[..., Path], changes: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_recipe(recipe_file(**changes))
    assert expected.lower() in str(e.value).lower()


def test_fractions_and_duplicate_keys(recipe_file: Callable[..., Path]) -> None:
    r = load_recipe(recipe_file(defence={"attack": {"eps": "8/255", "step_size": "2/255"}}))
    assert r.defence.attack.eps == pytest.approx(8 / 255)
    path = recipe_file("dup")
    path.write_text(path.read_text() + "seed: 2\n")
    with pytest.raises(ConfigError, match="seed: key given twice"):
        load_recipe(path)


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'paper-mnist'"):
        load_recipe("paper-mnst")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"defence": {"kind": "rdi", "objective": "average"}}, "defence.kind"),
        ({"exit_weights": [1, 1]}, "exit_weights"),
        ({"thresholds": {"scale": [3]}}, "thresholds.scale"),
        ({"data": {"dataset": "cifar10"}}, "data.dataset"),  # SmallCNN takes 1x28x28 images, CIFAR-10's are 3x32x32
    ],
)
def test_model_dependent_checks_name_the_key(make_recipe: Callable[..., TrainRecipe], changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"line \d+: {key}: "):
        plan(make_recipe(**changes))
