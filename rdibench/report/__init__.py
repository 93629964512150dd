"""Floor 8: paper tables, plots, leaderboard entries and the results page, rendered only from a run's stored cells."""

from __future__ import annotations

from rdibench.report.html import report_html
from rdibench.report.render import REPORT_HTML, report_markdown, write_report, write_report_html

__all__ = ["REPORT_HTML", "report_html", "report_markdown", "write_report", "write_report_html"]
