"""Real (tiny) training runs: the loss falls, seeds reproduce bit for bit, resume equals an uninterrupted run,
the store reuses finished runs, and the card carries thresholds and provenance."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rdibench.cli.main import main
from rdibench.core.device import Acceleration
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots
from rdibench.models import create_model, load_checkpoint
from rdibench.models.checkpoint import read_card
from rdibench.training import TrainRecipe, train
from rdibench.training.defence import Defence
from rdibench.training.loop import Trainer
from rdibench.training.recipe import WatchRecipe
from rdibench.training.run import STATE_FILE
from rdibench.training.sampling import crop_flip
from rdibench.training.watch import HeldOutWatch
from tests.training.conftest import crash, interrupt_at

RDI = {
    "model": {"arch": "rdi_smallcnn"},
    "defence": {"kind": "rdi", "objective": "max_average", "attack": {"eps": 0.1, "steps": 1, "step_size": 0.1}},
    "thresholds": {"scale": [3.0, 4.0]},
}


def weights(path: Path) -> str:
    return read_card(path).weights_sha256


def test_short_run_lowers_the_loss(make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path) -> None:
    recipe = make_recipe(schedule={"iterations": 40, "milestones": []}, batch_size=32, eval_every=10)
    card = read_card(train(recipe, out_dir=tmp_path / "run", data_roots=roots, progress=False))
    curves = card.training["curves"]
    assert [p["iteration"] for p in curves] == [10, 20, 30, 40]
    assert curves[-1]["loss"] < 0.8 * curves[0]["loss"]
    assert card.defence == "pgd-at (PGD-1, eps 0.1, step 0.1)" and card.thresholds == []


def test_same_seed_same_weights_and_a_complete_card(
    make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path
) -> None:
    recipe = make_recipe(**RDI)
    a = train(recipe, out_dir=tmp_path / "a", data_roots=roots, progress=False)
    b = train(recipe, out_dir=tmp_path / "b", data_roots=roots, progress=False)
    assert weights(a) == weights(b)
    other = train(make_recipe(seed=2, **RDI), out_dir=tmp_path / "c", data_roots=roots, progress=False)
    assert weights(other) != weights(a)

    card = read_card(a)
    t = card.training
    assert card.defence == "rdi-max_average (PGD-1, eps 0.1, step 0.1)" and card.num_exits == 3
    assert card.threshold_fit.protocol == "held-out" and card.threshold_fit.n == 64
    assert card.thresholds == pytest.approx([card.threshold_fit.base[0] * 3, card.threshold_fit.base[1] * 4])
    assert t["recipe"]["name"] == "tiny" and len(t["recipe_hash"]) == 64 and t["seed"] == 1
    assert t["data"]["train"]["n"] == 512 and t["data"]["val"]["spec"]["split"] == "val"
    assert t["data"]["train"]["selection_sha256"] and {"torch", "rdibench"} <= set(t["versions"])
    assert t["mflops"]["paper"] == pytest.approx([0.818, 7.006, 9.256], abs=1e-3) and t["wall_time_s"] > 0
    assert len(t["curves"][0]["adv_acc"]) == 3 and sum(t["val"]["exit_fractions"]) == pytest.approx(1)
    assert not (a / STATE_FILE).exists() and (a / "recipe.yaml").is_file()
    load_checkpoint(a)


def test_a_recipe_fits_thresholds_for_its_exit_rule(
    make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path
) -> None:
    recipe = make_recipe(**{**RDI, "thresholds": {"rule": "max_softmax"}})
    card = read_card(train(recipe, out_dir=tmp_path / "run", data_roots=roots, progress=False))
    assert card.exit_rule == "max_softmax" and all(0.1 <= t <= 1 for t in card.thresholds)
    assert card.training["val"]["exit_fractions"] == pytest.approx([1 / 3] * 3, abs=1 / 64)  # fitted and routed alike
    assert read_card(train(make_recipe(**RDI), out_dir=tmp_path / "e", data_roots=roots, progress=False)).exit_rule == (
        "entropy"
    )


@pytest.mark.parametrize(
    ("how", "error"),
    [(lambda: os.kill(os.getpid(), signal.SIGINT), KeyboardInterrupt), (crash, RuntimeError)],
    ids=["ctrl-c", "crash"],
)
def test_resume_equals_uninterrupted(
    make_recipe: Callable[..., TrainRecipe],
    roots: DataRoots,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: Callable[[], None],
    error: type[BaseException],
) -> None:
    recipe = make_recipe(**{**RDI, "defence": {**RDI["defence"], "objective": "average"}})
    straight = train(recipe, out_dir=tmp_path / "straight", data_roots=roots, progress=False)
    with monkeypatch.context() as m:
        interrupt_at(m, 5, how)  # Ctrl-C: saved after iteration 5; crash: last periodic checkpoint is iteration 3
        with pytest.raises(error):
            train(recipe, out_dir=tmp_path / "cut", data_roots=roots, progress=False)
    assert (tmp_path / "cut" / STATE_FILE).is_file()
    with pytest.raises(ConfigError, match="--resume"):
        train(recipe, out_dir=tmp_path / "cut", data_roots=roots, progress=False)
    resumed = train(recipe, out_dir=tmp_path / "cut", data_roots=roots, progress=False, resume=True)
    assert weights(resumed) == weights(straight)
    a, b = read_card(resumed).training, read_card(straight).training
    assert a["curves"] == b["curves"] and a["resumes"] == 1
    assert read_card(resumed).thresholds == read_card(straight).thresholds


@pytest.mark.parametrize(
    "fast",
    [
        Acceleration(channels_last=True),
        pytest.param(Acceleration(channels_last=True, compile=True), marks=pytest.mark.slow),
    ],
    ids=["channels-last", "compiled"],
)
def test_speed_settings_train_the_plain_model_up_to_noise_and_the_card_says_how_each_stretch_ran(
    make_recipe: Callable[..., TrainRecipe],
    roots: DataRoots,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast: Acceleration,
) -> None:
    recipe = make_recipe(**RDI)
    seen: list[tuple[bool, Acceleration | None]] = []  # per step: a conv's weights NHWC, the model's settings
    step = Trainer.step

    def spy(self: Trainer, x: torch.Tensor, y: torch.Tensor) -> None:
        # MNIST's one-channel images and first conv look the same in either layout; a deeper conv does not
        conv = next(m for m in self.model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
        layout = conv.weight.is_contiguous(memory_format=torch.channels_last)
        seen.append((layout, getattr(self.model, "_rdibench_acceleration", None)))
        step(self, x, y)

    monkeypatch.setattr(Trainer, "step", spy)
    plain = load_checkpoint(train(recipe, out_dir=tmp_path / "plain", data_roots=roots, progress=False))
    assert seen == [(False, None)] * recipe.schedule.iterations
    seen.clear()
    nhwc = load_checkpoint(
        train(recipe, out_dir=tmp_path / "nhwc", data_roots=roots, progress=False, acceleration=fast)
    )
    assert seen == [(True, fast)] * recipe.schedule.iterations  # every step ran under the settings
    for (name, a), b in zip(plain.model.state_dict().items(), nhwc.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), name
    t_plain, t_nhwc = plain.card.training, nhwc.card.training
    assert t_nhwc["mflops"] == t_plain["mflops"]  # counted on the plain module again
    assert [s["acceleration"] for s in t_plain["stretches"]] == [Acceleration().describe()]
    assert [s["acceleration"] for s in t_nhwc["stretches"]] == [fast.describe()]
    with monkeypatch.context() as m:
        interrupt_at(m, 5, crash)
        with pytest.raises(RuntimeError):
            train(recipe, out_dir=tmp_path / "mixed", data_roots=roots, progress=False)
    mixed = train(recipe, out_dir=tmp_path / "mixed", data_roots=roots, progress=False, resume=True, acceleration=fast)
    stretches = read_card(mixed).training["stretches"]
    assert [s["acceleration"] for s in stretches] == [Acceleration().describe(), fast.describe()]
    assert [s["iterations"] for s in stretches] == [[0, 3], [3, recipe.schedule.iterations]]  # crash: from iteration 3
    assert all(s["device"] == "cpu" and s["torch"] == torch.__version__ and s["wall_time_s"] > 0 for s in stretches)


def test_a_checkpoint_written_before_stretches_were_recorded_resumes_saying_so(
    make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = make_recipe()
    with monkeypatch.context() as m:
        interrupt_at(m, 5, crash)
        with pytest.raises(RuntimeError):
            train(recipe, out_dir=tmp_path / "old", data_roots=roots, progress=False)
    path = tmp_path / "old" / STATE_FILE
    state = torch.load(path, weights_only=True)
    del state["stretches"]  # as an older rdibench wrote it
    torch.save(state, path)
    first, now = read_card(train(recipe, out_dir=path.parent, data_roots=roots, progress=False, resume=True)).training[
        "stretches"
    ]
    assert first == {"iterations": [0, 3], "wall_time_s": state["wall_time_s"], "device": None, "acceleration": None,
                     "torch": None}  # fmt: skip
    assert now["iterations"] == [3, recipe.schedule.iterations] and now["device"] == "cpu"


def test_watch_keeps_the_best_held_out_weights(
    make_recipe: Callable[..., TrainRecipe],
    roots: DataRoots,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Held-out scores forced to fall after the first watch point: the run must end on that point's weights; the
    log (what a --quiet background training shows) gives each point's clean and PGD accuracy and the time left."""
    forced = iter([0.9, 0.5, 0.1])
    seen: dict[int, dict[str, torch.Tensor]] = {}
    real = HeldOutWatch._point

    def point(self: HeldOutWatch, model: torch.nn.Module, iteration: int, device: torch.device) -> dict:
        seen[iteration] = {k: v.clone() for k, v in model.state_dict().items()}
        return {**real(self, model, iteration, device), "score": next(forced)}

    monkeypatch.setattr(HeldOutWatch, "_point", point)
    attack = {"algorithm": "pgd", "eps": 0.1, "steps": 2, "step_size": 0.05}
    with caplog.at_level(logging.INFO, logger="rdibench.training.loop"):
        run_dir = train(make_recipe(watch={"every": 3, "n": 32, "attack": attack}), out_dir=tmp_path, data_roots=roots)
    watch = read_card(run_dir).training["watch"]
    clean = 100 * watch["curve"][1]["clean_acc"][-1]
    assert f"iteration 6: held-out clean {clean:.2f}% (last exit), PGD 50.00%" in caplog.text
    assert re.search(r"iteration \d+/8: loss [\d.]+ .* left", caplog.text)
    assert [(p["iteration"], p["score"]) for p in watch["curve"]] == [(3, 0.9), (6, 0.5), (8, 0.1)]
    assert watch["selected_iteration"] == 3 and watch["attack"] == "PGD-2, eps 0.1, step 0.05"
    assert len(watch["curve"][0]["adv_acc"]) == 1 and 0 <= watch["curve"][0]["clean_acc"][0] <= 1
    final = load_checkpoint(run_dir).model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in seen[3].items())
    assert not all(torch.equal(final[k], v) for k, v in seen[8].items())


def test_joint_forward_normalises_clean_and_adversarial_images_together(
    make_recipe: Callable[..., TrainRecipe], tmp_path: Path
) -> None:
    """With batch norm, separate forwards normalise each batch by its own statistics; joint uses one batch."""
    torch.manual_seed(0)
    model = create_model("resnet38").train()
    x, x_adv = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32) * 0.5
    outputs = {}
    for forward in ("separate", "joint"):
        recipe = make_recipe(model={"arch": "resnet38"}, data={"dataset": "cifar10"}, defence={"forward": forward})
        trainer = Trainer(model, recipe, None, None, device=torch.device("cpu"), state_path=tmp_path, recipe_hash="")  # type: ignore[arg-type]
        with torch.no_grad():
            outputs[forward] = trainer._forward(x, x_adv)
    with torch.no_grad():
        both = model(torch.cat([x, x_adv]))[-1]
        assert torch.allclose(outputs["separate"][0][-1], model(x)[-1], atol=1e-6)
    assert torch.allclose(outputs["joint"][0][-1], both[:4], atol=1e-6)
    assert torch.allclose(outputs["joint"][1][-1], both[4:], atol=1e-6)
    assert not torch.allclose(outputs["joint"][0][-1], outputs["separate"][0][-1], atol=1e-3)
    assert "forward" not in make_recipe().model_dump(mode="json")["defence"]  # the default keeps old hashes


def test_adversarial_only_training_runs_no_clean_forward(
    make_recipe: Callable[..., TrainRecipe], tmp_path: Path
) -> None:
    """With the clean term at weight 0 (Wong et al.'s fast AT) only adversarial images go forward, so batch norm
    normalises them by their own statistics as the attack's forward did, and the loss is their CE alone."""
    torch.manual_seed(0)
    model = create_model("resnet38").train()
    x, x_adv, y = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32) * 0.5, torch.tensor([0, 1, 2, 3])
    recipe = make_recipe(model={"arch": "resnet38"}, data={"dataset": "cifar10"}, defence={"clean_weight": 0})
    trainer = Trainer(model, recipe, None, None, device=torch.device("cpu"), state_path=tmp_path, recipe_hash="")  # type: ignore[arg-type]
    with torch.no_grad():
        clean, adv = trainer._forward(x, x_adv)
        assert clean is None and adv is not None
        assert torch.allclose(adv[-1], model(x_adv)[-1], atol=1e-6)
        loss = Defence(recipe.defence, [1.0], seed=0).loss(clean, adv, y)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(adv[-1], y))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_attack_mode_decides_which_statistics_the_attack_sees(
    mode: str, make_recipe: Callable[..., TrainRecipe]
) -> None:
    """In train mode the attack's forwards normalise by (and update) batch statistics; in eval mode they use the
    running statistics evaluation uses, and leave them as they were."""
    torch.manual_seed(0)
    model = create_model("resnet38").train()
    recipe = make_recipe(model={"arch": "resnet38"}, data={"dataset": "cifar10"}, defence={"attack_mode": mode})
    bn = model.segments[0][0][1]
    before = bn.running_mean.clone()
    Defence(recipe.defence, [1.0], seed=0).adversarial(model, torch.rand(4, 3, 32, 32), torch.arange(4), 0)
    assert torch.equal(bn.running_mean, before) == (mode == "eval")
    assert ("attack_mode" in recipe.model_dump(mode="json")["defence"]) == (mode == "eval")  # default: old hashes


def test_adversarial_only_run_records_no_clean_training_accuracy(
    make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path
) -> None:
    recipe = make_recipe(defence={"clean_weight": 0}, eval_every=4)
    card = read_card(train(recipe, out_dir=tmp_path / "run", data_roots=roots, progress=True))
    curves = card.training["curves"]
    assert all(p["clean_acc"] is None and 0 <= p["adv_acc"][0] <= 1 for p in curves) and len(curves) == 2


def test_store_reuses_a_finished_run(
    make_recipe: Callable[..., TrainRecipe], roots: DataRoots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = make_recipe(schedule={"iterations": 2, "milestones": []})
    first = train(recipe, store=tmp_path / "store", data_roots=roots, progress=False)
    assert first.parent == tmp_path / "store" and first.name.startswith("tiny-")
    monkeypatch.setattr(Trainer, "run", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert train(recipe, store=tmp_path / "store", data_roots=roots, progress=False) == first


def test_cli_trains_and_prints_the_checkpoint(
    recipe_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cli"
    args = ["train", str(recipe_file()), "--out", str(out), "--iterations", "2", "--quiet", "--device", "cpu"]
    data = str(Path(__file__).resolve().parents[2] / "data")
    assert main([*args, "--channels-last", "--data-dir", data]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    training = read_card(out).training
    assert training["recipe"]["schedule"]["iterations"] == 2
    assert [s["acceleration"] for s in training["stretches"]] == [{"channels_last": True, "compile": False}]
    assert main(["train", "paper-mnst", "--out", str(out)]) == 2


def test_crop_flip_is_a_seeded_function_of_the_generator() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = crop_flip(x, g1), crop_flip(x, g2)
    assert torch.equal(a, b) and a.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    windows = [padded[0, :, i : i + 8, j : j + 8] for i in range(9) for j in range(9)]
    assert any(torch.equal(a[0], w) or torch.equal(a[0], w.flip(2)) for w in windows)


@pytest.mark.parametrize(
    ("tolerance", "kept"),
    [
        (0.0, 30),  # the most robust point, however much cleaner a point just below it is
        (0.01, 40),  # 0.358 is within 0.01 of 0.361 and cleaner; 0.34 at 50 is not in the band
        (0.03, 50),  # a wider band takes the cleaner 0.34 too
    ],
)
def test_watch_tolerance_keeps_the_cleanest_point_within_noise_of_the_best(tolerance: float, kept: int) -> None:
    """Scores and clean accuracies of the committed RDI-ResNet-38's last watch points, then a less robust but
    cleaner one; the kept point is always within the band of the best score so far."""
    attack = {"algorithm": "pgd", "eps": 0.1, "steps": 2, "step_size": 0.05}
    recipe = WatchRecipe.model_validate({"every": 10, "n": 4, "attack": attack, "tolerance": tolerance})
    watch = HeldOutWatch(recipe, torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), seed=0)
    points = [(10, 0.20, 0.50), (20, 0.345, 0.60), (30, 0.361, 0.627), (40, 0.358, 0.637), (50, 0.34, 0.70)]
    model = torch.nn.Linear(1, 1)
    for iteration, score, clean in points:
        watch._point = lambda *_, i=iteration, s=score, c=clean: {"iteration": i, "score": s, "clean_acc": [c]}  # type: ignore[method-assign]
        with torch.no_grad():
            model.bias.fill_(iteration)
        watch.measure(model, iteration, torch.device("cpu"))  # type: ignore[arg-type]
    assert watch.best is not None and watch.best["iteration"] == kept
    assert float(watch.best["model"]["bias"]) == kept  # the weights of that point, not of the last one
