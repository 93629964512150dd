"""The one reading of a device setting (``--device``, ``device=``): auto, cpu, cuda or cuda:N; and how models run
there beyond it (``--channels-last``, ``--compile``)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from rdibench.core.errors import DeviceError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str, *, auto: str | None = None) -> str:
    """The torch device ``name`` asks for, checked against this machine.

    ``auto`` is ``cuda`` when CUDA is available, else ``cpu``, unless the caller fixes it (``auto="cpu"``: the
    parallel executors keep their workers on the CPU unless told otherwise). A CUDA device that this machine
    lacks is a :class:`DeviceError` (exit 2) naming what is available, never a silent fall back to the CPU.
    """
    if name == "auto":
        name = auto or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return name
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise DeviceError(f"device {name!r} is not one of {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} requested but CUDA is not available on this machine; use cpu or auto")
    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise DeviceError(
            f"device {name!r} does not exist: this machine has {count} CUDA device(s), cuda:0..{count - 1}"
        )
    return name


@dataclass(frozen=True)
class Acceleration:
    """Speed settings that change how a model runs, never what it computes: numbers agree with a plain run up to
    floating-point noise. ``channels_last``: NHWC memory layout for the model and the images (what GPU tensor
    cores want); ``compile``: ``torch.compile`` of each model's forward (compiled once per process, on first use).
    With an attack's ``precision: bf16`` they make the fast GPU path; on a CPU channels_last gives convolutional
    models about 1.2x (README, Devices)."""

    channels_last: bool = False
    compile: bool = False

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` set up in place (once: a model already set up by these settings is left as it is)."""
        if getattr(model, "_rdibench_acceleration", None) == self or self == Acceleration():
            return model
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.compile:  # the instance's forward: the module keeps its class, attributes and state dict
            # random ops (a training forward's dropout) draw what eager ones draw from the same seed, not
            # inductor's own stream: a compiled training computes the plain one's masks
            from torch._inductor import config as inductor  # imported only when compiling: it is slow to load

            inductor.fallback_random = True
            model.forward = torch.compile(model.forward)  # type: ignore[method-assign]
        model._rdibench_acceleration = self  # type: ignore[assignment]
        return model

    @staticmethod
    def release(model: nn.Module) -> nn.Module:
        """``model`` as a plain one again, in place (contiguous layout, its class's forward): for what must see
        the module itself, such as counting FLOPs and writing a checkpoint after training."""
        if getattr(model, "_rdibench_acceleration", None) is None:
            return model
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        model.__dict__.pop("forward", None)  # the compiled instance forward; the class's own comes back
        del model._rdibench_acceleration
        return model

    def images(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def describe(self) -> dict[str, Any]:
        return asdict(self)
