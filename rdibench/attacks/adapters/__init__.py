"""Library attacks (torchattacks, ART, AutoAttack) on single-logit views of multi-exit models."""

from __future__ import annotations

from rdibench.attacks.adapters.art import ArtAttack
from rdibench.attacks.adapters.autoattack import AutoAttackAdapter
from rdibench.attacks.adapters.common import LibraryAttack, ViewAttack, seeded_global_rngs
from rdibench.attacks.adapters.torchattacks import TorchattacksAttack
from rdibench.attacks.adapters.views import ExitView, View, view_for, view_of

__all__ = [
    "ArtAttack",
    "AutoAttackAdapter",
    "ExitView",
    "LibraryAttack",
    "TorchattacksAttack",
    "View",
    "ViewAttack",
    "seeded_global_rngs",
    "view_for",
    "view_of",
]
