"""Arguments several subcommands share (data and models roots, threads, output format)."""

from __future__ import annotations

import argparse

import torch

from rdibench.core.device import DEVICE_CHOICES, Acceleration
from rdibench.data import DataRoots, resolve_roots


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="dataset root(s), os.pathsep-separated; default $RDIBENCH_DATA, else ./data",
    )
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def add_device_arg(p: argparse.ArgumentParser, what: str = "cells run") -> None:
    p.add_argument("--device", default="auto", help=f"where {what}: {DEVICE_CHOICES} (auto: cuda when available)")
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="NHWC layout for models and images (speed only; GPUs, and about 1.2x for CNNs on a CPU)",
    )
    p.add_argument(
        "--compile", action="store_true", help="torch.compile each model's forward (speed only; compiles first)"
    )


def acceleration(args: argparse.Namespace) -> Acceleration:
    """The ``--channels-last`` and ``--compile`` settings."""
    return Acceleration(channels_last=args.channels_last, compile=args.compile)


def add_models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models-dir",
        help="folder(s) holding published model files, os.pathsep-separated, searched (by file name, then by "
        "sha256) before any download; default $RDIBENCH_MODELS",
    )


def data_roots(args: argparse.Namespace) -> DataRoots:
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return resolve_roots(
        getattr(args, "data_dir", None),
        download=getattr(args, "download", False),
        models_dir=getattr(args, "models_dir", None),
    )
