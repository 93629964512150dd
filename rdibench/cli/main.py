"""``rdibench`` entry point: builds the subcommand parsers and maps errors to exit codes.

Exit codes: 0 success; 1 the command ran and found a problem (failed cells, a regression);
2 usage, config or input error (any RdibenchError). An unexpected exception keeps its traceback (a bug).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rdibench import __version__
from rdibench.core.errors import RdibenchError

SUBCOMMANDS = ("run", "validate", "eval", "compare", "check", "report", "fetch", "import", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rdibench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"rdibench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"rdibench.cli.cmd_{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # ART logs every attack call at INFO; rdibench's own progress says the same
        logging.getLogger("art").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except RdibenchError as e:
        print(f"rdibench {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"rdibench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
