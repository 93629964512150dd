"""Published models by name: the file is found in a models root or downloaded, verified, imported once into
``<cache>/models/<name>/`` (safetensors + card) and reused from there afterwards.

Why models roots first: offline machines (CI, clusters) hold copies of the published files, often renamed;
the catalogue's sha256 recognises them, so nothing is downloaded that is already at hand.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rdibench.core.download import download
from rdibench.core.errors import CheckpointError, DownloadError, UnknownNameError
from rdibench.core.hashing import sha256_file
from rdibench.data.roots import MODELS_ENV_VAR, DataRoots
from rdibench.models.catalogue import PUBLISHED, PublishedModel
from rdibench.models.checkpoint import CARD, read_card, save_checkpoint
from rdibench.models.importers import IMPORTERS

log = logging.getLogger(__name__)


def find_local(entry: PublishedModel, roots: Sequence[Path]) -> Path | None:
    """The published file in ``roots``: under its upstream name, else any file of its size and sha256.

    A file under the upstream name with other contents is an error, not skipped: it is a wrong copy that
    someone means to be used.
    """
    for root in roots:
        named = root / entry.filename
        if named.is_file():
            digest = sha256_file(named)
            if digest != entry.sha256:
                raise DownloadError(
                    f"{named}: not the published file of {entry.name}: sha256 expected {entry.sha256}, got {digest}"
                )
            return named
    for root in roots:
        candidates = sorted(root.iterdir()) if root.is_dir() else []
        for path in candidates:
            if path.is_file() and path.stat().st_size == entry.size and sha256_file(path) == entry.sha256:
                return path
    return None


def fetch(name: str, roots: DataRoots, *, progress: bool | None = None) -> Path:
    """The checkpoint directory of published model ``name``, fetched and imported on first use.

    The cache holds only finished imports: the download and the import happen in a temporary directory
    that is renamed into place after both succeed, so an interrupt leaves nothing a later run would trust.
    """
    if (done := imported(name, roots)) is not None:
        return done
    entry = PUBLISHED.get(name)
    target = _target(entry, roots)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{entry.name}-") as tmp:
        source = find_local(entry, roots.models) or _download(entry, Path(tmp), roots.models, progress)
        log.info("%s: %s (sha256 verified), importing into %s", entry.name, source, target)
        ckpt = IMPORTERS.get(entry.importer)(source)
        if ckpt.card.num_exits != entry.num_exits:
            raise CheckpointError(
                f"published model {entry.name}: {source} imports as a model of {ckpt.card.num_exits} exit(s); "
                f"the catalogue says {entry.num_exits}"
            )
        card = ckpt.card.model_copy(
            update={"upstream": entry, "source": f"rdibench fetch {entry.name}: {entry.url}, sha256 {entry.sha256}"}
        )
        staged = save_checkpoint(ckpt.model, card, Path(tmp) / "checkpoint")
        _install(staged, target, entry)
    return target


def imported(name: str, roots: DataRoots) -> Path | None:
    """The cache's finished import of published model ``name`` (of the catalogue's file), if there is one."""
    entry = PUBLISHED.get(name)
    target = _target(entry, roots)
    return target if _current(target, entry) else None


def _target(entry: PublishedModel, roots: DataRoots) -> Path:
    """Where the cache keeps a published model's import."""
    return roots.cache / "models" / entry.name


def describe_fetch(name: str, roots: DataRoots) -> str:
    """What :func:`fetch` would do for ``name``, found without downloading or importing anything."""
    entry = PUBLISHED.get(name)
    if (target := imported(name, roots)) is not None:
        return f"imported, {target}"
    local = find_local(entry, roots.models)
    if local is not None:
        return f"file at hand, {local} (sha256 verified); imported into the cache on first use"
    return f"downloaded on first use from {entry.url} (sha256 {entry.sha256}), then imported into the cache"


def resolve_checkpoint(name_or_dir: str | Path, roots: DataRoots, *, progress: bool | None = None) -> Path:
    """A checkpoint directory as given, else the published model of that name (fetched on first use)."""
    path = Path(name_or_dir)
    if (path / CARD).is_file():
        return path
    if str(name_or_dir) in PUBLISHED:
        return fetch(str(name_or_dir), roots, progress=progress)
    raise UnknownNameError(
        f"{str(name_or_dir)!r} is neither a checkpoint directory nor a published model: "
        f"{PUBLISHED.unknown_message(str(name_or_dir))}"
    )


def offline_hint(entry: PublishedModel, roots: Sequence[Path]) -> str:
    """How to provide the file without a download (what a user on an offline machine needs to read)."""
    searched = ", ".join(f"{r}{'' if r.is_dir() else ' (missing)'}" for r in roots) or "none set"
    return (
        f"To use a copy you have, put {entry.filename} (sha256 {entry.sha256}) in a folder "
        f"named by {MODELS_ENV_VAR} or --models-dir (several separated by '{os.pathsep}'; searched: {searched})."
    )


def _download(entry: PublishedModel, tmp: Path, roots: Sequence[Path], progress: bool | None) -> Path:
    try:
        return download(entry.url, tmp / entry.filename, entry.sha256, progress=progress)
    except DownloadError as e:
        raise DownloadError(f"published model {entry.name}: {e}\n{offline_hint(entry, roots)}") from None


def _current(target: Path, entry: PublishedModel) -> bool:
    """A finished import of this very file (a catalogue entry with a new sha256 makes it stale)."""
    if not (target / CARD).is_file():
        return False
    try:
        upstream = read_card(target).upstream
    except CheckpointError:
        return False
    return upstream is not None and upstream.sha256 == entry.sha256


def _install(staged: Path, target: Path, entry: PublishedModel) -> None:
    """Move a finished import into place, replacing a stale one; a concurrent fetch may have won the race."""
    if target.exists() and not _current(target, entry):
        shutil.rmtree(target)
    try:
        os.replace(staged, target)
    except OSError:
        if not _current(target, entry):
            raise
