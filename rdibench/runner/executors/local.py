"""The in-process executor: one cell after another in the driver, in suite order (today's behaviour)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from rdibench.evaluation import Cell
from rdibench.runner.context import Context, Progress, evaluate_record, image_source, where
from rdibench.runner.executors.base import ExecutorConfig, Finished, InProcessResources


class LocalExecutor(InProcessResources):
    """Evaluates in the driver process, keeping the driver's adversarial-image cache across cells.

    Suite order matters here: max-average comes after the single-exit cells of its model, so it reuses
    their adversarial images instead of recomputing them.
    """

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        here = where()
        for i, cell in enumerate(cells):
            advanced = None
            if progress:
                progress.cell_started(cell.key, here)
                advanced = partial(progress.cell_advanced, cell.key)
            record = evaluate_record(cell, ctx, advanced, worker=here)
            _release(ctx, cell, cells[i + 1 :])
            yield cell, record


def _release(ctx: Context, cell: Cell, rest: Sequence[Cell]) -> None:
    """Drop a model's cached adversarial images once no remaining cell can reuse them (memory stays bounded)."""
    source = image_source(ctx, cell.model.name)
    if not any(image_source(ctx, c.model.name) == source for c in rest):
        for key in [k for k in ctx.adv_cache if k[0] == source]:
            del ctx.adv_cache[key]
