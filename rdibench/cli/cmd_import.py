"""``rdibench import KIND PATH --out DIR``: convert a published checkpoint into rdibench's format."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.models.importers import IMPORTERS, import_checkpoint


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="convert an external checkpoint (triple-wins, trades) to rdibench's format")
    p.add_argument("kind", help=f"one of: {', '.join(IMPORTERS.names())}")
    p.add_argument("path", type=Path, help="the external file (read with weights_only=True)")
    p.add_argument("--out", type=Path, required=True, help="new checkpoint directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(import_checkpoint(args.kind, args.path, args.out))
    return 0
