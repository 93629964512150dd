"""Floor 8: paper tables, plots and leaderboard entries, rendered only from a run's stored cells."""

from __future__ import annotations

from rdibench.report.render import report_markdown, write_report

__all__ = ["report_markdown", "write_report"]
