"""rdibench: accuracy, robustness and efficiency benchmarks for input-adaptive (multi-exit) networks."""

from __future__ import annotations

__version__ = "0.1.0"
