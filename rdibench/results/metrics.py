"""Flat views of a run's cells: ``metrics.csv`` (one row per model x attack) and the per-sample worst case.

Why rebuilt from ``cells.jsonl`` every time: the jsonl is the single source of truth, so a CSV can never
disagree with the records it came from, and a resumed run needs no CSV bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rdibench.core.errors import ResultsError
from rdibench.results.flags import CellFlags, cell_flags
from rdibench.results.store import RunDir

CLEAN = "clean"
"""Algorithm (``attack_family``) and usual name of the pseudo-attack that evaluates clean inputs only."""

_RECORD_COLUMNS = ("model", "attack", "objective", "dataset", "data_label", "lossy", "n")
_METRIC_COLUMNS = ("ta", "ata", "mflops_paper", "mflops_full", "mflops_paper_clean", "mflops_full_clean")
_TAIL_COLUMNS = ("status", "wall_s", "seed")


def is_attack(record: Mapping[str, Any]) -> bool:
    """False for the clean pseudo-attack cell (its ``ata`` equals ``ta``), whatever the suite named it."""
    return CLEAN not in (record.get("attack"), record.get("attack_family"))


def metrics_frame(cells: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per cell with unrounded fractions; ``mflops_*`` and ``exit_frac_k`` are adversarial for attack
    rows and clean for the ``clean`` row, so each row reads as "what this attack did to cost and exits".

    Failed cells keep their row with empty metrics, so a missing number is visible rather than dropped.
    """
    rows, exits = [], 0
    for record in cells:
        metrics = record.get("metrics") or {}
        side = "adv" if is_attack(record) else "clean"
        fractions = metrics.get(f"exit_fractions_{side}") or []
        exits = max(exits, len(fractions))
        rows.append(
            {c: record.get(c) for c in _RECORD_COLUMNS}
            | {
                "ta": metrics.get("ta"),
                "ata": metrics.get("ata"),
                "mflops_paper": metrics.get(f"mflops_paper_{side}"),
                "mflops_full": metrics.get(f"mflops_full_{side}"),
                "mflops_paper_clean": metrics.get("mflops_paper_clean"),
                "mflops_full_clean": metrics.get("mflops_full_clean"),
            }
            | {f"exit_frac_{k}": f for k, f in enumerate(fractions)}
            | {c: record.get(c) for c in _TAIL_COLUMNS}
        )
    exit_columns = [f"exit_frac_{k}" for k in range(exits)]
    return pd.DataFrame(rows).reindex(columns=[*_RECORD_COLUMNS, *_METRIC_COLUMNS, *exit_columns, *_TAIL_COLUMNS])


def write_metrics(run: RunDir) -> Path:
    """Rebuild ``metrics.csv`` in ``run`` from its cells (full float precision, no index column)."""
    return run.write_artifact("metrics.csv", metrics_frame(run.cells()).to_csv(index=False))


@dataclass(frozen=True)
class WorstCase:
    """Fraction of samples that survive *every* listed attack of one model (per-sample AND of ``adv_correct``)."""

    model: str
    acc: float
    attacks: tuple[str, ...]
    n: int

    @property
    def n_attacks(self) -> int:
        return len(self.attacks)


def worst_case(cells: Iterable[Mapping[str, Any]]) -> dict[str, WorstCase]:
    """Per model, the per-sample worst case over its successful attack cells.

    Why per sample: the minimum of per-attack ATAs overstates robustness, since different attacks break
    different samples. The AND is only meaningful on the same images, so differing index arrays are an error.
    Models without a successful attack cell are absent. Failed attacks are left out; ``attacks`` says which counted.
    """
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for record in cells:
        if record.get("status") == "ok" and is_attack(record):
            by_model.setdefault(record["model"], []).append(record)
    result = {}
    for model, records in by_model.items():
        flags = [_require_flags(r) for r in records]
        for record, f in zip(records[1:], flags[1:], strict=True):
            if not np.array_equal(flags[0].index, f.index):
                raise ResultsError(
                    f"model {model!r}: cell {record['key']!r} evaluated different samples than {records[0]['key']!r}; "
                    "a per-sample worst case needs identical index arrays (same data spec for every attack)"
                )
        robust = np.logical_and.reduce([f.adv_correct for f in flags])
        acc = float(robust.mean()) if robust.size else float("nan")
        result[model] = WorstCase(model, acc, tuple(r["attack"] for r in records), int(robust.size))
    return result


def _require_flags(record: Mapping[str, Any]) -> CellFlags:
    flags = cell_flags(record)
    if flags is None:
        raise ResultsError(f"cell {record.get('key')!r} has no per-sample flags; the worst case needs them")
    return flags
