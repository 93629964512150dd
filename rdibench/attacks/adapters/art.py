"""Any ART evasion attack, by class name, on a single-logit view of a multi-exit model."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from rdibench.attacks.adapters.common import LibraryAttack
from rdibench.attacks.adapters.views import ExitView
from rdibench.attacks.objectives import Objective
from rdibench.core.errors import ConfigError

ESTIMATOR = {"estimator": "PyTorchClassifier", "loss": "cross_entropy", "clip_values": [0.0, 1.0]}


@functools.cache
def _classes() -> Mapping[str, type]:
    """ART's evasion attacks (``art.attacks.evasion``), imported on first use: ART is slow to import."""
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    return {
        name: obj
        for name, obj in vars(evasion).items()
        if inspect.isclass(obj) and issubclass(obj, EvasionAttack) and obj is not EvasionAttack
    }


class ArtAttack(LibraryAttack):
    """``art:<Class>``: an ART evasion attack through ``PyTorchClassifier``, every constructor argument recorded.

    ART's defaults are recorded explicitly: ``art:ProjectedGradientDescent`` without settings runs
    eps=0.3, eps_step=0.1, max_iter=100, num_random_init=0 (no random start), batch_size=32. The
    estimator always gets ``clip_values=(0, 1)`` (without it ART does not clip), CE loss, the input
    shape and the class count; ``verbose`` defaults to False here (attacks show no progress bars).
    The attack maximises CE on the objective's view (:mod:`rdibench.attacks.adapters.views`).

    ART draws from numpy's (and torch's) *global* RNG: both are forked, seeded from the rdibench
    generator just before the call and restored afterwards. ART's estimator always runs the model in
    eval mode, so training-time (train-mode) attacks are refused. Returns a tensor on ``x``'s device.
    Example: ``ArtAttack("ProjectedGradientDescent", eps=0.3, eps_step=0.01, max_iter=40)(model, x, y, Single(),
    generator=g)``.
    """

    name: ClassVar[str] = "art"
    distribution: ClassVar[str] = "adversarial-robustness-toolbox"
    defaults: ClassVar[Mapping[str, Any]] = {"verbose": False}

    @classmethod
    def classes(cls) -> Mapping[str, type]:
        return _classes()

    def run(self, view: ExitView, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        from art.estimators.classification import PyTorchClassifier

        if view.training:
            raise ConfigError(
                f"{self.label}: ART's estimator runs the model in eval mode only; "
                "a train-mode (training-time) attack needs a built-in or torchattacks attack"
            )
        with torch.no_grad():
            nb_classes = view(x[:1]).shape[1]
        on_gpu = x.device.type == "cuda"
        with torch.cuda.device(x.device) if on_gpu else contextlib.nullcontext():  # ART uses the current GPU
            classifier = PyTorchClassifier(
                model=view,
                loss=nn.CrossEntropyLoss(),
                input_shape=tuple(x.shape[1:]),
                nb_classes=nb_classes,
                clip_values=(0.0, 1.0),
                device_type="gpu" if on_gpu else "cpu",
            )
            x_adv = self.build(classifier).generate(x=x.cpu().numpy(), y=y.cpu().numpy())
        return torch.from_numpy(x_adv)

    def describe(self, objective: Objective | None = None) -> dict[str, Any]:
        return {**super().describe(objective), **ESTIMATOR}
