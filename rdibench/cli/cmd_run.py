"""``rdibench run SUITE``: evaluate a suite into a new result directory (or resume one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.cli.common import acceleration, add_data_args, add_device_arg, add_models_args, data_roots
from rdibench.cli.progress import RichRunProgress
from rdibench.evaluation import load_suite
from rdibench.runner import ExecutorConfig, RunOptions, run_suite
from rdibench.runner.executors import KINDS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a suite (models x attacks) into results/<suite>/<timestamp>-<hash>/")
    p.add_argument("suite", type=Path, help="suite YAML, e.g. suites/quick.yaml")
    p.add_argument("--out", type=Path, help="results root (default: the suite's output, usually results/)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish an interrupted run in place")
    p.add_argument(
        "--only",
        metavar="PATTERNS",
        help="only cells whose 'model|attack' key matches one of these comma-separated globs",
    )
    p.add_argument("--no-cache", action="store_true", help="recompute cells even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--executor",
        choices=KINDS,
        default="local",
        help="where cells run: local (this process, one at a time), processes (worker processes on this "
        "machine), ray (a Ray cluster; needs pip install 'rdibench[ray]')",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="processes, or ray without --address: cells at once (default: cores / --threads)",
    )
    p.add_argument(
        "--address",
        help="ray: the cluster to join, 'auto' (the one `ray start` made on this machine) or HOST:PORT; "
        "default: start a local cluster for this run",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=2,
        help="times a cell is retried when its worker dies before it is recorded failed (default 2)",
    )
    add_device_arg(
        p, "cells run; the processes and ray executors keep their workers on the CPU unless a device is named"
    )
    add_data_args(p)
    add_models_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite, source = load_suite(args.suite)
    roots = data_roots(args)
    executor = ExecutorConfig(args.executor, args.workers, args.threads, args.address, args.max_retries)
    with RichRunProgress(enabled=False if args.quiet else None) as progress:
        result = run_suite(
            suite,
            source,
            roots,
            RunOptions(
                out_root=args.out,
                resume=args.resume,
                only=args.only,
                cell_cache=not args.no_cache,
                progress=progress,
                executor=executor,
                device=args.device,
                acceleration=acceleration(args),
            ),
        )
    cells = result.manifest["cells"]
    print(f"{cells['ok']} ok, {cells['failed']} failed of {cells['total']} cells")
    print(result.path)
    return 1 if cells["failed"] else 0
