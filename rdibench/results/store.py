"""One directory per run, never overwritten: ``manifest.json`` + append-only ``cells.jsonl`` + report artifacts.

Why this shape (lm-eval's evaluation tracker, asv's result files): a run must be resumable after a crash,
citable later (the manifest holds everything needed to reproduce it), and two runs must never share a
directory, so an old result can always be compared with a new one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rdibench.core.errors import ResultsError
from rdibench.core.files import atomic_write

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
CELLS = "cells.jsonl"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX = re.compile(r"^[0-9a-f]{8,}$")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, second precision: the manifest's time format."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunDir:
    """A result directory ``<root>/<suite>/<YYYYmmddTHHMMSSZ>-<hash8>[-k]/``; get one via ``create`` or ``open``."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self._manifest = manifest

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        suite_name: str,
        config_hash: str,
        manifest: Mapping[str, Any],
        *,
        now: datetime | None = None,
    ) -> RunDir:
        """Make a fresh run directory and write its manifest.

        ``mkdir`` without ``exist_ok`` is the lock: when two runs start in the same second with the same
        config, the second gets a ``-2`` suffix (then ``-3``...) instead of mixing its cells into the first.
        """
        if not _SAFE_NAME.match(suite_name):
            raise ResultsError(f"suite name {suite_name!r} cannot name a directory; use letters, digits, '.', '_', '-'")
        if not _HEX.match(config_hash):
            raise ResultsError(f"config hash {config_hash!r} must be at least 8 lowercase hex digits (a sha256)")
        moment = now or utc_now()
        parent = Path(root) / suite_name
        parent.mkdir(parents=True, exist_ok=True)
        stem = f"{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{config_hash[:8]}"
        path, k = parent / stem, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                k += 1
                path = parent / f"{stem}-{k}"
        full = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "suite_name": suite_name,
            "config_hash": config_hash,
            "started_at": manifest.get("started_at") or iso_utc(moment),
            "finished_at": None,
            "cells": dict(manifest.get("cells") or {"total": 0, "ok": 0, "failed": 0}),
        }
        run = cls(path, full)
        run._write_manifest()
        log.info("created run directory %s", path)
        return run

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        """Open an existing run directory, refusing anything that is not one or that a newer rdibench wrote."""
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise ResultsError(
                f"{path} is not a result directory (no {MANIFEST}); pass a run directory such as "
                "results/<suite>/<timestamp>-<hash>/"
            )
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{manifest_path} is not valid JSON ({e}); the run directory is corrupt") from None
        version = manifest.get("schema_version") if isinstance(manifest, dict) else None
        if not isinstance(version, int):
            raise ResultsError(f"{manifest_path} has no integer schema_version; it is not an rdibench manifest")
        if version > SCHEMA_VERSION:
            raise ResultsError(
                f"{path} was written with results schema {version}, this rdibench reads up to {SCHEMA_VERSION}; "
                "upgrade rdibench to read it"
            )
        return cls(path, manifest)

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest; change it with :meth:`update_manifest`."""
        return json.loads(json.dumps(self._manifest))

    @property
    def name(self) -> str:
        return self.path.name

    def update_manifest(self, **fields: Any) -> None:
        """Replace top-level manifest fields and rewrite the file atomically."""
        self._manifest.update(fields)
        self._write_manifest()

    def finish(self, suite_keys: Sequence[str]) -> None:
        """Stamp ``finished_at``, the cell counts by status (from the latest record per cell) and the suite's
        cells not yet done (``pending_cells``: left out by ``--only``, failed or interrupted), so a partial run
        says so in its manifest and ``--resume`` finishes it."""
        cells = self.cells()
        statuses = [c.get("status") for c in cells]
        done = {c["key"] for c in cells if c.get("status") == "ok"}
        pending = [k for k in suite_keys if k not in done]
        counts = {
            "total": len(statuses),
            "ok": statuses.count("ok"),
            "failed": statuses.count("failed"),
            "pending": len(pending),
        }
        self.update_manifest(finished_at=iso_utc(utc_now()), cells=counts, pending_cells=pending)

    def append_cell(self, record: Mapping[str, Any]) -> None:
        """Append one finished cell as a single JSON line: one ``write``, then flush and fsync.

        A line counts as committed once its newline is on disk. A crash can leave an uncommitted tail,
        which readers ignore and the next append cuts off, so a resumed run never glues two records.
        """
        key, status = record.get("key"), record.get("status")
        if not isinstance(key, str) or status not in ("ok", "failed", "skipped"):
            raise ResultsError(
                f"a cell record needs a string 'key' and a status ok/failed/skipped; got {key!r}/{status!r}"
            )
        try:
            line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        except ValueError as e:
            raise ResultsError(f"cell {key!r} holds a value JSON cannot store ({e}); metrics must be finite") from None
        fd = os.open(self.path / CELLS, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _drop_uncommitted_tail(fd)
            data = line.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def cells(self) -> list[dict[str, Any]]:
        """Committed cell records, the latest per key (a resumed run may have retried a failed cell).

        In suite order: a parallel executor appends cells as they finish, so records carry their
        ``position`` in the suite; records without one keep file order, after those with one.
        """
        latest: dict[str, dict[str, Any]] = {}
        for record in self._records():
            latest.pop(record["key"], None)
            latest[record["key"]] = record
        return sorted(latest.values(), key=lambda r: r.get("position", math.inf))

    def finished_keys(self, cells: Sequence[Mapping[str, Any]] | None = None) -> set[str]:
        """Keys whose latest record is ``ok``: what a resumed run skips. Failed cells are retried.
        ``cells``: :meth:`cells` when the caller has already read them."""
        return {c["key"] for c in (self.cells() if cells is None else cells) if c.get("status") == "ok"}

    def pending_keys(self, cells: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
        """The suite's cells still to do: the manifest's ``pending_cells`` (stamped by the last finish) less the
        cells finished since. A run stopped by a signal never reaches :meth:`finish`, so its stamp overstates
        what is left."""
        done = self.finished_keys(cells)
        return [k for k in self._manifest.get("pending_cells") or [] if k not in done]

    def write_artifact(self, name: str, data: str | bytes) -> Path:
        """Atomically write a derived file (table, plot, csv) inside the run directory and return its path.

        Why here: ``results`` is the floor that touches the run's files, so report code never builds paths
        of its own and cannot write outside the run, nor clobber ``manifest.json`` or ``cells.jsonl``.
        """
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or rel.as_posix() in (MANIFEST, CELLS):
            raise ResultsError(f"artifact name {name!r} must be a relative path inside the run, not {MANIFEST}/{CELLS}")
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)
        return target

    def _records(self) -> list[dict[str, Any]]:
        path = self.path / CELLS
        if not path.exists():
            return []
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        if lines[-1]:
            log.warning(
                "%s: ignoring an uncommitted last line (%d bytes), left by an interrupted run", path, len(lines[-1])
            )
        records = []
        for lineno, line in enumerate(lines[:-1], start=1):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ResultsError(
                    f"{path}:{lineno}: corrupt cell record ({e}); repair or delete that line, or rerun the suite"
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get("key"), str):
                raise ResultsError(f"{path}:{lineno}: a cell record must be a JSON object with a string 'key'")
            records.append(record)
        return records

    def _write_manifest(self) -> None:
        text = json.dumps(self._manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"
        atomic_write(self.path / MANIFEST, text)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def _drop_uncommitted_tail(fd: int) -> None:
    """Truncate ``cells.jsonl`` after its last newline, removing the partial line of a crashed append."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    log.warning("dropping the uncommitted last line of %s left by an interrupted run", CELLS)
    chunk = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - chunk)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)
