"""``rdibench train RECIPE``: train (or reuse) the model a recipe describes and print its checkpoint directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rdibench.cli.common import acceleration, add_data_args, add_device_arg, data_roots
from rdibench.core.device import resolve_device
from rdibench.training import load_recipe, presets, train


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model from a recipe (adversarial, RDI, pruned or compressed baselines)",
        description="Train the model RECIPE describes; a finished run in the store is reused, not retrained. "
        "Ctrl-C saves a checkpoint; --resume continues it with the same result as an uninterrupted run.",
    )
    p.add_argument("recipe", metavar="RECIPE", help=f"recipe YAML file or preset ({', '.join(presets())})")
    p.add_argument("--out", metavar="DIR", help="checkpoint directory (default: <store>/<name>-<recipe hash>)")
    p.add_argument(
        "--store",
        metavar="DIR",
        help="checkpoint store keyed by recipe hash, also used for base models "
        "(default: $RDIBENCH_CACHE/checkpoints, else ~/.cache/rdibench/checkpoints)",
    )
    p.add_argument(
        "--reuse-from",
        metavar="DIRS",
        help="read-only stores (os.pathsep-separated, e.g. baselines/models) whose finished models of the recipe "
        "or of its base recipes are used instead of training them",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="run N iterations instead (milestones scaled; recorded in the recipe, so it is a different model)",
    )
    add_device_arg(p, "training runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    if args.iterations is not None:
        recipe = recipe.with_iterations(args.iterations)
    path = train(
        recipe,
        out_dir=args.out,
        store=args.store,
        reuse_from=[Path(d) for d in (args.reuse_from or "").split(os.pathsep) if d],
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
        data_roots=data_roots(args),
        device=resolve_device(args.device),
        acceleration=acceleration(args),
    )
    print(path)
    return 0
