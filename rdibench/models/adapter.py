"""The model contract for any network, and the one place that adapts a user's ``nn.Module`` to it.

The contract: a ``torch.nn.Module`` whose ``forward(x)`` takes a batch of [0, 1] images ``[N, C, H, W]`` and
returns its exits' logits, a list or tuple of ``[N, num_classes]`` tensors ordered shallow to deep (the deepest,
main exit last); a plain ``[N, num_classes]`` tensor is a one-exit (static) model. Nothing else is asked of
it: no base class, no attribute names, no registration. Normalisation, if the model wants any, is its own
first layer, since attacks work on [0, 1] images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rdibench.core.errors import ModelError
from rdibench.core.hashing import sha256_json, sha256_tensors
from rdibench.core.types import ExitLogits
from rdibench.models.multiexit import MultiExitNet

PROBE_BATCH = 2


class AdaptedModel(nn.Module):
    """A user's module seen as rdibench's models are: ``forward`` gives a list of exit logits, and
    ``num_exits``, ``num_classes`` and ``input_shape`` are known (found by one forward, see :func:`adapt_model`).

    The wrapped module keeps its own parameters, attribute names and state dict (``.module``); the adapter
    adds none, so ``eval()``, ``to(device)`` and ``parameters()`` reach the user's module unchanged.
    """

    def __init__(
        self, module: nn.Module, *, num_exits: int, num_classes: int, input_shape: Sequence[int], arch: str
    ) -> None:
        super().__init__()
        self.module = module
        self.num_exits = num_exits
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.arch = arch

    def forward(self, x: torch.Tensor) -> ExitLogits:
        return exit_list(self.module(x))


def exit_list(out: Any) -> ExitLogits:
    """A forward's output as the list of exit logits: a tuple becomes a list, a tensor a one-exit list."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)) and out and all(isinstance(z, torch.Tensor) for z in out):
        return list(out)
    raise ModelError(
        f"forward returned {_describe(out)}; the model contract asks for a list or tuple of per-exit logits "
        "tensors [N, num_classes], shallow to deep (or one tensor for a one-exit model)"
    )


def adapt_model(
    module: Any, input_shape: Sequence[int], *, num_classes: int | None = None, arch: str | None = None
) -> MultiExitNet | AdaptedModel:
    """``module`` ready for rdibench: a built-in :class:`MultiExitNet` as it is, any other ``nn.Module`` wrapped in
    :class:`AdaptedModel` after :func:`probe_exits` checked it; ``arch`` names the model (default
    ``<module>:<class>`` of its class)."""
    if isinstance(module, (MultiExitNet, AdaptedModel)):
        return module
    exits, classes = probe_exits(module, input_shape, num_classes=num_classes)
    name = arch or f"{type(module).__module__}:{type(module).__qualname__}"
    return AdaptedModel(module, num_exits=exits, num_classes=classes, input_shape=input_shape, arch=name)


def probe_exits(module: Any, input_shape: Sequence[int], *, num_classes: int | None = None) -> tuple[int, int]:
    """Number of exits and of classes of ``module``, from one forward (eval mode, no gradient, the mode
    restored) on a zero batch of ``input_shape`` (a dataset image's ``[C, H, W]``) on the module's device.

    The forward must return per-exit logits of shape ``[2, K]`` with one ``K`` for every exit (``num_classes``
    when given); anything else raises :class:`ModelError` saying what came back.
    """
    if not isinstance(module, nn.Module):
        raise ModelError(f"got {_describe(module)}, not a torch.nn.Module")
    shape = (PROBE_BATCH, *input_shape)
    probe = torch.zeros(shape, device=model_device(module))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(probe)
    except Exception as e:  # the user's forward: any failure is reported, with what it was given
        raise ModelError(f"forward on a zero batch of shape {list(shape)} raised {type(e).__name__}: {e}") from e
    finally:
        module.train(was_training)
    logits = exit_list(out)
    bad = [f"exit {i}: {_describe(z)}" for i, z in enumerate(logits) if z.dim() != 2 or z.shape[0] != PROBE_BATCH]
    if bad:
        raise ModelError(
            f"forward on a batch of shape {list(shape)} gave logits of the wrong shape ({'; '.join(bad)}); "
            f"each exit must give [{PROBE_BATCH}, num_classes]"
        )
    classes = sorted({int(z.shape[1]) for z in logits})
    if len(classes) > 1 or (num_classes is not None and classes[0] != num_classes):
        want = f"{num_classes} classes (the dataset's)" if num_classes is not None else "one class count"
        got = ", ".join(f"exit {i}: {int(z.shape[1])}" for i, z in enumerate(logits))
        raise ModelError(f"exits give logits of {got} classes; every exit must give {want}")
    return len(logits), classes[0]


def model_device(module: nn.Module) -> torch.device:
    """Where a module's parameters (else buffers) live; the CPU for one that has neither."""
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def state_sha256(module: nn.Module) -> str:
    """Hash of a module's state dict (names, dtypes, shapes, values): its weights' identity without a file."""
    return sha256_json([[k, sha256_tensors(v)] for k, v in sorted(module.state_dict().items())])


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"a {type(value).__name__} of {len(value)} ({inner})"
    cls = type(value)
    return f"a {cls.__qualname__}" if cls.__module__ == "builtins" else f"a {cls.__module__}.{cls.__qualname__}"
