"""Exit rules in evaluation: attacks follow the model's rule, thresholds are resolved for it, and the rule of a
card's thresholds is never silently swapped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from rdibench.attacks import make_objective
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots
from rdibench.evaluation import ThresholdSpec
from rdibench.evaluation.thresholds import resolve_thresholds
from rdibench.inference import route
from rdibench.models import Checkpoint, ModelCard, create_model
from rdibench.models.card import ThresholdShift
from rdibench.models.checkpoint import read_card

REPO = Path(__file__).resolve().parents[2]


def _logits(seed: int = 0, n: int = 60) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 10, generator=g) * 3).requires_grad_() for _ in range(3)]


def test_routing_attack_follows_the_max_softmax_rule() -> None:
    logits, y = _logits(), torch.arange(60) % 10
    thresholds = (0.8, 0.6)
    exits = route(logits, thresholds, "max_softmax")
    assert len(exits.unique()) == 3 and not torch.equal(exits, route(logits, (1.0, 1.5), "entropy"))
    expected = torch.stack([F.cross_entropy(logits[int(e)][i], y[i]) for i, e in enumerate(exits)])
    loss = make_objective("routing", num_exits=3, thresholds=thresholds, rule="max_softmax")(logits, y)
    torch.testing.assert_close(loss, expected)


def test_slowdown_lowers_the_confidence_the_rule_reads() -> None:
    logits, y = _logits(1), torch.zeros(60, dtype=torch.long)
    side = logits[:2]
    conf = torch.stack([torch.softmax(z, 1).amax(1) for z in side]).mean(0)
    torch.testing.assert_close(make_objective("slowdown", num_exits=3, rule="max_softmax")(logits, y), -conf)
    entropy = torch.stack([-(torch.softmax(z, 1) * torch.log(torch.softmax(z, 1) + 1e-5)).sum(1) for z in side])
    torch.testing.assert_close(make_objective("slowdown", num_exits=3)(logits, y), entropy.mean(0))


def _ckpt(**card: object) -> Checkpoint:
    fields: dict[str, object] = {"name": "m", "arch": "rdi_smallcnn", "dataset": "mnist", "num_exits": 3}
    torch.manual_seed(0)
    return Checkpoint(create_model("rdi_smallcnn").eval(), ModelCard(source="test", **{**fields, **card}))


def test_thresholds_are_fitted_for_the_chosen_rule(tmp_path: Path) -> None:
    x = torch.rand(90, 1, 28, 28)
    roots = DataRoots((tmp_path,), tmp_path)
    values, record = resolve_thresholds(ThresholdSpec(protocol="authors", rule="max_softmax"), _ckpt(), x, roots)
    assert record["rule"] == "max_softmax" and all(0.1 <= t <= 1 for t in values)  # softmax maxima of 10 classes
    logits = _ckpt().model(x)
    assert torch.bincount(route(logits, values, "max_softmax"), minlength=3).tolist() == [30, 30, 30]
    _, record = resolve_thresholds(ThresholdSpec(protocol="authors"), _ckpt(exit_rule="max_softmax"), x, roots)
    assert record["rule"] == "max_softmax"  # the model's own rule when the suite names none


def test_a_card_rule_is_never_swapped_silently(tmp_path: Path) -> None:
    roots, x = DataRoots((tmp_path,), tmp_path), torch.rand(30, 1, 28, 28)
    with pytest.raises(ConfigError, match="its card holds entropy thresholds, not max_softmax"):
        resolve_thresholds(ThresholdSpec(rule="max_softmax"), _ckpt(thresholds=[0.5, 0.5]), x, roots)
    shifted = _ckpt(threshold_shift=ThresholdShift(scale=[3.0, 4.0]))
    with pytest.raises(ConfigError, match=r"hand shifts were made for entropy thresholds.*shift: none"):
        resolve_thresholds(ThresholdSpec(protocol="authors", rule="max_softmax"), shifted, x, roots)
    spec = ThresholdSpec(protocol="authors", rule="max_softmax", shift="none")
    assert resolve_thresholds(spec, shifted, x, roots)[1]["shift"] is None
    with pytest.raises(ConfigError, match=r"unknown exit rule 'confidence'.*Allowed: entropy, max_softmax"):
        resolve_thresholds(ThresholdSpec(), _ckpt(thresholds=[0.5, 0.5], exit_rule="confidence"), x, roots)


def test_suites_name_only_registered_rules_and_old_suites_keep_their_hash() -> None:
    with pytest.raises(ValidationError, match=r"unknown exit rule 'maxsoftmax'\. Did you mean 'max_softmax'\?"):
        ThresholdSpec(rule="maxsoftmax")
    assert "rule" not in ThresholdSpec().model_dump()  # unset: a suite written before the field hashes the same
    assert ThresholdSpec(rule="entropy").model_dump()["rule"] == "entropy"


def test_committed_cards_without_a_rule_load_as_entropy() -> None:
    cards = sorted(p for p in (REPO / "baselines" / "models").glob("*/card.json") if "exit_rule" not in p.read_text())
    assert cards, "the MNIST cards were written before cards named their exit rule"
    assert {read_card(p.parent).exit_rule for p in cards} == {"entropy"}
