"""Write every report artifact of a run into its directory; what the runner and ``rdibench report`` call."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rdibench.report.cards import budget_markdown
from rdibench.report.html import report_html
from rdibench.report.leaderboard import leaderboard_entries
from rdibench.report.plots import exit_fractions_png, plot_name, security_curve_png, tradeoff_png
from rdibench.report.published import beside_markdown, load_published
from rdibench.report.summary import pending_attacks, summarize
from rdibench.report.tables import build_grid, cost_markdown, strength_grid, to_latex, to_markdown
from rdibench.results import RunDir, write_metrics

REPORT_HTML = "report.html"


def write_report(run: RunDir | str | os.PathLike[str]) -> list[Path]:
    """Rebuild ``metrics.csv``, ``table.md``, ``table.tex``, ``cost.md`` (when cells recorded their threads),
    ``plots/*.png``, ``leaderboard.json`` and ``report.html`` from the cells.

    Safe to call on a run still in progress (it reports the cells finished so far) and idempotent:
    artifacts are derived from ``cells.jsonl`` only, and each file is replaced atomically.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    cells = run.cells()
    summaries = summarize(cells)
    pending = pending_attacks(run, cells)
    grid = build_grid(summaries, pending)
    written = [
        write_metrics(run),
        run.write_artifact("table.md", to_markdown(grid)),
        run.write_artifact("table.tex", to_latex(grid)),
    ]
    if (cost := cost_markdown(summaries)) is not None:
        written.append(run.write_artifact("cost.md", cost))
    figures = {plot_name(s.model): exit_fractions_png(s) for s in summaries}
    figures |= {plot_name(s.model, "security_curve"): security_curve_png(s) for s in summaries}
    figures["plots/tradeoff.png"] = tradeoff_png(summaries)
    written += [run.write_artifact(name, png) for name, png in figures.items() if png is not None]
    entries = leaderboard_entries(summaries, run.manifest, pending)
    written.append(run.write_artifact("leaderboard.json", json.dumps(entries, indent=2, allow_nan=False) + "\n"))
    written.append(write_report_html(run))
    return written


def write_report_html(run: RunDir | str | os.PathLike[str]) -> Path:
    """Write only ``report.html``, the run's self-contained results page, and return its path."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    return run.write_artifact(REPORT_HTML, report_html(run))


def report_markdown(run: RunDir | str | os.PathLike[str], beside: Path | None = None) -> str:
    """A README section: heading, the paper table with its notes, the run's provenance in one line and, with
    ``beside`` (a published-numbers file), the run's numbers next to the published ones."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    m, cells = run.manifest, run.cells()
    git = m.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    provenance = (
        f"rdibench {m.get('rdibench_version', '?')}, commit {commit}, seed {m.get('seed')}, device {m.get('device')}, "
        f"started {m.get('started_at')}, finished {m.get('finished_at') or 'not yet (partial run)'}."
    )
    if left := len(run.pending_keys(cells)):
        provenance += (
            f" Partial run: {left} of the suite's cells pending (manifest `pending_cells`; finish with --resume)."
        )
    summaries, pending = summarize(cells), pending_attacks(run, cells)
    table = to_markdown(build_grid(summaries, pending))
    section = f"### {m.get('suite_name', run.name)}: `{run.name}`\n\n{table}\n{provenance}\n"
    if (strength := strength_grid(summaries, pending)) is not None:
        section += f"\nThe paper-style number beside the strongest evaluation:\n\n{to_markdown(strength)}"
    if (budgets := budget_markdown(m)) is not None:
        section += f"\nThe models and what training them cost:\n\n{budgets}"
    if (cost := cost_markdown(summaries)) is not None:
        section += f"\nCost of each attack (CPU minutes per 1,000 images):\n\n{cost}"
    if beside is None:
        return section
    published = load_published(beside)
    title = published.description or beside.name
    return f"{section}\nBeside published numbers ({title}; `{beside}`):\n\n{beside_markdown(summaries, published)}"
