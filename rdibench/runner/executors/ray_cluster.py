"""The Ray executor: each cell one Ray task on a cluster (an existing one, or a local one started for the run).

Why Ray: it already has what scale-out needs, namely tasks with CPU requests placed on any machine of the
cluster, retries when a worker dies, an object store that holds the run's models and data once per
node, and ``ray start`` to make a cluster from any set of machines. Ray is an optional extra
(``pip install "rdibench[ray]"``), imported only when this executor is chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from rdibench.core.errors import ConfigError
from rdibench.evaluation import Cell
from rdibench.evaluation.cell import AdvCache
from rdibench.runner.context import Context, Progress, cell_record, evaluate_in_worker
from rdibench.runner.executors.base import ExecutorConfig, Finished, forward, image_keys_of, longest_first, reuse_plan

try:
    import ray
    from ray.exceptions import RayError
    from ray.util.queue import Queue
except ImportError as e:
    raise ConfigError(
        f'--executor ray needs Ray, an optional extra of rdibench: pip install "rdibench[ray]" ({e})'
    ) from None

log = logging.getLogger(__name__)

POLL_S = 0.5
"""How often the driver drains progress events while it waits for a cell to finish."""


_CONTEXTS: dict[str, Context] = {}
"""This worker process's copy of each run's context, by object id: read from the object store (and its models
and images placed on the device) once per worker, not once per cell."""


def _context(ref: ray.ObjectRef) -> Context:
    key = ref.hex()
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # a context of an earlier run on this worker is not needed again
        _CONTEXTS[key] = ray.get(ref)
    return _CONTEXTS[key]


def _evaluate_task(
    cell: Cell, ctx_ref: list[ray.ObjectRef], threads: int, events: Queue, keep: bool, *reuse: AdvCache
) -> tuple[dict[str, Any], AdvCache]:
    """The Ray task of one cell: the images it reuses arrive from the object store (Ray resolves those
    references, so the task starts once its producers are done); the context, its reference wrapped in a list
    so Ray leaves it unresolved, comes from this worker's copy. Events go back through ``events``."""
    torch.set_num_threads(threads)
    ctx = _context(ctx_ref[0])
    return evaluate_in_worker(cell, ctx, events.put, {k: v for images in reuse for k, v in images.items()}, keep)


class RayExecutor:
    """Submits every cell as a task requesting ``threads`` CPUs, longest first, and streams results back.

    A task that reuses another cell's images (max-average its model's single-exit ones: :func:`reuse_plan`)
    takes them as object references, so Ray starts it once they exist. Ray retries a task whose worker died
    ``max_retries`` times (``retry_exceptions=False``: an error inside a cell is already a ``failed`` record,
    and would only fail again); after that the cell is recorded failed with Ray's error and the run goes on.
    """

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self._owned = False  # whether this executor started the Ray session (and so shuts it down)

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        if not cells:
            return
        threads = self.config.threads or 1
        ctx_ref = [ray.put(ctx)]  # models and data enter the object store once for all tasks
        events = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(_evaluate_task).options(
            num_cpus=threads, max_retries=self.config.max_retries, retry_exceptions=False, num_returns=2
        )
        plan = reuse_plan(image_keys_of(cells, ctx))
        producers = {key for keys in plan.values() for key in keys}
        images: dict[str, ray.ObjectRef] = {}
        refs: dict[ray.ObjectRef, Cell] = {}
        depth: dict[str, int] = {}  # producers are earlier in run order: submit them first, wave by wave
        for c in cells:
            depth[c.key] = 1 + max((depth[p] for p in plan.get(c.key, [])), default=-1)
        for cell in sorted(longest_first(cells, ctx, plan), key=lambda c: depth[c.key]):
            reuse = [images[p] for p in plan.get(cell.key, [])]
            record_ref, images[cell.key] = task.remote(cell, ctx_ref, threads, events, cell.key in producers, *reuse)
            refs[record_ref] = cell
        images.clear()  # the waiting tasks hold the images they reuse; Ray frees them after
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            for event in events.get_nowait_batch(events.qsize()):
                forward(event, progress)
            for ref in done:
                cell = refs.pop(ref)
                try:
                    record = ray.get(ref)
                except RayError as e:
                    if cell.key in plan:  # a producer it waited for failed: evaluate it on its own
                        log.warning("cell %s: a cell it reuses failed (%s); computing its own candidates", cell.key, e)
                        del plan[cell.key]
                        refs[task.remote(cell, ctx_ref, threads, events, False)[0]] = cell
                        continue
                    log.error("cell %s failed after %d retries: %s", cell.key, self.config.max_retries, e)
                    error = f"{type(e).__name__} after {self.config.max_retries} retries: {e}"
                    record = cell_record(cell, ctx, None, error)
                yield cell, record

    def __enter__(self) -> RayExecutor:
        """Join the cluster at ``address``, or start a local one with ``workers * threads`` CPUs; a Ray session
        this process already holds (a notebook's, a test module's) is used as it is and left running, since
        shutting Ray down and starting it again in one process is where Ray's native threads crash."""
        self._owned = not ray.is_initialized()
        if not self._owned:
            return self
        if self.config.address is None:
            cpus = (self.config.workers or 1) * (self.config.threads or 1)
            ray.init(address="local", num_cpus=cpus, include_dashboard=False)
            return self
        try:
            ray.init(address=self.config.address)
        except ConnectionError as e:
            raise ConfigError(
                f"no Ray cluster at --address {self.config.address} ({e}); start one with `ray start --head` "
                "(see README: Running on a cluster), or omit --address to start a local one for this run"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            ray.shutdown()
