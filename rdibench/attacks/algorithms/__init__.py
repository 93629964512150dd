"""Attack algorithms, each one class taking any objective."""

from __future__ import annotations

from rdibench.attacks.algorithms.apgd import APGD
from rdibench.attacks.algorithms.fgsm import FGSM
from rdibench.attacks.algorithms.pgd import PGD
from rdibench.attacks.algorithms.wrm import WRM
from rdibench.attacks.base import Attack
from rdibench.core.registry import Registry

ALGORITHMS: Registry[type[Attack]] = Registry("attack algorithm")
for _cls in (PGD, APGD, FGSM, WRM):
    ALGORITHMS.register(_cls.name)(_cls)

__all__ = ["ALGORITHMS", "APGD", "FGSM", "PGD", "WRM"]
