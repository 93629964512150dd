"""The suite runner: expands a suite into cells, evaluates them, and writes each result as it finishes."""

from __future__ import annotations

from rdibench.runner.run import RunOptions, evaluate_record, prepare, run_suite

__all__ = ["RunOptions", "evaluate_record", "prepare", "run_suite"]
