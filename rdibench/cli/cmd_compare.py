"""``rdibench compare A B``: diff two result directories cell by cell (exit 0 none, 1 regression, 2 bad input)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.compare import compare_html, compare_runs, render_table
from rdibench.results import RunDir


def add_tolerance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tol-ata", type=float, help="ATA tolerance in points (default: 2 binomial SE for the cell's n)")
    p.add_argument("--tol-ta", type=float, help="TA tolerance in points (default: 2 binomial SE)")
    p.add_argument("--mflops-rtol", type=float, default=0.02, help="relative MFlops tolerance (default 0.02)")
    p.add_argument("--alpha", type=float, default=0.01, help="paired McNemar significance level (default 0.01)")
    p.add_argument(
        "--format",
        choices=["text", "md", "html"],
        default="text",
        help="md for PR comments; html: a self-contained page (redirect it to a file)",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("compare", help="compare run B against baseline run A; exit 1 on a regression")
    p.add_argument("a", type=Path, help="baseline result directory")
    p.add_argument("b", type=Path, help="candidate result directory")
    add_tolerance_args(p)
    p.set_defaults(func=run)


def compare_and_render(a: Path, b: Path, args: argparse.Namespace) -> int:
    run_a, run_b = RunDir.open(a), RunDir.open(b)
    comparison = compare_runs(
        run_a, run_b, tol_ata=args.tol_ata, tol_ta=args.tol_ta, mflops_rtol=args.mflops_rtol, alpha=args.alpha
    )
    if args.format == "html":
        print(compare_html(comparison, run_a.manifest, run_b.manifest), end="")
    else:
        print(render_table(comparison, fmt=args.format))
    return 1 if comparison.regressions else 0


def run(args: argparse.Namespace) -> int:
    return compare_and_render(args.a, args.b, args)
