"""The suite runner: expands a suite into cells, evaluates them (in process, in worker processes or on a Ray
cluster), and writes each result as it finishes."""

from __future__ import annotations

from rdibench.runner.context import evaluate_record
from rdibench.runner.executors import ExecutorConfig
from rdibench.runner.run import RunOptions, prepare, run_suite

__all__ = ["ExecutorConfig", "RunOptions", "evaluate_record", "prepare", "run_suite"]
