"""``rdibench report RUN_DIR``: (re)write a run's tables, plots and leaderboard; print Markdown for a README."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdibench.report import report_markdown, write_report


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="regenerate metrics.csv, table.md/.tex, plots/ and leaderboard.json of a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", choices=["files", "md"], default="files", help="md: print a README results section")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "md":
        print(report_markdown(args.run_dir))
        return 0
    for path in write_report(args.run_dir):
        print(path)
    return 0
