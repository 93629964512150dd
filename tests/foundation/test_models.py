"""The model zoo: every registered model follows the multi-exit contract with the paper's parameter counts."""

from __future__ import annotations

import pytest
import torch

from rdibench.core.errors import UnknownNameError
from rdibench.models import create_model, list_models

# docs/protocol.md §1.4 (trainable parameters; MobileNetV2 without the authors' unused conv)
PARAMS = {
    "smallcnn": (312_202, 1),
    "rdi_smallcnn": (836_846, 3),
    "resnet38": (564_122, 1),
    "rdi_resnet38": (692_310, 7),
    "mobilenetv2": (2_296_922, 1),
    "rdi_mobilenetv2": (2_343_798, 7),
}


def test_registry_lists_exactly_the_zoo() -> None:
    assert list_models() == sorted(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_contract_and_parameter_count(name: str) -> None:
    model = create_model(name).eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    expected_params, exits = PARAMS[name]
    assert params == expected_params
    out = model(torch.rand(3, *model.input_shape))
    assert model.num_exits == exits == len(out)
    assert all(o.shape == (3, 10) for o in out)


def test_side_branch_parameters_match_paper() -> None:
    heads = [sum(p.numel() for p in h.parameters()) for h in create_model("rdi_mobilenetv2").heads]
    assert heads[:6] == [27_818, 15_178, 650, 650, 970, 1_610]
    heads = [sum(p.numel() for p in h.parameters()) for h in create_model("rdi_smallcnn").heads]
    assert heads[:2] == [162_234, 362_410]


def test_width_multiplier_shrinks_the_backbone() -> None:
    full = sum(p.numel() for p in create_model("smallcnn").parameters())
    half = sum(p.numel() for p in create_model("smallcnn", width=0.5).parameters())
    assert half < full


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="rdi_resnet38"):
        create_model("rdi_resnet_38")
