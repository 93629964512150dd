"""What the library adapters share: running on a view, seeding the libraries' global RNGs, resolving settings."""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import inspect
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from rdibench.attacks.adapters.views import ExitView, view_for, view_of
from rdibench.attacks.base import BOUND_KEYS, Attack, AttackParams
from rdibench.attacks.objectives import Objective, Random
from rdibench.core.errors import ConfigError, UnknownNameError
from rdibench.models.multiexit import MultiExitNet

# Libraries accept these silently when out of range (torchattacks PGD runs with eps=-0.1); a radius or
# step must be positive and an iteration count at least 1, whatever the library.
POSITIVE = ("eps", "alpha", "eps_step", "step_size")
AT_LEAST_ONE = ("steps", "max_iter", "n_iter", "nb_iter")


@contextlib.contextmanager
def seeded_global_rngs(generator: torch.Generator) -> Iterator[int]:
    """Seed torch's and numpy's *global* RNGs from ``generator`` for one library call, then restore them.

    Why: torchattacks, ART and AutoAttack draw their random starts from the global RNGs (AutoAttack
    even reseeds them). Forking leaves the caller's global state as it was; drawing the seed from the
    rdibench generator keeps the attack a deterministic function of (inputs, seed). Yields the seed.
    """
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield seed
        finally:
            np.random.set_state(np_state)


class ViewAttack(Attack):
    """Base of the adapters: a library attack run on :func:`view_for` ``(model, objective)``.

    The base class has already set the mode and frozen the parameters; here the parameters' ``.grad``
    are saved and put back too, because libraries call ``model.zero_grad()`` (ART does).
    """

    distribution: ClassVar[str] = ""

    def perturb(
        self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, objective: Objective, generator: torch.Generator
    ) -> torch.Tensor:
        view = view_for(model, objective)
        grads = [(p, p.grad) for p in model.parameters()]
        try:
            with seeded_global_rngs(generator) as seed, self.autocast(x.device):
                # Libraries flatten with .view, which refuses --channels-last (NHWC) images and gradients:
                # they get standard-layout images, whose gradient keeps that layout through a NHWC model.
                x_adv = self.run(view, x.contiguous(), y, seed)
        finally:
            for p, grad in grads:
                p.grad = grad
        return x_adv.to(device=x.device, dtype=x.dtype)

    def run(self, view: ExitView, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        """The library call on the single-logit ``view``; ``seed`` already seeds the global RNGs."""
        raise NotImplementedError

    def describe(self, objective: Objective | None = None) -> dict[str, Any]:
        """Every resolved setting and the library version; given ``objective``, also the view attacked through."""
        out = {**super().describe(), "library_version": importlib.metadata.version(self.distribution)}
        if isinstance(objective, Random):
            out.update(view="surrogate", weights="random, drawn per batch from the attack's generator")
        elif objective is not None:
            out.update(view_of(objective).describe())
        return out


class LibraryParams(AttackParams):
    cls: str = Field(description="the library's attack class")
    kwargs: dict[str, Any] = Field(description="every constructor argument: given values over the defaults")


class LibraryAttack(ViewAttack):
    """An attack class of a library, looked up by name, with every constructor argument resolved and recorded.

    Why resolve: the libraries' defaults differ silently (torchattacks PGD eps 8/255 and 10 steps, ART's
    eps 0.3 and 100 iterations without a random start), so a record must never say "default".
    ``defaults`` are the adapter's own replacements for library defaults (recorded like the rest).
    """

    Params = LibraryParams
    params: LibraryParams
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, cls: str, *, precision: Literal["fp32", "bf16"] = "fp32", **kwargs: Any) -> None:
        self.library_class = lookup_class(self.name, self.classes(), cls)
        bound = {k: kwargs.pop(k) for k in BOUND_KEYS if k in kwargs}  # what it attacks, not the library's
        resolved = resolve_kwargs(f"{self.name}:{cls}", self.library_class, kwargs, self.defaults)
        super().__init__(cls=cls, kwargs=resolved, precision=precision, **bound)

    @classmethod
    def classes(cls) -> Mapping[str, type]:
        """The library's attack classes by name."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        return f"{self.name}:{self.params.cls}"

    def build(self, model: Any) -> Any:
        """The library attack on ``model`` (its first constructor argument); its refusals become ConfigError."""
        try:
            return self.library_class(model, **self.params.kwargs)
        except (ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"{self.label} refused its settings {self.params.kwargs}: {e}") from e

    def describe(self, objective: Objective | None = None) -> dict[str, Any]:
        out = super().describe(objective)
        out.update(algorithm=self.label, norm=self.library_norm())
        return out

    def library_norm(self) -> str | None:
        """``norm`` from the settings, else torchattacks' docstring line "Distance Measure : Linf"; None if unknown."""
        norm = self.params.kwargs.get("norm")
        if norm is not None:
            if norm in ("inf", "Linf") or (isinstance(norm, float) and math.isinf(norm)):
                return "Linf"
            return norm if isinstance(norm, str) and norm.startswith("L") else f"L{norm}"
        found = re.search(r"Distance Measure\s*:\s*(\w+)", self.library_class.__doc__ or "")
        return found.group(1) if found else None


def lookup_class(library: str, classes: Mapping[str, type], name: str) -> type:
    """``classes[name]``, or :class:`UnknownNameError` with close names (case-insensitive) and all allowed ones."""
    if name in classes:
        return classes[name]
    lower = {n.lower(): n for n in classes}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(f'{library}:{lower[c]}') for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown {library} attack {name!r}.{hint} Allowed: {', '.join(sorted(classes))}.")


def resolve_kwargs(
    label: str, cls: type, given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every constructor argument after the model: the given value, else ``defaults``, else the signature's.

    Unknown names, missing required ones, non-positive step/radius settings and ``targeted=True`` (the
    adapters pass true labels) each raise one :class:`ConfigError` naming the setting and what is allowed.
    """
    params = [
        p
        for p in list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, then the model/estimator
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    allowed = [p.name for p in params]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        close = {c for u in unknown for c in difflib.get_close_matches(u, allowed, n=1)}
        hint = f" Did you mean {' or '.join(map(repr, sorted(close)))}?" if close else ""
        raise ConfigError(
            f"{label}: unknown setting {', '.join(map(repr, unknown))}.{hint} Allowed: {', '.join(allowed)}"
        )
    resolved: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            resolved[p.name] = given[p.name]
        elif defaults and p.name in defaults:
            resolved[p.name] = defaults[p.name]
        elif p.default is not p.empty:
            resolved[p.name] = p.default
    missing = [n for n in allowed if n not in resolved]
    if missing:
        raise ConfigError(f"{label}: missing required setting {', '.join(map(repr, missing))}")
    for name, value in resolved.items():
        _check_value(label, name, value)
    return resolved


def _check_value(label: str, name: str, value: Any) -> None:
    if name == "targeted" and value is True:
        raise ConfigError(f"{label}: targeted=True is not supported (the adapters pass true labels); allowed: False")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if name in POSITIVE and not value > 0:
        raise ConfigError(f"{label}: {name}={value!r} is not allowed; {name} must be > 0")
    if name in AT_LEAST_ONE and not value >= 1:
        raise ConfigError(f"{label}: {name}={value!r} is not allowed; {name} must be an integer >= 1")
