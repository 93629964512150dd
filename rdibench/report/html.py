"""The run's results page ``report.html``: leaderboard, trade-off chart, exit histograms, model cards, provenance.

Every number comes from the same per-model summaries as ``table.md`` and ``leaderboard.json`` (and is formatted
by the same functions), so the page cannot disagree with them. Cells of a partial run that are still to be
computed (manifest ``pending_cells``) appear as *pending*, never as blanks or zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rdibench.core.version import __version__
from rdibench.report.cards import model_facts
from rdibench.report.summary import FAILED, PENDING, ModelSummary, attack_names, pending_attacks, short_label, summarize
from rdibench.report.tables import MISSING, mflops_text, pct_text, table_notes
from rdibench.results import CLEAN, RunDir
from rdibench.results.page import Chart, Point, data_sources, describe, render_page, run_facts, scatter, seeds, versions

WORST = "worst case"


@dataclass(frozen=True)
class Cell:
    """One table cell: shown text, numeric sort key (``None`` sorts last), CSS kind, hover text, shading 0-100."""

    text: str
    value: float | None = None
    kind: str = ""
    tip: str = ""
    heat: int | None = None
    col: str | None = None


@dataclass(frozen=True)
class Column:
    """A leaderboard column; ``first`` is the order of the first click, best first: descending for accuracies,
    ascending for costs. ``col`` names an attack (the column filter hides by it)."""

    title: str
    unit: str = ""
    first: str = "descending"
    tip: str = ""
    col: str | None = None


@dataclass(frozen=True)
class Row:
    model: str
    kind: str
    lossy: bool
    cells: list[Cell]


@dataclass(frozen=True)
class Bars:
    """Exit shares of one input kind (clean or an attack); ``state`` replaces the bar when there is none."""

    name: str
    shares: tuple[tuple[float, str], ...] = ()
    state: str = ""


@dataclass(frozen=True)
class ModelCard:
    """A model's facts, its exit histograms and one detail row per finished or failed cell."""

    model: str
    kind: str
    lossy: bool
    facts: list[tuple[str, str]]
    exits: int
    bars: list[Bars]
    cell_rows: list[list[str]]

    @property
    def exit_labels(self) -> list[tuple[int, str]]:
        """(palette index, name) per exit, for the histogram legend."""
        return [(k, f"exit {k + 1}" + (" (head)" if k == self.exits - 1 else "")) for k in range(self.exits)]


def report_html(run: RunDir) -> str:
    """The whole page as one string of HTML: no external file, font, script or image."""
    manifest = run.manifest
    cells = run.cells()
    summaries = summarize(cells)
    by_key = {c["key"]: c for c in cells}
    pending = pending_attacks(run, cells)
    attacks = attack_names(summaries, pending)
    models = list(dict.fromkeys([*(s.model for s in summaries), *pending]))
    by_model = {s.model: s for s in summaries}
    kinds = {m: _kind(manifest, m, by_model.get(m)) for m in models}
    columns, rows = _leaderboard(models, by_model, attacks, pending, by_key, kinds)
    notes = table_notes(summaries) if summaries else []
    return render_page(
        "rdibench.report",
        "report.html.j2",
        title=f"{manifest.get('suite_name', run.name)}: {run.name}",
        generator_version=__version__,
        run_name=run.name,
        manifest=manifest,
        columns=columns,
        rows=rows,
        notes=notes,
        lossy_labels=list(dict.fromkeys(short_label(s.label) for s in summaries if s.lossy)),
        charts=_charts(summaries, attacks),
        chart_models=list(enumerate(s.model for s in summaries)),
        cards=[_card(m, manifest, by_model.get(m), attacks, pending.get(m, ()), by_key, kinds[m]) for m in models],
        pending=pending,
        failed=[c for c in cells if c.get("status") == FAILED],
        finished=bool(manifest.get("finished_at")),
        facts=run_facts(manifest),
        versions=versions(manifest),
        seeds=seeds(manifest),
        data=data_sources(manifest),
    )


def _exits(manifest: Mapping[str, Any], model: str, summary: ModelSummary | None) -> int:
    """The model's number of exits: measured (clean exit histogram) if any cell finished, else from its card."""
    if summary and summary.exit_fractions_clean:
        return len(summary.exit_fractions_clean)
    card = ((manifest.get("models") or {}).get(model) or {}).get("card") or {}
    return int(card.get("num_exits") or 0)


def _kind(manifest: Mapping[str, Any], model: str, summary: ModelSummary | None) -> str:
    exits = _exits(manifest, model, summary)
    if not exits:
        return "exits not recorded"
    return "static, 1 exit" if exits == 1 else f"multi-exit, {exits} exits"


def _leaderboard(
    models: Sequence[str],
    by_model: Mapping[str, ModelSummary],
    attacks: Sequence[str],
    pending: Mapping[str, Sequence[str]],
    by_key: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, str],
) -> tuple[list[Column], list[Row]]:
    auto = any(s.autoattack("Linf") for s in by_model.values())
    columns = [
        Column("Data", first="ascending"),
        Column("TA", "%", tip="clean accuracy of the adaptive (entropy-routed) prediction"),
        Column("Worst-case ATA", "%", tip="a sample counts as robust only if it survives every attack of its row"),
        *([Column("AutoAttack", "%", tip="RobustBench's headline attack")] if auto else []),
        Column("MFlops clean", "paper", "ascending", "expected cost per image on clean inputs (paper convention)"),
        Column("MFlops adv.", "paper, max", "ascending", "highest expected cost over the row's attacks"),
        Column("MFlops clean", "full", "ascending", "every layer ptflops counts, earlier branches included"),
        *(Column(a, "ATA %", tip=f"accuracy under {a}", col=a) for a in attacks),
    ]
    rows = []
    for model in models:
        s, waiting = by_model.get(model), set(pending.get(model, ()))
        rows.append(
            Row(
                model=model,
                kind=kinds[model],
                lossy=bool(s and s.lossy),
                cells=[
                    Cell(short_label(s.label) if s else PENDING, kind="" if s else PENDING),
                    _accuracy(s.ta if s else None, model, CLEAN, waiting, by_key),
                    _worst(s, waiting),
                    *([_autoattack(s)] if auto else []),
                    _mflops(s.mflops_paper_clean if s else None, CLEAN in waiting),
                    _mflops(s.mflops_paper_adv_max if s else None, bool(waiting - {CLEAN})),
                    _mflops(s.mflops_full_clean if s else None, CLEAN in waiting),
                    *(_accuracy(_ata(s, a), model, a, waiting, by_key, col=a) for a in attacks),
                ],
            )
        )
    return columns, _shade(columns, rows)


def _ata(s: ModelSummary | None, attack: str) -> float | None:
    result = s.attack(attack) if s else None
    return result.ata if result and result.ok else None


def _accuracy(
    value: float | None,
    model: str,
    attack: str,
    waiting: set[str],
    by_key: Mapping[str, Mapping[str, Any]],
    col: str | None = None,
) -> Cell:
    record = by_key.get(f"{model}|{attack}") or {}
    if value is not None:
        return Cell(pct_text(value), 100 * value, col=col)
    if record.get("status") == FAILED:
        return Cell(FAILED, kind=FAILED, tip=str(record.get("error") or "failed"), col=col)
    if attack in waiting:
        return Cell(PENDING, kind=PENDING, tip="not computed yet: finish the run with --resume", col=col)
    tip = "not part of this model's row (e.g. slowdown on a one-exit model)" if attack != CLEAN else ""
    return Cell(MISSING, kind="missing", tip=tip, col=col)


def _worst(s: ModelSummary | None, waiting: set[str]) -> Cell:
    left = sorted(waiting - {CLEAN})
    if s is None or s.worst is None:
        return Cell(PENDING, kind=PENDING) if left else Cell(MISSING, kind="missing")
    total = len(s.attacks) + len(left)
    text = pct_text(s.worst.acc) + (f" ({s.worst.n_attacks}/{total})" if s.worst.n_attacks < total else "")
    tip = f"per-sample worst case over {s.worst.n_attacks} attacks: {', '.join(s.worst.attacks)}"
    if left:
        tip += f"\npending: {', '.join(left)} (the worst case can only fall)"
    return Cell(text, 100 * s.worst.acc, tip=tip)


def _autoattack(s: ModelSummary | None) -> Cell:
    auto = s.autoattack("Linf") if s else None
    if auto is None or auto.ata is None:
        return Cell(MISSING, kind="missing")
    return Cell(pct_text(auto.ata), 100 * auto.ata, tip=auto.attack)


def _mflops(value: float | None, waiting: bool) -> Cell:
    if value is None:
        return Cell(PENDING, kind=PENDING) if waiting else Cell(MISSING, kind="missing")
    return Cell(mflops_text(value), value)


def _shade(columns: Sequence[Column], rows: list[Row]) -> list[Row]:
    """Per column: underline the best value (highest accuracy, lowest cost; ties all count) and shade accuracies
    by their place between the column's lowest and highest value, so a dozen models read at a glance."""
    for i, column in enumerate(columns):
        values = [r.cells[i].value for r in rows if r.cells[i].value is not None]
        if not values:
            continue
        accuracy = column.first == "descending"
        best = max(values) if accuracy else min(values)
        lo, span = min(values), max(values) - min(values)
        for r in rows:
            c = r.cells[i]
            if c.value is None:
                continue
            heat = round(6 + 30 * ((c.value - lo) / span if span else 1.0)) if accuracy else None
            kind = "best" if c.value == best and len(values) > 1 else c.kind
            r.cells[i] = Cell(c.text, c.value, kind, c.tip, heat, c.col)
    return rows


def _charts(summaries: Sequence[ModelSummary], attacks: Sequence[str]) -> list[tuple[str, Chart]]:
    """One TA/ATA vs MFlops chart per choice (worst case, then each attack), a colour per model (the legend's
    order); a choice no model has a point for is left out."""
    out = []
    for attack in [None, *attacks]:
        name = attack or WORST
        points, links = [], []
        for colour, s in enumerate(summaries):
            if s.ta is None or not s.mflops_paper_clean:
                continue
            tip = f"{s.model}\nTA {pct_text(s.ta)} % at {mflops_text(s.mflops_paper_clean)} MFlops (clean)"
            clean = Point(s.mflops_paper_clean, 100 * s.ta, colour, tip, s.model)
            points.append(clean)
            ata, cost = s.adversarial_point(attack)
            if ata is not None and cost is not None:
                tip = f"{s.model}\nATA ({name}) {pct_text(ata)} % at {mflops_text(cost)} MFlops under attack"
                adv = Point(cost, 100 * ata, colour, tip, s.model, square=True)
                points.append(adv)
                links.append((clean, adv))
        if links:
            chart = scatter(
                points,
                x_label="Expected cost (MFlops per image, paper convention)",
                y_label="Accuracy (%)",
                links=links,
                bounds=(0.0, 100.0),
            )
            out.append((name, chart))
    return out


def _card(
    model: str,
    manifest: Mapping[str, Any],
    s: ModelSummary | None,
    attacks: Sequence[str],
    waiting: Sequence[str],
    by_key: Mapping[str, Mapping[str, Any]],
    kind: str,
) -> ModelCard:
    entry = (manifest.get("models") or {}).get(model) or {}
    facts = model_facts(entry, (manifest.get("seeds") or {}).get(model), (manifest.get("data") or {}).get(model))
    bars = [_bars(CLEAN, s.exit_fractions_clean if s else None, CLEAN in waiting, by_key.get(f"{model}|{CLEAN}"))]
    for attack in attacks:
        result = s.attack(attack) if s else None
        if result is not None or attack in waiting:
            fractions = result.exit_fractions_adv if result else None
            bars.append(_bars(attack, fractions, attack in waiting, by_key.get(f"{model}|{attack}")))
    rows = [_attack_row(by_key[f"{model}|{a}"]) for a in [CLEAN, *attacks] if f"{model}|{a}" in by_key]
    return ModelCard(model, kind, bool(s and s.lossy), facts, _exits(manifest, model, s), bars, rows)


def _bars(name: str, fractions: Sequence[float] | None, waiting: bool, record: Mapping[str, Any] | None) -> Bars:
    if fractions is not None:
        n = len(fractions)
        tips = [f"exit {k + 1} of {n}: {100 * f:.1f} % of samples ({name})" for k, f in enumerate(fractions)]
        return Bars(name, tuple((100 * f, tip) for f, tip in zip(fractions, tips, strict=True)))
    if record is not None and record.get("status") == FAILED:
        return Bars(name, state=FAILED)
    return Bars(name, state=PENDING if waiting else MISSING)


def _attack_row(record: Mapping[str, Any]) -> list[str]:
    """Attack, status, ATA, ATA per exit, MFlops under attack (paper, full), L-inf max, settings, checks, time."""
    m = record.get("metrics") or {}
    ok = record.get("status") == "ok"
    return [
        str(record.get("attack")),
        str(record.get("status")) + (" (cached)" if record.get("cached") else ""),
        pct_text(m.get("ata")) if ok else "",
        " / ".join(pct_text(v) for v in m.get("ata_per_exit") or []) if ok else "",
        mflops_text(m.get("mflops_paper_adv")) if ok else "",
        mflops_text(m.get("mflops_full_adv")) if ok else "",
        describe(m.get("linf_max")) if ok and m.get("linf_max") is not None else "",
        describe(record.get("attack_params") or {}) if record.get("attack_params") else "",
        _checks(record.get("sanity") or {}) if ok else str(record.get("error") or ""),
        f"{float(record['wall_s']):.1f}" if record.get("wall_s") is not None else "",
    ]


def _checks(sanity: Mapping[str, Any]) -> str:
    """The cell's sanity checks: which passed, which failed, then the probe numbers they rest on."""
    passed = [k for k, v in sanity.items() if v is True]
    failed = [k for k, v in sanity.items() if v is False]
    numbers = {k: v for k, v in sanity.items() if not isinstance(v, bool)}
    parts = [f"passed {', '.join(passed)}" if passed else "", f"FAILED {', '.join(failed)}" if failed else ""]
    return "; ".join(p for p in [*parts, describe(numbers) if numbers else ""] if p) or "none recorded"
