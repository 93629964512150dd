"""The paper's table (rows = models; TA, ATA per attack, worst case, MFlops) as Markdown and LaTeX.

Both formats are rendered from one grid of plain strings, so the README table and the paper table cannot
drift apart; only escaping and emphasis differ.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rdibench.report.summary import FAILED, PENDING, AttackResult, ModelSummary, attack_names, data_labels
from rdibench.results import CLEAN

MISSING = "n/a"


@dataclass(frozen=True)
class Note:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Grid:
    headers: list[str]
    rows: list[list[str]]
    notes: list[Note]


FLAGGED = "†"
"""Marks a number whose attack flagged its own evaluation (AutoAttack's checks)."""


def build_grid(summaries: Sequence[ModelSummary], pending: Mapping[str, Sequence[str]] | None = None) -> Grid:
    """Headers, one row per model and footnotes; accuracies in % with 2 decimals, MFlops per image.

    With AutoAttack cells in the run, one "AutoAttack" column per threat model holds each row's strongest
    AutoAttack number (RobustBench's ``autoattack_acc``); a number its attack flagged carries :data:`FLAGGED`.
    ``pending`` (model -> attacks, :func:`~rdibench.report.summary.pending_attacks`) makes a partial run's
    cells not computed yet read *pending*, not n/a, which means the attack is not part of the row.
    """
    pending = pending or {}
    attacks = attack_names(summaries, pending)
    norms = sorted({n for s in summaries for n in s.autoattack_norms}, key=lambda n: n != "Linf")
    headers = [
        "Model",
        "TA (%)",
        *(f"ATA (%) {a}" for a in attacks),
        *(f"AutoAttack{'' if n == 'Linf' else ' ' + n} (%)" for n in norms),
        "Worst-case ATA (%)",
        "MFlops",
        "MFlops adv.",
    ]
    by_model = {s.model: s for s in summaries}
    rows = []
    for model in dict.fromkeys([*by_model, *pending]):
        s, waiting = by_model.get(model), set(pending.get(model, ()))
        if s is None:  # no cell done yet, not even the clean one
            rows.append([model, *(PENDING if a in waiting else MISSING for a in (CLEAN, *attacks, *norms))])
            rows[-1] += [PENDING] * 3  # worst case, MFlops clean and under attack
            continue
        row = [s.model, PENDING if CLEAN in waiting else pct_text(s.ta)]
        row += [PENDING if name in waiting else _ata(s.attack(name)) for name in attacks]
        row += [_ata(s.autoattack(n)) for n in norms]
        rows.append([*row, _worst(s, waiting), mflops_text(s.mflops_paper_clean), mflops_text(s.mflops_paper_adv_max)])
    return Grid(headers, rows, table_notes(summaries, partial=bool(pending)))


def strength_grid(summaries: Sequence[ModelSummary], pending: Mapping[str, Sequence[str]] | None = None) -> Grid | None:
    """Each model's paper-style number beside the strongest evaluation of the run: the lowest single attack,
    AutoAttack (L-inf) and the per-sample worst case (marked partial while ``pending`` names attacks of its row);
    None when no model has a paper-style cell."""
    if all(s.paper_style() is None for s in summaries):
        return None
    headers = ["Model", "TA (%)", "Paper-style ATA (%)", "Strongest attack", "Its ATA (%)", "AutoAttack (%)"]
    headers += ["Worst-case ATA (%)", "Paper-style minus worst case (points)"]
    rows = []
    for s in summaries:
        paper, strongest = s.paper_style(), s.strongest()
        worst = s.worst.acc if s.worst else None
        gap = MISSING if paper is None or paper.ata is None or worst is None else f"{100 * (paper.ata - worst):.2f}"
        rows.append(
            [
                s.model,
                pct_text(s.ta),
                MISSING if paper is None else f"{_ata(paper)} ({paper.attack})",
                MISSING if strongest is None else strongest.attack,
                _ata(strongest),
                _ata(s.autoattack()),
                _worst(s, set((pending or {}).get(s.model, ()))),
                gap,
            ]
        )
    notes = [
        Note(
            "Paper-style: the number the paper reports, PGD on the max-average objective for a multi-exit model and "
            "PGD on the only exit of a static one. Strongest attack: the one attack of the row with the lowest ATA. "
            "Worst case: a sample counts as robust only if it survives every attack of its row."
        )
    ]
    return Grid(headers, rows, notes)


def _worst(s: ModelSummary, waiting: set[str]) -> str:
    """The row's worst case; over fewer attacks than the row has (failed or pending ones), it says how many."""
    total = len(s.attacks) + len(waiting - {CLEAN})
    if s.worst is None:
        return PENDING if waiting else MISSING
    return pct_text(s.worst.acc) + (f" ({s.worst.n_attacks}/{total} attacks)" if s.worst.n_attacks < total else "")


def _ata(result: AttackResult | None) -> str:
    if result is None:
        return MISSING
    if not result.ok:
        return FAILED
    return pct_text(result.ata) + (f" {FLAGGED}" if result.warnings else "")


def table_notes(summaries: Sequence[ModelSummary], *, partial: bool = False) -> list[Note]:
    """The table's footnotes (data and n, metric definitions, what *pending* means in a partial run) and, in
    bold, the lossy-data warning."""
    sizes = sorted({s.n for s in summaries if s.n is not None})
    notes = [
        Note(f"Data: {'; '.join(data_labels(summaries))} (n = {', '.join(map(str, sizes)) or MISSING} test samples)."),
        Note(
            "Worst-case ATA: a sample counts as robust only if it survives every attack of its row. "
            "MFlops: expected cost per image under the paper's counting convention, on clean inputs; "
            "MFlops adv.: the highest over the row's attacks."
        ),
    ]
    if partial:
        notes.append(
            Note(
                "Pending: a cell of the suite not computed yet (finish the run with --resume); a worst case over "
                "fewer attacks than its row has, marked (done/all attacks), can only fall."
            )
        )
    if any(s.autoattack_norms for s in summaries):
        notes.append(Note("AutoAttack: the row's strongest AutoAttack cell (lowest ATA) per threat model."))
    flagged = sorted({w for s in summaries for a in s.attacks if a.ok for w in a.warnings})
    if flagged:
        notes.append(
            Note(
                f"{FLAGGED} The attack's own reliability checks flagged this number ({', '.join(flagged)}): "
                "the evaluation may be unreliable; the messages are in the cell's attack_warnings."
            )
        )
    lossy = list(dict.fromkeys(s.label for s in summaries if s.lossy))
    if lossy:
        notes.append(Note(f"LOSSY DATA: {'; '.join(lossy)}. Not comparable with numbers on canonical data.", True))
    return notes


def markdown_row(cells: Sequence[str]) -> str:
    """One Markdown table row, pipes inside cells escaped."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(grid: Grid) -> str:
    align = ["---", *["---:"] * (len(grid.headers) - 1)]
    notes = "\n\n".join(f"**{n.text}**" if n.bold else n.text for n in grid.notes)
    return "\n".join([markdown_row(grid.headers), markdown_row(align), *map(markdown_row, grid.rows), "", notes]) + "\n"


def to_latex(grid: Grid) -> str:
    """A booktabs ``table`` float; needs ``\\usepackage{booktabs}`` in the preamble."""
    notes = " ".join(rf"\textbf{{{_esc(n.text)}}}" if n.bold else _esc(n.text) for n in grid.notes)
    body = [" & ".join("--" if c == MISSING else _esc(c) for c in r) + r" \\" for r in grid.rows]
    return (
        "\n".join(
            [
                r"\begin{table}[t]",
                r"\centering",
                r"\begin{tabular}{l" + "r" * (len(grid.headers) - 1) + "}",
                r"\toprule",
                " & ".join(map(_esc, grid.headers)) + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
                rf"\par\smallskip{{\footnotesize {notes}}}",
                r"\end{table}",
            ]
        )
        + "\n"
    )


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", FLAGGED: r"$^\dagger$"}  # fmt: skip


def _esc(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def pct_text(value: float | None) -> str:
    """An accuracy fraction as a percentage with 2 decimals, the precision of every rdibench table."""
    return MISSING if value is None else f"{100 * value:.2f}"


def mflops_text(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def cost_markdown(summaries: Sequence[ModelSummary]) -> str | None:
    """What each attack cost, in CPU minutes per 1,000 images (each cell's process CPU time): the median over the
    models and the range; None when no cell recorded it. Probed cells (the probes rerun the attack several
    times over) are counted apart. A cell that reused other cells' images (a one-exit model's routing attack is
    its single-exit one; max-average takes the single-exit attacks' images) is charged what making them cost, so
    each row reads as the attack's cost had it run alone."""
    rows = []
    for name in attack_names(summaries):
        for probed in (False, True):
            costs = sorted(
                c.cpu_min_per_1000
                for s in summaries
                if (c := s.attack(name)) is not None and c.cpu_min_per_1000 is not None and c.probed == probed
            )
            if costs:
                label = f"{name} (with probes)" if probed else name
                spread = f"{costs[0]:.2f}-{costs[-1]:.2f}" if len(costs) > 1 else f"{costs[0]:.2f}"
                rows.append([label, str(len(costs)), f"{statistics.median(costs):.2f}", spread])
    if not rows:
        return None
    lines = [markdown_row(["attack", "models", "CPU min / 1,000 images (median)", "range"])]
    lines += [markdown_row(["---"] * 4)] + [markdown_row(r) for r in rows]
    return "\n".join(lines) + "\n"
