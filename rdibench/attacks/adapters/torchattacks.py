"""Any torchattacks attack, by class name, on a single-logit view of a multi-exit model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from rdibench.attacks.adapters.common import LibraryAttack
from rdibench.attacks.adapters.views import ExitView


@functools.cache
def _classes() -> Mapping[str, type]:
    """torchattacks' attacks (``torchattacks.attacks.*``); the wrappers (MultiAttack, LGV) take no plain kwargs."""
    import torchattacks

    found = {name: getattr(torchattacks, name) for name in torchattacks.__all__}
    return {
        name: obj
        for name, obj in found.items()
        if isinstance(obj, type)
        and issubclass(obj, torchattacks.attack.Attack)
        and obj.__module__.startswith("torchattacks.attacks.")
    }


class TorchattacksAttack(LibraryAttack):
    """``torchattacks:<Class>``: torchattacks' own implementation, every constructor argument recorded.

    Settings are the class's constructor arguments with torchattacks' defaults filled in, so
    ``torchattacks:PGD`` without settings records eps=8/255, alpha=2/255, steps=10, random_start=True.
    The attack maximises CE on the objective's view (:mod:`rdibench.attacks.adapters.views`): exactly
    the objective for single and routing, the surrogate for average and random.

    torchattacks draws random starts from torch's *global* RNG: the adapter forks it, seeds it from the
    rdibench generator just before the call and restores the caller's state afterwards. torchattacks
    switches the model to eval itself; it is told to keep the mode the attack base set instead.
    Input ``x`` [N, C, H, W] in [0, 1], labels [N]; returns adversarial images of the same shape.
    Example: ``TorchattacksAttack("PGD", eps=0.3, alpha=0.01, steps=40)(model, x, y, Single(), generator=g)``.
    """

    name: ClassVar[str] = "torchattacks"
    distribution: ClassVar[str] = "torchattacks"

    @classmethod
    def classes(cls) -> Mapping[str, type]:
        return _classes()

    def run(self, view: ExitView, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        attack: Any = self.build(view)
        mode = view.training
        attack.set_model_training_mode(model_training=mode, batchnorm_training=mode, dropout_training=mode)
        x_adv: torch.Tensor = attack(x, y)
        return x_adv
