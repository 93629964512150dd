"""Render a Comparison as a plain-text or Markdown table; returns a string, the CLI decides where it goes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rdibench.compare.comparison import ACCURACIES, METRICS, Comparison, Mark, MetricChange, Row

MEANINGS = {
    Mark.WORSE: "worse (regression)",
    Mark.BETTER: "better",
    Mark.NOT_SIGNIFICANT: "beyond tolerance but not significant",
    Mark.NEWLY_FAILED: "newly failed",
    Mark.FIXED: "fixed",
    Mark.NOT_COMPARABLE: "not comparable (cell version differs)",
}
"""What each asv mark means; the text legend and the HTML page's legend both come from here."""
LEGEND = "marks: " + ", ".join(f"{mark.value} {meaning}" for mark, meaning in MEANINGS.items())
_TITLES = {"ta": "TA", "ata": "ATA", "mflops_paper_adv": "MFlops adv"}


def render_table(comparison: Comparison, fmt: Literal["text", "md"] = "text") -> str:
    """A, B and delta per metric for every cell: accuracies in %, deltas in percentage points, MFlops per image."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt must be 'text' or 'md', got {fmt!r}")
    headers = ["", "model", "attack"]
    for name in METRICS:
        headers += [f"{_TITLES[name]} A", f"{_TITLES[name]} B", f"Δ{_TITLES[name]}"]
    headers.append("note")
    body = [_cells(row, fmt) for row in comparison.rows]
    grid = _markdown(headers, body) if fmt == "md" else _text(headers, body)
    return "\n".join([*_preamble(comparison), "", grid, "", _summary(comparison), LEGEND]) + "\n"


def _preamble(c: Comparison) -> list[str]:
    def acc(tol: float | None) -> str:
        return "2 binomial SE" if tol is None else f"±{tol:.2f} pp"

    return [
        f"A: {c.a}",
        f"B: {c.b}",
        f"tolerances: TA {acc(c.tol_ta)}, ATA {acc(c.tol_ata)}, MFlops ±{100 * c.mflops_rtol:g}%; "
        f"McNemar alpha {c.alpha:g} where both runs saw the same samples",
    ]


def counts(c: Comparison) -> list[tuple[int, str]]:
    """How many cells fall in each verdict group, in the order the summary line lists them."""
    return [
        (len(c.regressions), "regressions"),
        (len(c.improvements), "improvements"),
        (sum(r.mark is Mark.NOT_SIGNIFICANT for r in c.rows), "not significant"),
        (len(c.not_comparable), "not comparable"),
        (len(c.only_in_a), "only in A"),
        (len(c.only_in_b), "only in B"),
    ]


def _summary(c: Comparison) -> str:
    return f"{len(c.rows)} cells; " + ", ".join(f"{what}: {k}" for k, what in counts(c))


def _cells(row: Row, fmt: str) -> list[str]:
    mark = row.mark.value.strip()
    out = [f"`{mark}`" if fmt == "md" and mark else mark, row.model, row.attack]
    for m in row.metrics:
        out += [value_text(m.name, m.a), value_text(m.name, m.b), delta_text(m)]
    notes = [row.note] if row.note else []
    notes += [f"{m.name} McNemar p={m.p:.2g}" for m in row.metrics if m.p is not None and m.mark is not Mark.UNCHANGED]
    out.append("; ".join(notes))
    return out


def value_text(name: str, value: float | None) -> str:
    """An accuracy in % or an MFlops value, 2 decimals; ``n/a`` where the side has no number."""
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if name in ACCURACIES else f"{value:.2f}"


def delta_text(m: MetricChange, *, mark: bool = True) -> str:
    """Accuracy deltas in percentage points, cost deltas relative to A; followed by the metric's own mark unless
    ``mark`` is false (the HTML page colours the cell instead: a trailing "-" there reads as a minus sign)."""
    if m.delta is None:
        return ""
    if m.name in ACCURACIES:
        text = f"{100 * m.delta:+.2f}"
    else:
        text = f"{100 * m.delta / m.a:+.1f}%" if m.a else f"{m.delta:+.2f}"
    return f"{text} {m.mark.value}".rstrip() if mark else text


def _markdown(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, body)])


def _text(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in (headers, *body)) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (headers, *body))
