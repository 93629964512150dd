"""Render a Jinja2 template of a floor's page into one self-contained HTML document.

Why one shared shell: the run report and the comparison page look and behave the same (sortable tables,
filters, tooltips, charts), so their style sheet, script and macros live here once, and each floor keeps
only its own template. The style sheet and script are inlined, and the page's Content-Security-Policy allows
nothing from outside it, so the file opens offline and a stray external reference fails loudly in a browser.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

SHELL = "rdibench.results.page"


def slug(text: str) -> str:
    """An HTML id fragment for a name (model names hold '.', '@' and the like)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def render_page(package: str, template: str, **context: Any) -> str:
    """``template`` from ``<package>/templates`` (extending the shell's ``base.html.j2``) rendered with ``context``.

    Autoescaping is on and undefined names raise: a model name holding ``<`` stays text, and a template
    typo fails the render instead of leaving a blank cell.
    """
    env = Environment(
        loader=ChoiceLoader([PackageLoader(package, "templates"), PackageLoader(SHELL, "templates")]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = slug
    assets = resources.files(SHELL) / "assets"
    env.globals["page_css"] = Markup(assets.joinpath("page.css").read_text(encoding="utf-8"))
    env.globals["page_js"] = Markup(assets.joinpath("page.js").read_text(encoding="utf-8"))
    return env.get_template(template).render(**context)
