"""Arguments several subcommands share (data roots, threads, output format)."""

from __future__ import annotations

import argparse

import torch

from rdibench.data import DataRoots, resolve_roots


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="dataset root(s), os.pathsep-separated; default $RDIBENCH_DATA, else ./data",
    )
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def data_roots(args: argparse.Namespace) -> DataRoots:
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return resolve_roots(args.data_dir, download=args.download)
