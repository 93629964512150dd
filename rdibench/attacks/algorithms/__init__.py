"""Attack algorithms, each one class taking any objective."""

from __future__ import annotations

from rdibench.attacks.algorithms.apgd import APGD
from rdibench.attacks.algorithms.fgsm import FGSM
from rdibench.attacks.algorithms.pgd import PGD
from rdibench.attacks.algorithms.wrm import WRM
from rdibench.attacks.base import Attack
from rdibench.core.registry import Registry

ALGORITHMS: Registry[type[Attack]] = Registry("attack algorithm", group="rdibench.attacks")
"""Built-in algorithms and installed plugins' (entry-point group ``rdibench.attacks``: ``my_attack =
"my_pkg.attacks:MyAttack"``, an :class:`Attack` subclass), looked up by the name a suite's ``algorithm`` gives."""
for _cls in (PGD, APGD, FGSM, WRM):
    ALGORITHMS.register(_cls.name)(_cls)

__all__ = ["ALGORITHMS", "APGD", "FGSM", "PGD", "WRM"]
