"""The one reading of a device setting (``--device``, ``device=``): auto, cpu, cuda or cuda:N."""

from __future__ import annotations

import re

import torch

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
