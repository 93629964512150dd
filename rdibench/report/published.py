"""Published numbers beside a run's own: the README's "ours vs paper" table, generated, never typed by hand.

A reference file lists published TA / ATA / MFlops per (model, attack) of a run with the source of each
number; the table puts the run's measured value next to it, so every number has a file behind it (the run's
cells or the reference file) and a missing run cell shows as ``n/a`` rather than disappearing.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rdibench.core.config import load_yaml, validate
from rdibench.report.summary import ModelSummary
from rdibench.report.tables import MISSING, markdown_row


class PublishedRow(BaseModel):
    """One published result; accuracies in percent as printed, ``None`` where the source gives none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="the run's model display name this number is set beside")
    attack: str = Field(description="the run's attack (cell) name, or 'clean'")
    ta: float | None = Field(None, ge=0, le=100)
    ata: float | None = Field(None, ge=0, le=100)
    mflops: float | None = Field(None, gt=0)
    source: str = Field(description="where the number is published, e.g. 'paper Table 1 (docs/protocol.md §6.0)'")
    setting: str = Field("", description="the published run's setting where it differs from the run's")


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    rows: list[PublishedRow] = Field(min_length=1)


def load_published(path: Path | str) -> Published:
    """Validate a reference file (file:line errors naming the key, as for suites)."""
    data, lines = load_yaml(Path(path))
    return validate(Published, data, source=str(path), lines=lines)


def _ours(summary: ModelSummary | None, attack: str) -> tuple[float | None, float | None, float | None]:
    """The run's TA, ATA and MFlops (paper convention; under attack for an attack) in percent / MFlops."""
    if summary is None:
        return None, None, None
    ta = None if summary.ta is None else 100 * summary.ta
    if attack == "clean":
        return ta, None, summary.mflops_paper_clean
    result = summary.attack(attack)
    if result is None or not result.ok or result.ata is None:
        return ta, None, None
    return ta, 100 * result.ata, result.mflops_paper_adv


def beside_markdown(summaries: list[ModelSummary], published: Published) -> str:
    """Markdown table: per reference row, the run's value then the published one, and the source."""
    by_model = {s.model: s for s in summaries}
    header = ["Model", "Attack", "TA ours", "TA published", "ATA ours", "ATA published", "MFlops ours",
              "MFlops published", "Source"]  # fmt: skip
    lines = [markdown_row(header), markdown_row(["---", "---", *["---:"] * 6, "---"])]
    for row in published.rows:
        ta, ata, mflops = _ours(by_model.get(row.model), row.attack)
        cells = [
            row.model,
            row.attack,
            _fmt(ta),
            _fmt(row.ta),
            _fmt(ata),
            _fmt(row.ata),
            _fmt(mflops),
            _fmt(row.mflops),
            row.source + (f"; {row.setting}" if row.setting else ""),
        ]
        lines.append(markdown_row(cells))
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"
