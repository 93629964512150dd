"""Atomic file writes: readers (and a later run after a crash) see the old file or the complete new one.

Why one helper: manifests, cards, cached cells, training checkpoints and downloads all need the same
guarantee; a temporary sibling (same filesystem, so the rename is atomic) is written, flushed to disk and
renamed over the target, and removed on any failure or interrupt.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary sibling of ``target`` to write into; renamed over ``target`` when the block ends normally."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(target: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
