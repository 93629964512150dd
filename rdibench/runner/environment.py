"""Facts about the code and machine a run used, for the manifest (reproducibility)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import rdibench

PACKAGES = (
    "torch",
    "torchvision",
    "torchattacks",
    "adversarial-robustness-toolbox",
    "ptflops",
    "numpy",
    "pandas",
    "pydantic",
    "safetensors",
    "pyautoattack",
    "torch-pruning",
)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "rdibench": rdibench.__version__}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout rdibench runs from (None outside a git checkout)."""
    root = Path(rdibench.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def code_version() -> str:
    """Hash of rdibench's own source: a cached cell is reused only by the exact code that made it."""
    h = hashlib.sha256()
    for path in sorted(Path(rdibench.__file__).resolve().parent.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def machine(device: str = "cpu") -> dict[str, Any]:
    """The machine a run used: ``device`` is where its cells ran (``rdibench run --device``), with the CUDA
    device's name when it is one."""
    return {
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda_device": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None,
        "platform": platform.platform(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }
