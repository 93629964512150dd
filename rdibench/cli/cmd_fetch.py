"""``rdibench fetch NAME``: download (or find), verify and import a published model; ``--list`` shows the catalogue."""

from __future__ import annotations

import argparse

from rdibench.cli.common import add_models_args, data_roots
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.fetch import fetch, imported


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("fetch", help="get a published model by name into the cache (verified, imported)")
    p.add_argument("names", nargs="*", metavar="NAME", help="published model name(s); see --list")
    p.add_argument("--list", action="store_true", help="show the catalogue: names, sources, checksums, citations")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")
    add_models_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    roots = data_roots(args)
    if args.list:
        _print_catalogue(roots)
        return 0
    if not args.names:
        raise ConfigError("name a published model to fetch, or --list to see the catalogue")
    entries = [PUBLISHED.get(name) for name in args.names]  # every name checked before any download
    for entry in entries:
        print(fetch(entry.name, roots, progress=False if args.quiet else None))
    return 0


def _print_catalogue(roots: DataRoots) -> None:
    for name in PUBLISHED.names():
        e = PUBLISHED.get(name)
        cached = imported(name, roots)
        print(f"{name}  ({e.dataset}, {e.num_exits} exit(s), import kind {e.importer})")
        print(f"    {e.description}")
        print(f"    file {e.filename}, {e.size:,} bytes, sha256 {e.sha256}")
        print(f"    from {e.url}")
        print(f"    cite: {e.citation}")
        print(f"    licence: {e.licence}")
        print(f"    cached: {cached or 'no (fetched on first use)'}")
