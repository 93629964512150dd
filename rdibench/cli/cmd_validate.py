"""``rdibench validate SUITE``: check a suite file without running anything, and say where each model comes from."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.cli.common import add_data_args, add_models_args, data_roots
from rdibench.evaluation import load_suite
from rdibench.evaluation.sources import describe_source, untrained_exits


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "validate",
        help="validate a suite file (keys, types, names, paths) and say where each model comes from",
        description="Check a suite file, then list each model's source: a checkpoint, a published model (imported, "
        "at hand or to download), an import, or a recipe (trained in a store, or NOT TRAINED: the run trains it "
        "first). Nothing is loaded, downloaded or trained.",
    )
    p.add_argument("suite", type=Path)
    add_data_args(p)
    add_models_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite, _ = load_suite(args.suite)
    roots = data_roots(args)
    print(
        f"{args.suite}: ok ({len(suite.models)} models, {len(suite.attacks)} attacks, data {suite.data.dataset}/"
        f"{suite.data.split} n={suite.data.n or 'all'})"
    )
    width = max(len(m.name) for m in suite.models)
    for model in suite.models:
        print(f"  {model.name:<{width}}  {describe_source(model, roots, suite.stores)}")
    untrained = sum(untrained_exits(m, roots.cache, suite.stores) is not None for m in suite.models)
    if untrained:
        print(
            f"{untrained} model(s) NOT TRAINED: `rdibench run` trains each before any cell runs (`rdibench train "
            "RECIPE` trains one alone; `--only` leaves a model out)"
        )
    return 0
