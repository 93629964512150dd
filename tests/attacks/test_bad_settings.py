"""Bad attack settings fail once, early, with a message naming the setting and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from rdibench.attacks import Single, make_attack, make_objective
from rdibench.core.errors import ConfigError, UnknownNameError
from rdibench.core.seeding import make_generator
from rdibench.data import Dataset
from rdibench.models import MultiExitNet

PGD_OK = {"eps": 0.3, "steps": 10, "step_size": 0.01}


@pytest.mark.parametrize(
    ("algorithm", "params", "error", "fragments"),
    [
        ("pgd", {**PGD_OK, "eps": -0.1}, ConfigError, ["eps", "greater than 0", "Allowed settings"]),
        ("fgsm", {"eps": -0.1}, ConfigError, ["eps", "greater than 0"]),
        ("torchattacks:PGD", {"eps": -0.1}, ConfigError, ["torchattacks:PGD", "eps=-0.1", "must be > 0"]),
        ("art:ProjectedGradientDescent", {"eps": -0.1}, ConfigError, ["eps=-0.1", "must be > 0"]),
        ("pgd", {**PGD_OK, "steps": 0}, ConfigError, ["steps", "greater than or equal to 1"]),
        ("torchattacks:PGD", {"steps": 0}, ConfigError, ["steps=0", "integer >= 1"]),
        ("art:ProjectedGradientDescent", {"max_iter": 0}, ConfigError, ["max_iter=0", "integer >= 1"]),
        ("pgdd", {}, UnknownNameError, ["'pgdd'", "Did you mean 'pgd'", "Allowed: apgd, fgsm, pgd, wrm, autoattack"]),
        ("torchattack:PGD", {}, UnknownNameError, ["Did you mean 'torchattacks:PGD'"]),
        ("torchattacks:Pgd", {}, UnknownNameError, ["'Pgd'", "'torchattacks:PGD'", "Allowed: APGD"]),
        ("art:PGD", {}, UnknownNameError, ["unknown art attack 'PGD'", "ProjectedGradientDescent"]),
        (
            "torchattacks:PGD",
            {"epsilon": 0.3},
            ConfigError,
            ["'epsilon'", "Did you mean 'eps'", "Allowed: eps, alpha, steps, random_start"],
        ),
        ("art:ProjectedGradientDescent", {"step": 0.01}, ConfigError, ["'step'", "Allowed: norm, eps, eps_step"]),
        ("art:ProjectedGradientDescent", {"targeted": True}, ConfigError, ["targeted=True", "allowed: False"]),
        ("pgd", {**PGD_OK, "alpha": 0.01}, ConfigError, ["alpha", "Allowed settings: precision, eps, steps"]),
        ("autoattack", {"eps": 0.3, "version": "custom"}, ConfigError, ["attacks is required", "custom"]),
        ("autoattack", {"eps": 0.3, "version": "fast"}, ConfigError, ["version", "'standard'"]),
    ],
)
def test_bad_settings_name_the_setting_and_the_allowed_values(
    algorithm: str, params: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        make_attack(algorithm, params)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_objective_name() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_objective("avg", num_exits=3)
    assert "'avg'" in str(info.value) and "average" in str(info.value) and "max_average" in str(info.value)


def test_art_refuses_train_mode(smallcnn: MultiExitNet, mnist_test: Dataset) -> None:
    attack = make_attack("art:ProjectedGradientDescent", {"max_iter": 1})
    with pytest.raises(ConfigError, match="eval mode"):
        attack(smallcnn, mnist_test.x[:4], mnist_test.y[:4], Single(), generator=make_generator(0), train_mode=True)
    assert not smallcnn.training
