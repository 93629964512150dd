"""``rdibench validate SUITE``: check a suite file without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.evaluation import load_suite


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="validate a suite file (keys, types, names, paths) and exit")
    p.add_argument("suite", type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite, _ = load_suite(args.suite)
    n_attacks = len(suite.attacks)
    print(
        f"{args.suite}: ok ({len(suite.models)} models, {n_attacks} attacks, data {suite.data.dataset}/"
        f"{suite.data.split} n={suite.data.n or 'all'})"
    )
    return 0
