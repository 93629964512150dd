"""Where inputs live: data roots (--data-dir, then RDIBENCH_DATA, then ./data), models roots for published
files (--models-dir, then RDIBENCH_MODELS), and the writable cache (RDIBENCH_CACHE)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("data")
ENV_VAR = "RDIBENCH_DATA"
MODELS_ENV_VAR = "RDIBENCH_MODELS"
CACHE_ENV_VAR = "RDIBENCH_CACHE"


@dataclass(frozen=True)
class DataRoots:
    """Ordered data roots searched for each dataset, plus a writable cache, the download switch and the
    models roots searched for published files before any download.

    Why several roots: the repository ships MNIST in ``./data`` while a CIFAR-10 copy usually lives
    elsewhere; a read-only root is never written to (decompression and imports go to ``cache``).
    """

    roots: tuple[Path, ...]
    cache: Path
    download: bool = False
    models: tuple[Path, ...] = ()

    def describe(self) -> str:
        return ", ".join(str(r.resolve()) for r in self.roots)


def _split(text: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in text.split(os.pathsep) if p)


def resolve_roots(data_dir: str | None = None, *, download: bool = False, models_dir: str | None = None) -> DataRoots:
    """Roots from ``data_dir`` (os.pathsep-separated), else ``$RDIBENCH_DATA``, else ``./data``; models roots
    from ``models_dir``, else ``$RDIBENCH_MODELS``, else none."""
    text = data_dir or os.environ.get(ENV_VAR)
    roots = _split(text) if text else (DEFAULT_ROOT,)
    models = _split(models_dir or os.environ.get(MODELS_ENV_VAR, ""))
    cache = Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "rdibench")).expanduser()
    return DataRoots(roots=roots, cache=cache, download=download, models=models)
