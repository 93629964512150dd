"""Short, exact text for the nested values a manifest or model card records (threshold fits, pruning, params).

Why generic: those records differ by protocol and importer (a held-out fit records its split, the authors'
protocol its images, an imported card its shift), and the page shows whatever was recorded rather than a
fixed subset that silently drops a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def number(value: float, digits: int = 4) -> str:
    """A float with ``digits`` significant digits, integers as integers."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def describe(value: Any) -> str:
    """Nested mappings as ``key value; key value``, sequences in brackets, floats to 4 significant digits.

    ``None`` entries of a mapping are left out (an unset option, not a value).
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, Mapping):
        parts = [f"{k} {_nested(v)}" for k, v in value.items() if v is not None]
        return "; ".join(parts) if parts else "none"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    return str(value)


def _nested(value: Any) -> str:
    return f"({describe(value)})" if isinstance(value, Mapping) else describe(value)
