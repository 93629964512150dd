"""Verified HTTP downloads: a file gets its final name only once its size and sha256 check out.

Why: an interrupted, truncated or tampered download must leave nothing a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from rdibench.core.errors import DownloadError
from rdibench.core.files import atomic_path

CHUNK = 1 << 16
TIMEOUT_S = 30.0


def download(url: str, dest: Path, sha256: str, *, progress: bool | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Fetch ``url`` into ``dest`` through a temporary name beside it, renamed only when the body is complete
    (Content-Length) and hashes to ``sha256``; on any failure or interrupt the partial file is removed.

    ``progress``: show a bar on stderr (default: only when stderr is a terminal).
    """
    with atomic_path(Path(dest), suffix=".part") as part:
        with open(part, "wb") as out:
            show = sys.stderr.isatty() if progress is None else progress
            digest, received, expected = _stream(url, out, timeout, Path(dest).name if show else None)
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: download truncated: {received} of {expected} bytes arrived")
        if digest != sha256:
            raise DownloadError(f"{url}: sha256 mismatch: expected {sha256}, got {digest} ({received} bytes)")
    return Path(dest)


def _stream(url: str, out: BinaryIO, timeout: float, label: str | None) -> tuple[str, int, int | None]:
    """Copy the response body into ``out`` (a progress bar named ``label`` on stderr, none if None); returns
    its sha256, the bytes received and the announced length."""
    h = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
            with Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True), disable=label is None) as bar:
                task = bar.add_task(label or "", total=expected)
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    bar.advance(task, len(chunk))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DownloadError(f"cannot download {url}: {getattr(e, 'reason', None) or e}") from None
    return h.hexdigest(), received, expected
