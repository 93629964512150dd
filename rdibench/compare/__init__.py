"""Floor 8: compare two result directories cell by cell, asv-compare style (pure comparison, separate rendering)."""

from __future__ import annotations

from rdibench.compare.comparison import Comparison, Mark, MetricChange, Row, compare_runs
from rdibench.compare.html import compare_html
from rdibench.compare.render import render_table

__all__ = ["Comparison", "Mark", "MetricChange", "Row", "compare_html", "compare_runs", "render_table"]
