"""Floor 7: the result store (run directories, manifest, ``cells.jsonl``) and flat views of it.

Imports only ``rdibench.core`` (plus numpy/pandas): reading results never needs torch models or attacks.
"""

from __future__ import annotations

from rdibench.results.flags import CellFlags, cell_flags, pack_flags
from rdibench.results.metrics import CLEAN, WorstCase, is_attack, metrics_frame, worst_case, write_metrics
from rdibench.results.store import SCHEMA_VERSION, RunDir

__all__ = [
    "CLEAN",
    "SCHEMA_VERSION",
    "CellFlags",
    "RunDir",
    "WorstCase",
    "cell_flags",
    "is_attack",
    "metrics_frame",
    "pack_flags",
    "worst_case",
    "write_metrics",
]
