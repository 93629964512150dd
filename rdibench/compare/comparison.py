"""Compare two runs cell by cell (asv-compare style); a pure function whose result is rendered elsewhere.

Why two gates for accuracies: a drop must exceed a tolerance (by default 2 binomial standard errors for the
cell's n) *and*, when both runs saw the same images, be significant under an exact paired McNemar test.
The second gate keeps sampling noise from failing CI, the first keeps a significant but negligible shift quiet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from rdibench.compare.stats import binomial_tolerance, mcnemar_p
from rdibench.core.errors import ConfigError, ResultsError
from rdibench.results import CellFlags, RunDir, cell_flags

ACCURACIES = {"ta": "clean_correct", "ata": "adv_correct"}
"""Accuracy metrics compared, with the per-sample flag that backs each (higher is better)."""
COSTS = ("mflops_paper_adv",)
"""Cost metrics compared with a relative tolerance (higher is worse)."""
METRICS = (*ACCURACIES, *COSTS)

Record = Mapping[str, Any]


class Mark(str, Enum):
    """asv's one-character verdicts."""

    WORSE = "+"
    BETTER = "-"
    NOT_SIGNIFICANT = "~"
    NEWLY_FAILED = "!"
    FIXED = "*"
    NOT_COMPARABLE = "x"
    UNCHANGED = " "


_ROW_PRIORITY = (Mark.WORSE, Mark.NOT_SIGNIFICANT, Mark.BETTER)


@dataclass(frozen=True)
class MetricChange:
    """One metric of one cell on both sides. ``delta = b - a``; ``tol`` in the metric's unit; ``p`` from McNemar."""

    name: str
    a: float | None
    b: float | None
    delta: float | None = None
    tol: float | None = None
    p: float | None = None
    mark: Mark = Mark.UNCHANGED


@dataclass(frozen=True)
class Row:
    """One (model, attack) cell of the union of both runs; ``status_*`` is ``None`` where the side lacks it."""

    model: str
    attack: str
    status_a: str | None
    status_b: str | None
    mark: Mark
    metrics: tuple[MetricChange, ...]
    note: str = ""

    @property
    def only_in(self) -> str | None:
        if self.status_a is None:
            return "B"
        return "A" if self.status_b is None else None


@dataclass(frozen=True)
class Comparison:
    """All rows plus the settings that produced them; the CLI turns ``regressions`` into its exit code."""

    a: str
    b: str
    rows: tuple[Row, ...]
    tol_ta: float | None
    tol_ata: float | None
    mflops_rtol: float
    alpha: float

    def _with(self, *marks: Mark) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.mark in marks)

    @property
    def regressions(self) -> tuple[Row, ...]:
        """Cells that got significantly worse (``+``) or newly failed (``!``)."""
        return self._with(Mark.WORSE, Mark.NEWLY_FAILED)

    @property
    def improvements(self) -> tuple[Row, ...]:
        return self._with(Mark.BETTER, Mark.FIXED)

    @property
    def not_comparable(self) -> tuple[Row, ...]:
        return self._with(Mark.NOT_COMPARABLE)

    @property
    def only_in_a(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.only_in == "A")

    @property
    def only_in_b(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.only_in == "B")


def compare_runs(
    a: RunDir,
    b: RunDir,
    *,
    tol_ata: float | None = None,
    tol_ta: float | None = None,
    mflops_rtol: float = 0.02,
    alpha: float = 0.01,
) -> Comparison:
    """Match the cells of ``a`` (baseline) and ``b`` (candidate) by (model, attack) over their union.

    ``tol_ta``/``tol_ata`` are absolute tolerances in percentage points (default: 2 binomial standard
    errors at A's value), ``mflops_rtol`` a relative tolerance, ``alpha`` the McNemar level.
    Raises ResultsError when the runs cannot be compared (no common cell, different data for a cell).
    """
    for name, value in (("tol_ata", tol_ata), ("tol_ta", tol_ta), ("mflops_rtol", mflops_rtol)):
        if value is not None and value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    cells_a, cells_b = _by_cell(a), _by_cell(b)
    _check_compatible(cells_a, cells_b, a, b)
    tolerances = {"ta": tol_ta, "ata": tol_ata}
    rows = []
    for model, attack in sorted(cells_a.keys() | cells_b.keys()):
        ra, rb = cells_a.get((model, attack)), cells_b.get((model, attack))
        rows.append(_row(model, attack, ra, rb, tolerances, mflops_rtol, alpha))
    return Comparison(_label(a), _label(b), tuple(rows), tol_ta, tol_ata, mflops_rtol, alpha)


def _by_cell(run: RunDir) -> dict[tuple[str, str], Record]:
    return {(c["model"], c["attack"]): c for c in run.cells()}


def _label(run: RunDir) -> str:
    return f"{run.manifest.get('suite_name', '?')}/{run.name}"


def _check_compatible(
    cells_a: Mapping[tuple[str, str], Record], cells_b: Mapping[tuple[str, str], Record], a: RunDir, b: RunDir
) -> None:
    common = cells_a.keys() & cells_b.keys()
    if not common:
        raise ResultsError(
            f"{a.path} and {b.path} have no (model, attack) cell in common (A: {len(cells_a)} cells, "
            f"B: {len(cells_b)}); compare runs of overlapping suites"
        )
    for key in sorted(common):
        for field in ("dataset", "data_sha256"):
            va, vb = cells_a[key].get(field), cells_b[key].get(field)
            if va is not None and vb is not None and va != vb:
                raise ResultsError(
                    f"cell {'|'.join(key)} was evaluated on different data ({field}: A {va!r}, B {vb!r}); "
                    "its accuracies are not comparable, rerun both with the same data spec"
                )


def _row(
    model: str,
    attack: str,
    ra: Record | None,
    rb: Record | None,
    tolerances: Mapping[str, float | None],
    mflops_rtol: float,
    alpha: float,
) -> Row:
    status_a, status_b = (r.get("status") if r else None for r in (ra, rb))
    values = tuple(MetricChange(m, _metric(ra, m), _metric(rb, m)) for m in METRICS)
    if ra is None or rb is None:
        return Row(model, attack, status_a, status_b, Mark.UNCHANGED, values, f"only in {'A' if rb is None else 'B'}")
    if ra.get("cell_version") != rb.get("cell_version"):
        note = f"cell version {ra.get('cell_version')} -> {rb.get('cell_version')}"
        return Row(model, attack, status_a, status_b, Mark.NOT_COMPARABLE, values, note)
    if status_a != "ok" or status_b != "ok":
        mark = {(True, False): Mark.NEWLY_FAILED, (False, True): Mark.FIXED}.get(
            (status_a == "ok", status_b == "ok"), Mark.UNCHANGED
        )
        return Row(model, attack, status_a, status_b, mark, values, _failure_note(ra, rb))
    paired = _paired_flags(ra, rb)
    changes = tuple(
        _accuracy_change(v, int(ra["n"]), tolerances[v.name], alpha, paired, ACCURACIES[v.name])
        if v.name in ACCURACIES
        else _cost_change(v, mflops_rtol)
        for v in values
    )
    marks = {c.mark for c in changes}
    mark = next((m for m in _ROW_PRIORITY if m in marks), Mark.UNCHANGED)
    return Row(model, attack, status_a, status_b, mark, changes)


def _metric(record: Record | None, name: str) -> float | None:
    """The metric of an ``ok`` cell; a failed cell's numbers are void even when present."""
    if record is None or record.get("status") != "ok":
        return None
    value = (record.get("metrics") or {}).get(name)
    return None if value is None else float(value)


def _failure_note(ra: Record, rb: Record) -> str:
    failed = [side for side, r in (("A", ra), ("B", rb)) if r.get("status") != "ok"]
    error = (rb if "B" in failed else ra).get("error") or ""
    return f"{' and '.join(failed)}: {error}".strip().rstrip(":")


def _paired_flags(ra: Record, rb: Record) -> tuple[CellFlags, CellFlags] | None:
    """Both sides' flags when they cover the very same images in the same order, else ``None``."""
    fa, fb = cell_flags(ra), cell_flags(rb)
    if fa is None or fb is None or not np.array_equal(fa.index, fb.index):
        return None
    return fa, fb


def _accuracy_change(
    v: MetricChange,
    n: int,
    tol_pp: float | None,
    alpha: float,
    paired: tuple[CellFlags, CellFlags] | None,
    flag: str,
) -> MetricChange:
    """Beyond tolerance and significant -> ``+``/``-``; beyond but not significant -> ``~``.

    Without paired flags the tolerance (2 standard errors) is the only test available, so it decides alone.
    """
    if v.a is None or v.b is None:
        return v
    tol = tol_pp / 100.0 if tol_pp is not None else binomial_tolerance(v.a, n)
    delta = v.b - v.a
    p = mcnemar_p(getattr(paired[0], flag), getattr(paired[1], flag)) if paired else None
    if abs(delta) <= tol:
        mark = Mark.UNCHANGED
    elif p is not None and p >= alpha:
        mark = Mark.NOT_SIGNIFICANT
    else:
        mark = Mark.WORSE if delta < 0 else Mark.BETTER
    return MetricChange(v.name, v.a, v.b, delta, tol, p, mark)


def _cost_change(v: MetricChange, rtol: float) -> MetricChange:
    if v.a is None or v.b is None:
        return v
    delta, tol = v.b - v.a, rtol * abs(v.a)
    mark = Mark.UNCHANGED if abs(delta) <= tol else (Mark.WORSE if delta > 0 else Mark.BETTER)
    return MetricChange(v.name, v.a, v.b, delta, tol, None, mark)
