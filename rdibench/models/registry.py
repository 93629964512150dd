"""timm-style model registry: ``@register_model`` on a constructor, ``create_model(name, **kw)`` to build."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rdibench.core.registry import Registry
from rdibench.models.multiexit import MultiExitNet

MODELS: Registry[Callable[..., MultiExitNet]] = Registry("model", group="rdibench.models")
"""Built-in architectures, ``@register_model`` constructors, and installed plugins' (entry-point group
``rdibench.models``: ``my_net = "my_pkg.nets:build"``, a constructor of any module meeting the model contract)."""


def register_model(fn: Callable[..., MultiExitNet]) -> Callable[..., MultiExitNet]:
    """Register a constructor under its function name."""
    return MODELS.register()(fn)


def create_model(name: str, *, num_classes: int | None = None, **kwargs: Any) -> MultiExitNet:
    """Build registered model ``name``; ``None`` kwargs are dropped so the constructor's defaults apply.

    ``num_classes`` (the dataset's) sizes the heads of constructors that take it; a constructor that does not
    take it has fixed heads.
    """
    _load_zoo()
    fn = MODELS.get(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if num_classes is not None and "num_classes" in inspect.signature(fn).parameters:
        kwargs["num_classes"] = num_classes
    model = fn(**kwargs)
    model.arch = name
    return model


def list_models(pattern: str = "*") -> list[str]:
    _load_zoo()
    return MODELS.names(pattern)


def _load_zoo() -> None:
    """Import the zoo on first use (registration happens there), not as a side effect of ``import rdibench``."""
    import rdibench.models.zoo  # noqa: F401
