"""The comparison as a self-contained HTML page: verdict, counts, the cell-by-cell diff with each change's test,
parity charts of A against B, and the two runs' provenance side by side.

Rendered from the same ``Comparison`` and the same formatters as the text and Markdown tables, so the page, the
PR comment and the exit code agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rdibench.compare.comparison import ACCURACIES, METRICS, Comparison, Mark, MetricChange, Row
from rdibench.compare.render import MEANINGS, counts, delta_text, value_text
from rdibench.core.version import __version__
from rdibench.results.page import Chart, Point, render_page, run_facts, scatter, versions

TITLES = {"ta": "TA", "ata": "ATA", "mflops_paper_adv": "MFlops adv."}
UNITS = {"ta": "%", "ata": "%", "mflops_paper_adv": "paper"}
COLOURS = {Mark.UNCHANGED: 7, Mark.WORSE: 1, Mark.BETTER: 2, Mark.NOT_SIGNIFICANT: 4, Mark.NOT_COMPARABLE: 0}
"""Palette index per verdict in the parity charts (grey, vermillion, green, orange, blue)."""


@dataclass(frozen=True)
class Value:
    """One A, B or delta cell: text, numeric sort key, CSS kind and the test behind it."""

    text: str
    value: float | None
    kind: str = ""
    tip: str = ""


@dataclass(frozen=True)
class DiffRow:
    mark: str
    symbol: str
    meaning: str
    model: str
    attack: str
    values: list[Value]
    tests: str


def compare_html(comparison: Comparison, manifest_a: Mapping[str, Any], manifest_b: Mapping[str, Any]) -> str:
    """The page for ``comparison`` of run A (baseline, ``manifest_a``) against run B (candidate)."""
    c = comparison
    facts_a, facts_b = dict(run_facts(manifest_a)), dict(run_facts(manifest_b))
    vers_a, vers_b = dict(versions(manifest_a)), dict(versions(manifest_b))
    return render_page(
        "rdibench.compare",
        "compare.html.j2",
        title=f"{c.a} vs {c.b}",
        generator_version=__version__,
        c=c,
        metrics=[(TITLES[m], UNITS[m]) for m in METRICS],
        rows=[_row(r, c) for r in c.rows],
        counts=counts(c),
        meanings=[(m.name.lower(), m.value, text) for m, text in MEANINGS.items()],
        tolerances=_tolerances(c),
        charts=_charts(c),
        colours=[(COLOURS[m], MEANINGS.get(m, "unchanged")) for m in COLOURS if any(r.mark is m for r in c.rows)],
        facts=[(k, facts_a[k], facts_b.get(k, "")) for k in facts_a],
        versions=[(k, vers_a.get(k, "-"), vers_b.get(k, "-")) for k in sorted(vers_a.keys() | vers_b.keys())],
    )


def _row(row: Row, c: Comparison) -> DiffRow:
    values: list[Value] = []
    for m in row.metrics:
        kind = m.mark.name.lower() if m.mark is not Mark.UNCHANGED else ""
        values += [
            Value(value_text(m.name, m.a), _scaled(m.name, m.a)),
            Value(value_text(m.name, m.b), _scaled(m.name, m.b)),
            Value(delta_text(m, mark=False), _scaled(m.name, m.delta), kind, _test(m, c)),
        ]
    tests = "; ".join(_test(m, c) for m in row.metrics if m.mark is not Mark.UNCHANGED)
    notes = "; ".join(t for t in (row.note, tests) if t)
    if row.only_in:  # a cell one run lacks is a difference, not "unchanged"
        return DiffRow("only", "", f"only in {row.only_in}", row.model, row.attack, values, notes)
    meaning = MEANINGS.get(row.mark, "unchanged")
    return DiffRow(row.mark.name.lower(), row.mark.value.strip(), meaning, row.model, row.attack, values, notes)


def _scaled(name: str, value: float | None) -> float | None:
    return None if value is None else 100 * value if name in ACCURACIES else value


def _test(m: MetricChange, c: Comparison) -> str:
    """The test a metric's change went through, in words: size against the tolerance, then McNemar if paired."""
    if m.delta is None or m.tol is None:
        return ""
    title = TITLES[m.name]
    if m.name not in ACCURACIES:
        within = "within" if abs(m.delta) <= m.tol else "beyond"
        return f"{title} {delta_text(m, mark=False)} {within} ±{100 * c.mflops_rtol:g}%"
    within = "within" if abs(m.delta) <= m.tol else "beyond"
    text = f"{title} {100 * m.delta:+.2f} pp {within} ±{100 * m.tol:.2f} pp"
    if m.p is not None:
        text += f", McNemar p = {m.p:.2g} ({'<' if m.p < c.alpha else '≥'} α {c.alpha:g})"
    elif within == "beyond":
        text += " (no paired per-sample flags: tolerance only)"
    return text


def _tolerances(c: Comparison) -> str:
    def acc(tol: float | None) -> str:
        return "2 binomial standard errors of the cell" if tol is None else f"±{tol:.2f} pp"

    return (
        f"TA {acc(c.tol_ta)}, ATA {acc(c.tol_ata)}, MFlops ±{100 * c.mflops_rtol:g}%; an accuracy change beyond its "
        f"tolerance must also pass an exact paired McNemar test at α = {c.alpha:g} where both runs saw the same samples"
    )


def _charts(c: Comparison) -> list[tuple[str, Chart]]:
    """Per metric, every cell with a value on both sides at (A, B): on the dashed diagonal nothing changed."""
    out = []
    for i, name in sorted(enumerate(METRICS), key=lambda item: item[1] != "ata"):  # ATA first: the headline
        points = []
        for row in c.rows:
            m = row.metrics[i]
            a, b = _scaled(name, m.a), _scaled(name, m.b)
            if a is None or b is None:
                continue
            colour = COLOURS.get(row.mark, COLOURS[Mark.UNCHANGED])
            tip = f"{row.model} | {row.attack}\n{TITLES[name]} A {value_text(name, m.a)}, B {value_text(name, m.b)}"
            tip += f"\n{_test(m, c) or 'not compared'}"
            points.append(Point(a, b, colour, tip))
        if points:
            unit = "%" if name in ACCURACIES else "MFlops"
            bounds = (0.0, 100.0) if name in ACCURACIES else None
            chart = scatter(points, x_label=f"{TITLES[name]} in A ({unit})", y_label=f"{TITLES[name]} in B ({unit})",
                            diagonal=True, bounds=bounds)  # fmt: skip
            out.append((TITLES[name], chart))
    return out
