"""The HTML page shell shared by the run report and the comparison page: template rendering with inlined
style and script, chart geometry and the provenance read from a manifest.

Sits below ``report`` and ``compare`` (siblings that may not import each other) and above ``results``; it
imports nothing of rdibench, so both pages can use it without a detour.
"""

from __future__ import annotations

from rdibench.results.page.chart import Chart, Point, scatter
from rdibench.results.page.provenance import DataSource, data_sources, run_facts, seeds, versions
from rdibench.results.page.render import render_page, slug
from rdibench.results.page.text import describe, number

__all__ = [
    "Chart",
    "DataSource",
    "Point",
    "data_sources",
    "describe",
    "number",
    "render_page",
    "run_facts",
    "scatter",
    "seeds",
    "slug",
    "versions",
]
