"""The model contract: any module returning per-exit logits (list, tuple, or one tensor) is adapted; anything
else is refused saying what came back."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from rdibench.core.errors import ModelError
from rdibench.models import AdaptedModel, adapt_model, create_model
from rdibench.models.adapter import state_sha256

SHAPE = (1, 28, 28)


class Returns(nn.Module):
    """A module whose forward returns ``make(logits of two exits)``; Dropout shows the mode it ran in."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.fc2 = nn.Linear(784, 10)
        self.make = make
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> Any:
        self.modes.append(self.training)
        h = x.flatten(1)
        return self.make(self.fc(h), self.fc2(h))


@pytest.mark.parametrize(
    ("make", "exits"),
    [(lambda a, b: [a, b], 2), (lambda a, b: (a, b), 2), (lambda a, b: b, 1)],
    ids=["list", "tuple", "tensor"],
)
def test_lists_tuples_and_a_plain_tensor_are_exits(make: Any, exits: int) -> None:
    module = Returns(make).train()
    model = adapt_model(module, SHAPE)
    assert isinstance(model, AdaptedModel) and model.num_exits == exits and model.num_classes == 10
    assert model.input_shape == SHAPE and module.modes == [False] and module.training, "probed in eval mode, restored"
    out = model(torch.rand(3, *SHAPE))
    assert isinstance(out, list) and len(out) == exits and all(z.shape == (3, 10) for z in out)
    assert dict(model.named_parameters()).keys() == {f"module.{k}" for k, _ in module.named_parameters()}


def test_built_in_models_pass_through_unchanged() -> None:
    net = create_model("rdi_smallcnn")
    assert adapt_model(net, SHAPE) is net


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda a, b: {"a": a}, "forward returned a dict"),
        (lambda a, b: [], "forward returned a list of 0"),
        (lambda a, b: [a, 3], r"forward returned a list of 2 \(a tensor of shape \[2, 10\], a int\)"),
        (lambda a, b: [a, b.flatten()], r"wrong shape \(exit 1: a tensor of shape \[20\]\)"),
        (lambda a, b: [a, b[:, :4]], "exit 0: 10, exit 1: 4 classes; every exit must give one class count"),
        (lambda a, b: 1 / 0, "raised ZeroDivisionError"),
    ],
    ids=["dict", "empty", "not tensors", "1-d", "classes differ", "raises"],
)
def test_what_breaks_the_contract_is_named(make: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        adapt_model(Returns(make), SHAPE)


def test_the_dataset_class_count_is_checked_when_known_and_non_modules_are_refused() -> None:
    with pytest.raises(ModelError, match=r"every exit must give 100 classes \(the dataset's\)"):
        adapt_model(Returns(lambda a, b: (a, b)), SHAPE, num_classes=100)
    with pytest.raises(ModelError, match=r"got a function, not a torch\.nn\.Module"):
        adapt_model(lambda x: x, SHAPE)


def test_state_hash_follows_the_values() -> None:
    torch.manual_seed(0)
    a = Returns(list)
    torch.manual_seed(0)
    b = Returns(list)
    assert state_sha256(a) == state_sha256(b)
    with torch.no_grad():
        b.fc.bias[0] += 1e-3
    assert state_sha256(a) != state_sha256(b)
