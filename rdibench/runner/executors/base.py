"""The executor interface, its configuration, and what the three executors share (sizing, scheduling order).

An executor evaluates cells somewhere and hands each finished ``(cell, record)`` back to the driver as it
finishes, in any order; the driver alone writes results. Every cell is evaluated by
:func:`rdibench.runner.context.evaluate_in_worker` or, in process, by the same ``evaluate_record``, so
the numbers cannot depend on the executor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rdibench.attacks import OBJECTIVES
from rdibench.core.errors import ConfigError
from rdibench.evaluation import Cell
from rdibench.evaluation.adversarial import ImageKey
from rdibench.evaluation.specs import CLEAN
from rdibench.runner.context import Context, Event, Progress, cell_image_keys

Kind = Literal["local", "processes", "ray"]
KINDS: tuple[Kind, ...] = ("local", "processes", "ray")
Finished = Iterator[tuple[Cell, dict[str, Any]]]


@dataclass(frozen=True)
class ExecutorConfig:
    """Where cells run (``rdibench run --executor ...``).

    ``workers`` and ``threads`` (torch threads per cell) size the processes executor and a Ray cluster
    started for the run; on an existing Ray cluster its CPUs set the parallelism and ``threads`` is each
    cell's ``num_cpus``. ``local`` evaluates with the driver's own torch threads (the CLI's ``--threads``).
    ``max_retries`` bounds the retries of a cell whose worker died.
    """

    kind: Kind = "local"
    workers: int | None = None
    threads: int | None = None
    address: str | None = None
    max_retries: int = 2


class Executor(Protocol):
    """Used as ``with executor: ... executor.run(...)``: entering acquires what the cells run on (joins or
    starts a Ray cluster), leaving releases it."""

    config: ExecutorConfig
    """The resolved configuration (workers and threads filled in), stored in the manifest."""

    def __enter__(self) -> Executor: ...
    def __exit__(self, *exc: object) -> None: ...

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        """Evaluate ``cells``; yield each ``(cell, record)`` as it finishes. Closing the iterator stops the workers."""
        ...


class InProcessResources:
    """Enter and exit for executors that hold nothing between runs (their workers live inside ``run``)."""

    def __enter__(self) -> InProcessResources:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def cores() -> int:
    """CPU cores this process may use (its affinity mask, as a container or ``taskset`` limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_workers(available: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """Workers and torch threads per worker with ``workers * threads <= available`` cores.

    By default a worker per core with one thread each, the most cells at once; per core it costs the
    same as fewer workers with more threads (on 2 cores, two one-thread cells took as long as one
    two-thread cell each, docs/scaling.md).
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


def work_estimate(cell: Cell, num_exits: int, n: int, probe_n: int, reuses: int = 0) -> float:
    """A cell's cost in forward-backward passes per image, for longest-first scheduling and docs/scaling.md.

    An attack costs its steps; an objective built from single-exit attacks one attack per exit of its
    ``num_exits``. Images it ``reuses`` (how many attacks' worth, from other cells: :func:`reused`) cost
    one forward each (about a third of a pass) instead. The clean and adversarial forwards count as one pass;
    probes rerun the attack about five times over on ``probe_n`` of the ``n`` images. Only the order of
    submission depends on it, never a number.
    """
    if cell.attack.algorithm == CLEAN:
        return 1.0
    params = cell.attack.params
    steps = float(params.get("steps") or params.get("max_iter") or 1)
    one_exit = num_exits == 1 and OBJECTIVES.get(cell.attack.objective).one_exit_single
    runs = num_exits if OBJECTIVES.get(cell.attack.objective).from_single_attacks and not one_exit else 1
    probes = 5 * min(probe_n, n) / n if cell.attack.probe else 0.0
    return 1.0 + steps * (runs - reuses + probes) + reuses / 3


def longest_first(cells: Sequence[Cell], ctx: Context, plan: Mapping[str, list[str]]) -> list[Cell]:
    """Cells by decreasing estimated cost (Graham's LPT rule: the makespan stays within 4/3 of the best),
    so the longest cells do not start last and leave the other workers idle at the end. A pass costs the
    model's MFlops through every exit, so models of different size compare; ``plan`` is the reuse plan."""
    shared = reused(image_keys_of(cells, ctx), plan)

    def cost(cell: Cell) -> float:
        m, n = ctx.models[cell.model.name], len(ctx.data[cell.model.name])
        passes = work_estimate(cell, m.ckpt.model.num_exits, n, ctx.suite.sanity.probe_n, shared[cell.key])
        return passes * n * m.costs.full[-1]

    return sorted(cells, key=lambda c: -cost(c))


CellKeys = Mapping[str, Sequence[ImageKey]]
"""Each cell's image keys by cell key, in run order."""


def image_keys_of(cells: Sequence[Cell], ctx: Context) -> dict[str, list[ImageKey]]:
    return {c.key: cell_image_keys(c, ctx) for c in cells}


def _made_by(keys: CellKeys) -> dict[ImageKey, str]:
    """For each image key, the first cell in run order that needs it: the one that makes it."""
    made_by: dict[ImageKey, str] = {}
    for cell, needed in keys.items():
        for k in needed:
            made_by.setdefault(k, cell)
    return made_by


def reuse_plan(keys: CellKeys) -> dict[str, list[str]]:
    """For each cell, the earlier cells whose adversarial images it waits for and reuses, so the parallel
    executors share images exactly as one process does through its cache.

    Cells share images when their attacks have an image key in common (:func:`cell_image_keys`): the
    single-exit attacks a max-average cell is made of; on a one-exit model the average, random, routing and
    max-average attacks that are its single attack. The first cell in run order to need a key makes it; the others
    wait for that cell (docs/scaling.md). A producer that fails leaves its consumers to compute for themselves.
    """
    made_by = _made_by(keys)
    plan: dict[str, list[str]] = {}
    for cell, needed in keys.items():
        producers = list(dict.fromkeys(made_by[k] for k in needed if made_by[k] != cell))
        if producers:
            plan[cell] = producers
    return plan


def reused(keys: CellKeys, plan: Mapping[str, list[str]]) -> dict[str, int]:
    """How many of each cell's image keys come from the cells ``plan`` makes it wait for."""
    made_by = _made_by(keys)
    return {cell: sum(made_by[k] in plan.get(cell, ()) for k in needed) for cell, needed in keys.items()}


def forward(event: Event, progress: Progress | None) -> None:
    """Pass a worker's event to the progress display."""
    if progress is None:
        return
    kind, key, *rest = event
    if kind == "started":
        progress.cell_started(key, *rest)
    elif kind == "advanced":
        progress.cell_advanced(key, *rest)
