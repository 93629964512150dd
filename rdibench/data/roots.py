"""Where datasets live: --data-dir, then RDIBENCH_DATA, then ./data (several roots allowed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("data")
ENV_VAR = "RDIBENCH_DATA"
CACHE_ENV_VAR = "RDIBENCH_CACHE"


@dataclass(frozen=True)
class DataRoots:
    """Ordered data roots searched for each dataset, plus a writable cache and the download switch.

    Why several roots: the repository ships MNIST in ``./data`` while a CIFAR-10 copy usually lives
    elsewhere; a read-only root is never written to (decompression goes to ``cache``).
    """

    roots: tuple[Path, ...]
    cache: Path
    download: bool = False

    def describe(self) -> str:
        return ", ".join(str(r.resolve()) for r in self.roots)


def resolve_roots(data_dir: str | None = None, *, download: bool = False) -> DataRoots:
    """Roots from ``data_dir`` (os.pathsep-separated), else ``$RDIBENCH_DATA``, else ``./data``."""
    text = data_dir or os.environ.get(ENV_VAR)
    roots = tuple(Path(p).expanduser() for p in text.split(os.pathsep) if p) if text else (DEFAULT_ROOT,)
    cache = Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "rdibench")).expanduser()
    return DataRoots(roots=roots, cache=cache, download=download)
