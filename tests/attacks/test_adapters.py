"""Library attacks on a 3-exit model: the three views, what they compute, and what gets recorded."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rdibench.attacks import (
    ExitView,
    Single,
    Slowdown,
    list_attacks,
    make_attack,
    make_objective,
    max_average,
    view_for,
)
from rdibench.attacks.adapters import View
from rdibench.core.device import Acceleration
from rdibench.core.errors import ConfigError
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.inference import route, routed_logits
from rdibench.models import MultiExitNet, create_model

N = 32
LIBRARY_ATTACKS: dict[str, dict[str, Any]] = {
    "torchattacks:PGD": {"eps": 0.1, "alpha": 0.03, "steps": 5},
    "art:ProjectedGradientDescent": {"eps": 0.1, "eps_step": 0.03, "max_iter": 5, "num_random_init": 1},
    "autoattack": {"eps": 0.3, "version": "custom", "attacks": ["apgd-ce"], "seed": 0},
}
OBJECTIVES = {"single": {"exit": 0}, "routing": {}, "average": {}, "random": {}}
VIEWS = {"single": "exit", "routing": "routed", "average": "surrogate", "random": "surrogate"}
RUNS = [(a, o) for a in LIBRARY_ATTACKS for o in OBJECTIVES if (a, o) != ("autoattack", "random")]  # AA is slow


def test_views_compute_what_they_document(
    rdi_smallcnn: MultiExitNet, mnist_test: Dataset, rdi_thresholds: tuple[float, ...]
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    logits = rdi_smallcnn(x)
    for k in range(3):
        torch.testing.assert_close(view_for(rdi_smallcnn, Single(k=k))(x), logits[k])
    routing = make_objective("routing", num_exits=3, thresholds=rdi_thresholds)
    routed = view_for(rdi_smallcnn, routing)(x)
    torch.testing.assert_close(routed, routed_logits(logits, route(logits, rdi_thresholds)))
    torch.testing.assert_close(F.cross_entropy(routed, y, reduction="none"), routing(logits, y))
    average = make_objective("average", num_exits=3)
    surrogate_ce = F.cross_entropy(view_for(rdi_smallcnn, average)(x), y, reduction="none")
    assert bool((surrogate_ce <= average(logits, y) + 1e-5).all())  # objective minus a non-negative gap


def test_surrogate_of_one_exit_is_that_exits_ce(mnist_test: Dataset) -> None:
    model = create_model("smallcnn").eval()
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    surrogate = view_for(model, make_objective("average", num_exits=1))(x)
    torch.testing.assert_close(F.cross_entropy(surrogate, y), F.cross_entropy(model(x)[-1], y))


def test_weighted_surrogate_uses_the_drawn_weights(rdi_smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x = mnist_test.x[:N]
    bound = make_objective("random", num_exits=3).bind(make_generator(0))
    weights = bound.describe()["weights"]
    log_p = [F.log_softmax(z, dim=1) for z in rdi_smallcnn(x)]
    expected = sum(w * lp for w, lp in zip(weights, log_p, strict=True))  # type: ignore[call-overload]
    torch.testing.assert_close(view_for(rdi_smallcnn, bound)(x), expected)


@pytest.mark.parametrize(("attack_name", "objective_name"), RUNS)
def test_library_attacks_run_on_every_view_and_record_it(
    attack_name: str,
    objective_name: str,
    rdi_smallcnn: MultiExitNet,
    mnist_test: Dataset,
    rdi_thresholds: tuple[float, ...],
) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    objective = make_objective(objective_name, num_exits=3, thresholds=rdi_thresholds, **OBJECTIVES[objective_name])
    attack = make_attack(attack_name, LIBRARY_ATTACKS[attack_name])
    x_adv = attack(rdi_smallcnn, x, y, objective, generator=make_generator(1))
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= LIBRARY_ATTACKS[attack_name]["eps"] + 1e-6
    record = attack.describe(objective)  # type: ignore[call-arg]
    assert record["view"] == VIEWS[objective_name]
    assert record["algorithm"] == attack_name and record["library_version"]
    with torch.no_grad():
        clean = view_for(rdi_smallcnn, objective.bind(make_generator(1)))(x)
        adv = view_for(rdi_smallcnn, objective.bind(make_generator(1)))(x_adv)
    assert F.cross_entropy(adv, y) > F.cross_entropy(clean, y)  # the attack raised the loss of its view


def test_settings_are_recorded_in_full() -> None:
    ta = make_attack("torchattacks:PGD", {"eps": 0.3}).describe()
    assert ta["kwargs"] == {"eps": 0.3, "alpha": 2 / 255, "steps": 10, "random_start": True}
    assert ta["norm"] == "Linf"
    art = make_attack("art:ProjectedGradientDescent", {}).describe()
    assert {k: art["kwargs"][k] for k in ("eps", "eps_step", "max_iter", "num_random_init", "batch_size")} == {
        "eps": 0.3,
        "eps_step": 0.1,
        "max_iter": 100,
        "num_random_init": 0,
        "batch_size": 32,
    }
    assert art["clip_values"] == [0.0, 1.0] and art["kwargs"]["verbose"] is False
    aa = make_attack("autoattack", {"eps": 0.3}).describe()
    assert aa["version"] == "standard"
    assert aa["resolved"]["attacks_to_run"] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert aa["resolved"]["square"]["n_queries"] == 5000


def test_max_average_takes_a_library_attack(rdi_smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    x, y = mnist_test.x[:N], mnist_test.y[:N]
    attack = make_attack("torchattacks:PGD", LIBRARY_ATTACKS["torchattacks:PGD"])
    x_adv = max_average(attack, rdi_smallcnn, x, y, seeds=[1, 2, 3])
    assert x_adv.shape == x.shape and (x_adv - x).abs().max() <= 0.1 + 1e-6


def test_slowdown_has_no_library_view(rdi_smallcnn: MultiExitNet) -> None:
    with pytest.raises(ConfigError, match="label"):
        view_for(rdi_smallcnn, Slowdown())


def test_view_starts_in_the_models_mode(rdi_smallcnn: MultiExitNet) -> None:
    assert not ExitView(rdi_smallcnn, View("exit")).training
    assert ExitView(rdi_smallcnn.train(), View("exit")).training


def test_names_are_listed_like_builtins() -> None:
    names = list_attacks()
    assert {"pgd", "fgsm", "wrm", "autoattack", "torchattacks:PGD", "art:ProjectedGradientDescent"} <= set(names)
    assert list_attacks("torchattacks:*") == [n for n in names if n.startswith("torchattacks:")]


@pytest.mark.parametrize(
    ("name", "settings", "fragment"),
    [("routing", {"loss": "dlr"}, "loss='dlr'"), ("soft_routing", {}, "no single-logit view")],
)
def test_library_attacks_refuse_what_their_view_cannot_show(
    name: str, settings: dict[str, Any], fragment: str, rdi_thresholds: tuple[float, ...]
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        view_for(create_model("rdi_smallcnn"), make_objective(name, num_exits=3, thresholds=rdi_thresholds, **settings))


def test_autoattack_checks_are_recorded_not_printed(
    mnist_test: Dataset, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that returns probabilities trips AutoAttack's range check: the warning lands in the attack's
    ``warnings`` under the check's name, and nothing reaches the log or the terminal."""
    model = create_model("smallcnn").eval()
    model.heads[-1] = torch.nn.Sequential(model.heads[-1], torch.nn.Softmax(dim=1))
    attack = make_attack("autoattack", LIBRARY_ATTACKS["autoattack"])
    with caplog.at_level("DEBUG"):
        attack(model, mnist_test.x[:8], mnist_test.y[:8], Single(), generator=make_generator(0))
    assert list(attack.warnings) == ["range_output"]
    assert "probability distribution" in attack.warnings["range_output"][0]
    assert not [r for r in caplog.records if r.name == "auto-attack"] and not capsys.readouterr().err
    assert make_attack("autoattack", {"eps": 0.3}).describe()["checks"][-1] == "square_sr"


def _rgb_two_exit_model() -> MultiExitNet:
    """Three input channels: with one channel NHWC and NCHW strides coincide and the layout is never exercised."""

    def head() -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))

    segments = [nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()) for _ in range(2)]
    segments[1][0] = nn.Conv2d(8, 8, 3, padding=1)
    return MultiExitNet(segments, [head(), head()], arch="rgb", input_shape=(3, 16, 16)).eval()


@pytest.mark.parametrize(
    ("attack_name", "settings"),
    [
        *((name, settings) for name, settings in LIBRARY_ATTACKS.items() if name != "autoattack"),
        ("autoattack", {"eps": 0.1, "version": "custom", "attacks": ["apgd-t"], "seed": 0}),
    ],
)
def test_library_attacks_take_channels_last_images(attack_name: str, settings: dict[str, Any]) -> None:
    """--channels-last hands attacks NHWC images from a NHWC model; AutoAttack's APGD-T once failed on them
    (its gradient check flattens with .view)."""
    torch.manual_seed(0)
    fast = Acceleration(channels_last=True)
    model = fast.model(_rgb_two_exit_model())
    x = fast.images(torch.rand(8, 3, 16, 16))
    assert not x.is_contiguous()
    routing = make_objective("routing", num_exits=2, thresholds=(0.5,))
    with torch.no_grad():  # labels the model gets right, so AutoAttack attacks every image
        y = view_for(model, routing)(x).argmax(1)
    x_adv = make_attack(attack_name, settings)(model, x, y, routing, generator=make_generator(1))
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= settings["eps"] + 1e-6
