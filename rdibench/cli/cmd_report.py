"""``rdibench report RUN_DIR``: (re)write a run's tables, plots, leaderboard and results page; print Markdown for a
README."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.core.errors import ConfigError
from rdibench.report import report_markdown, write_report, write_report_html


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report", help="regenerate metrics.csv, table.md/.tex, plots/, leaderboard.json and report.html of a run"
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--format",
        choices=["files", "md", "html"],
        default="files",
        help="files: every artifact (default); html: only report.html, the self-contained results page; "
        "md: print a README results section",
    )
    p.add_argument(
        "--beside",
        type=Path,
        metavar="REF.yaml",
        help="with --format md: add a table setting published numbers (e.g. results/reference/published_mnist.yaml) "
        "beside the run's",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "md":
        print(report_markdown(args.run_dir, beside=args.beside))
        return 0
    if args.beside:
        raise ConfigError("--beside adds a Markdown table: use it with --format md")
    if args.format == "html":
        print(write_report_html(args.run_dir))
        return 0
    for path in write_report(args.run_dir):
        print(path)
    return 0
