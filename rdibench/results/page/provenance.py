"""What a run was, read from its manifest for the page: identity, versions, seeds, data checksums.

Why a whitelist of fields rather than a dump of the manifest: the manifest also records where things lay on
the machine that ran (data cache, recipe and store paths); a page people share must not carry those, and a
reader needs the fields that identify the run, not every key. Missing fields read "not recorded".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

NOT_RECORDED = "not recorded"

Manifest = Mapping[str, Any]


@dataclass(frozen=True)
class DataSource:
    """One distinct evaluated selection and the models evaluated on it."""

    label: str
    source: str
    n: str
    lossy: bool
    selection_sha256: str
    source_checksum: str
    models: tuple[str, ...]


def run_facts(manifest: Manifest) -> list[tuple[str, str]]:
    """The run's identity as (label, value) rows, in reading order; the same labels for every run."""
    git = manifest.get("git") or {}
    suite = manifest.get("suite") or {}
    source = manifest.get("suite_source") or {}
    cells = manifest.get("cells") or {}
    executor = manifest.get("executor") or {}
    dirty = git.get("dirty")
    rows = [
        ("suite", manifest.get("suite_name") or suite.get("name")),
        ("description", suite.get("description")),
        ("suite file", _suite_file(source, manifest)),
        ("config hash", manifest.get("config_hash")),
        ("suite grew", _growth(manifest)),
        ("rdibench", manifest.get("rdibench_version")),
        ("git commit", git.get("commit")),
        ("working tree", None if dirty is None else "DIRTY: uncommitted changes" if dirty else "clean"),
        ("code version", manifest.get("code_version")),
        ("started", manifest.get("started_at")),
        ("finished", manifest.get("finished_at") or "not finished (partial or running)"),
        ("device", manifest.get("device")),
        ("torch threads", manifest.get("torch_threads")),
        ("executor", executor.get("kind")),
        ("cudnn deterministic", manifest.get("cudnn_deterministic")),
        ("platform", manifest.get("platform")),
        ("root seed", manifest.get("seed")),
        (
            "cells at the last finish",
            ", ".join(f"{cells[k]} {k}" for k in ("ok", "failed", "pending") if k in cells) or None,
        ),
        ("notes", manifest.get("notes") or None),
    ]
    return [(label, NOT_RECORDED if value is None else str(value)) for label, value in rows]


def _growth(manifest: Manifest) -> str:
    """The models a resumed run gained, each step with the config hash it grew from (``--resume`` of a grown suite)."""
    steps = manifest.get("grown") or []
    parts = [f"from {g['from_config_hash'][:8]}: + {', '.join(g['added_models']) or 'description only'}" for g in steps]
    return "; ".join(parts) or "no"


def versions(manifest: Manifest) -> list[tuple[str, str]]:
    """Package versions the run recorded, sorted by package name."""
    return sorted((str(k), str(v)) for k, v in (manifest.get("versions") or {}).items())


def seeds(manifest: Manifest) -> list[tuple[str, str]]:
    """Each model's seed, derived from the root seed and the model name (manifest ``seeds``)."""
    return [(str(k), str(v)) for k, v in (manifest.get("seeds") or {}).items()]


def data_sources(manifest: Manifest) -> list[DataSource]:
    """The run's distinct evaluated selections with their checksums, each listing its models; no locations."""
    groups: dict[tuple[str, ...], list[str]] = {}
    fields: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for model, record in (manifest.get("data") or {}).items():
        record = record or {}
        key = tuple(str(record.get(k)) for k in ("label", "source", "n", "selection_sha256", "source_checksum"))
        groups.setdefault(key, []).append(model)
        fields[key] = record
    return [
        DataSource(
            label=str(fields[key].get("label") or NOT_RECORDED),
            source=str(fields[key].get("source") or NOT_RECORDED),
            n=str(fields[key].get("n") or NOT_RECORDED),
            lossy=bool(fields[key].get("lossy")),
            selection_sha256=str(fields[key].get("selection_sha256") or NOT_RECORDED),
            source_checksum=str(fields[key].get("source_checksum") or NOT_RECORDED),
            models=tuple(models),
        )
        for key, models in groups.items()
    ]


def _suite_file(source: Mapping[str, Any], manifest: Manifest) -> str | None:
    """The suite file relative to the checkout as recorded (only its name if it was absolute) and its sha256."""
    path, sha = source.get("path"), source.get("sha256") or manifest.get("suite_sha256")
    if path is None:
        return None if sha is None else f"sha256 {sha}"
    shown = PurePath(path).name if PurePath(path).is_absolute() else str(path)
    return f"{shown} (sha256 {sha})" if sha else shown
