"""``rdibench run SUITE``: evaluate a suite into a new result directory (or resume one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.cli.common import add_data_args, data_roots
from rdibench.cli.progress import RichRunProgress
from rdibench.evaluation import load_suite
from rdibench.runner import RunOptions, run_suite


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a suite (models x attacks) into results/<suite>/<timestamp>-<hash>/")
    p.add_argument("suite", type=Path, help="suite YAML, e.g. suites/quick.yaml")
    p.add_argument("--out", type=Path, help="results root (default: the suite's output, usually results/)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish an interrupted run in place")
    p.add_argument("--only", metavar="PATTERN", help="only cells whose 'model|attack' key matches this glob")
    p.add_argument("--no-cache", action="store_true", help="recompute cells even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite, source = load_suite(args.suite)
    roots = data_roots(args)
    with RichRunProgress(enabled=False if args.quiet else None) as progress:
        result = run_suite(
            suite,
            source,
            roots,
            RunOptions(
                out_root=args.out, resume=args.resume, only=args.only, cell_cache=not args.no_cache, progress=progress
            ),
        )
    cells = result.manifest["cells"]
    print(f"{cells['ok']} ok, {cells['failed']} failed of {cells['total']} cells")
    print(result.path)
    return 1 if cells["failed"] else 0
