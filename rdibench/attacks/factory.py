"""Attack names -> attacks: built-ins (``pgd``), ``torchattacks:<Class>``, ``art:<Class>``, ``autoattack``."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from typing import Any

from rdibench.attacks.adapters import ArtAttack, AutoAttackAdapter, LibraryAttack, TorchattacksAttack
from rdibench.attacks.algorithms import ALGORITHMS
from rdibench.attacks.base import BOUND_KEYS, Attack
from rdibench.core.errors import ConfigError, UnknownNameError

LIBRARIES: dict[str, type[LibraryAttack]] = {cls.name: cls for cls in (TorchattacksAttack, ArtAttack)}


def make_attack(algorithm: str, params: Mapping[str, Any] | None = None) -> Attack:
    """The attack named ``algorithm`` with settings ``params`` (validated now; errors name what is allowed).

    A library name is ``<library>:<Class>`` so a suite names a library attack as it names a built-in;
    its ``params`` are the class's constructor arguments.
    """
    settings = dict(params or {})
    bound = [k for k in BOUND_KEYS if k in settings]
    if bound:
        raise ConfigError(
            f"attack {algorithm!r}: {', '.join(map(repr, bound))} is not an algorithm setting; a suite gives objective "
            "and exit as the attack's own keys and thresholds through its threshold protocol"
        )
    if algorithm in ALGORITHMS:
        return ALGORITHMS.get(algorithm)(**settings)
    if algorithm == AutoAttackAdapter.name:
        return AutoAttackAdapter(**settings)
    library, sep, cls = algorithm.partition(":")
    if sep and library in LIBRARIES:
        if "cls" in settings:
            raise ConfigError(f"attack {algorithm!r}: the class is named in the attack name, not by a 'cls' setting")
        return LIBRARIES[library](cls, **settings)
    close = difflib.get_close_matches(algorithm, list_attacks(), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    allowed = [*ALGORITHMS.names(), AutoAttackAdapter.name, *(f"{lib}:<Class>" for lib in LIBRARIES)]
    raise UnknownNameError(
        f"unknown attack {algorithm!r}.{hint} Allowed: {', '.join(allowed)} (see rdibench.attacks.list_attacks())."
    )


def is_single_step(algorithm: str) -> bool:
    """Whether the built-in attack ``algorithm`` takes one gradient step (:attr:`Attack.single_step`); library
    attacks are not inspected, so they count as iterative."""
    return algorithm in ALGORITHMS and ALGORITHMS.get(algorithm).single_step


def list_attacks(pattern: str = "*") -> list[str]:
    """Every attack name :func:`make_attack` accepts, library classes included (imports the libraries)."""
    names = [*ALGORITHMS.names(), AutoAttackAdapter.name]
    names += [f"{lib}:{cls}" for lib, adapter in LIBRARIES.items() for cls in adapter.classes()]
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))
