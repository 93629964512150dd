"""Executors: where a suite's cells are evaluated (``--executor local|processes|ray``), behind one interface."""

from __future__ import annotations

from rdibench.runner.executors.base import KINDS, Executor, ExecutorConfig, make_executor, plan_workers

__all__ = ["KINDS", "Executor", "ExecutorConfig", "make_executor", "plan_workers"]
