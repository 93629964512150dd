"""The executor interface, its configuration, and what the three executors share (sizing, scheduling order).

An executor evaluates cells somewhere and hands each finished ``(cell, record)`` back to the driver as it
finishes, in any order; the driver alone writes results. Every cell is evaluated by
:func:`rdibench.runner.context.evaluate_in_worker` or, in process, by the same ``evaluate_record``, so
the numbers cannot depend on the executor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rdibench.core.errors import ConfigError
from rdibench.evaluation import Cell
from rdibench.evaluation.specs import CLEAN
from rdibench.runner.context import Context, Event, Progress

Kind = Literal["local", "processes", "ray"]
KINDS: tuple[Kind, ...] = ("local", "processes", "ray")
Finished = Iterator[tuple[Cell, dict[str, Any]]]


@dataclass(frozen=True)
class ExecutorConfig:
    """Where cells run (``rdibench run --executor ...``).

    ``workers`` and ``threads`` size the processes executor and a Ray cluster started for the run; on an
    existing Ray cluster its CPUs set the parallelism and ``threads`` is each cell's ``num_cpus``.
    """

    kind: Kind = "local"
    workers: int | None = None
    threads: int | None = None
    address: str | None = None
    max_retries: int = 2


class Executor(Protocol):
    config: ExecutorConfig
    """The resolved configuration (workers and threads filled in), stored in the manifest."""

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        """Evaluate ``cells``; yield each ``(cell, record)`` as it finishes. Closing the iterator stops the workers."""
        ...


def cores() -> int:
    """CPU cores this process may use (its affinity mask, as a container or ``taskset`` limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_workers(available: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """Workers and torch threads per worker with ``workers * threads <= available`` cores.

    One thread per worker by default: attack batches parallelise better across cells than across the
    intra-op threads of small convolutions (see docs/scaling.md).
    """
    if workers is not None and threads is not None:
        if workers * threads > available:
            raise ConfigError(
                f"--workers {workers} x --threads {threads} needs {workers * threads} cores, this machine has "
                f"{available}; lower one of them"
            )
        return workers, threads
    if workers is not None:
        return workers, max(1, available // workers)
    threads = threads or 1
    return max(1, available // threads), threads


def make_executor(config: ExecutorConfig) -> Executor:
    """Check the configuration and build the executor; Ray is imported here, so a missing extra fails first."""
    for name, value, low in (("workers", config.workers, 1), ("threads", config.threads, 1)):
        if value is not None and value < low:
            raise ConfigError(f"--{name} must be at least {low}, got {value}")
    if config.max_retries < 0:
        raise ConfigError(f"--max-retries must be 0 or more, got {config.max_retries}")
    if config.address is not None and config.kind != "ray":
        raise ConfigError("--address goes with --executor ray")
    if config.kind == "local":
        if config.workers not in (None, 1):
            raise ConfigError("--executor local runs one cell at a time; use --executor processes for --workers")
        from rdibench.runner.executors.local import LocalExecutor

        return LocalExecutor(config)
    if config.kind == "processes":
        from rdibench.runner.executors.processes import ProcessExecutor

        workers, threads = plan_workers(cores(), config.workers, config.threads)
        return ProcessExecutor(ExecutorConfig("processes", workers, threads, None, config.max_retries))
    if config.kind == "ray":
        from rdibench.runner.executors.ray_cluster import RayExecutor

        if config.address is not None and config.workers is not None:
            raise ConfigError("--workers sizes a Ray cluster started for the run; with --address the cluster decides")
        workers, threads = (
            (None, config.threads or 1) if config.address else plan_workers(cores(), config.workers, config.threads)
        )
        return RayExecutor(ExecutorConfig("ray", workers, threads, config.address, config.max_retries))
    raise ConfigError(f"unknown executor {config.kind!r}; choose one of {', '.join(KINDS)}")


def work_estimate(cell: Cell, ctx: Context) -> float:
    """A cell's relative cost (attack iterations per image), for longest-first scheduling.

    Max-average runs one attack per exit; probes rerun the attack about five times over on ``probe_n``
    images. Only the order of submission depends on it, never a number.
    """
    if cell.attack.algorithm == CLEAN:
        return 1.0
    params = cell.attack.params
    steps = float(params.get("steps") or params.get("max_iter") or 1)
    runs = ctx.models[cell.model.name].ckpt.model.num_exits if cell.attack.objective == "max_average" else 1
    n = len(ctx.data[cell.model.name])
    probes = 5 * min(ctx.suite.sanity.probe_n, n) / n if cell.attack.probe else 0.0
    return 1.0 + steps * (runs + probes)


def longest_first(cells: Sequence[Cell], ctx: Context) -> list[Cell]:
    """Cells by decreasing estimated cost (Graham's LPT rule: the makespan stays within 4/3 of the best),
    so the longest cells do not start last and leave the other workers idle at the end."""
    return sorted(cells, key=lambda c: -work_estimate(c, ctx))


def forward(event: Event, progress: Progress | None) -> None:
    """Pass a worker's event to the progress display."""
    if progress is None:
        return
    kind, key, *rest = event
    if kind == "started":
        progress.cell_started(key, *rest)
    elif kind == "advanced":
        progress.cell_advanced(key, *rest)
