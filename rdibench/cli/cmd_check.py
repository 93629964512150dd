"""``rdibench check SUITE --against REF``: run a suite and fail (exit 1) if it regressed against a reference run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.cli.cmd_compare import add_tolerance_args, compare_and_render
from rdibench.cli.common import acceleration, add_data_args, add_device_arg, add_models_args, data_roots
from rdibench.cli.progress import RichRunProgress
from rdibench.evaluation import load_suite
from rdibench.results import RunDir
from rdibench.runner import RunOptions, run_suite


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="CI regression check: run SUITE, compare with a committed reference run")
    p.add_argument("suite", type=Path)
    p.add_argument("--against", type=Path, required=True, help="reference result directory")
    p.add_argument("--out", type=Path, help="where the new run goes (default: the suite's output)")
    p.add_argument("--quiet", action="store_true")
    add_tolerance_args(p)
    add_device_arg(p)
    add_data_args(p)
    add_models_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    suite, source = load_suite(args.suite)
    RunDir.open(args.against)  # a wrong reference fails now, not after the whole suite has run
    with RichRunProgress(enabled=False if args.quiet else None) as progress:
        result = run_suite(
            suite,
            source,
            data_roots(args),
            RunOptions(out_root=args.out, progress=progress, device=args.device, acceleration=acceleration(args)),
        )
    print(f"new run: {result.path}")
    status = compare_and_render(args.against, result.path, args)
    return status or (1 if result.manifest["cells"]["failed"] else 0)
