"""The processes executor: N worker processes on this machine, each with its own torch threads.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one worker dies it breaks the whole pool, stops
every other worker and cannot say which task was running, so bounded retries per cell are impossible.
Here each worker has its own pipe: the driver knows which cell each worker holds, sees a death on the
process sentinel, charges that cell one attempt and restarts only that worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

import torch

from rdibench.evaluation import Cell
from rdibench.evaluation.cell import AdvCache
from rdibench.runner.context import Context, Progress, cell_record, evaluate_in_worker
from rdibench.runner.executors.base import (
    ExecutorConfig,
    Finished,
    InProcessResources,
    forward,
    image_keys_of,
    longest_first,
    reuse_plan,
)

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0


def _worker_main(conn: Connection, ctx: Context, threads: int) -> None:
    """A worker's life: take a task, report events, send the record (and kept images) back; stop on None."""
    torch.set_num_threads(threads)
    try:
        while (task := conn.recv()) is not None:
            cell, reuse, keep = task
            conn.send(("done", cell.key, *evaluate_in_worker(cell, ctx, conn.send, reuse, keep)))
    except (EOFError, BrokenPipeError):  # the driver is gone
        pass


class _Worker:
    """One worker process, its end of the pipe, and the cell it holds."""

    def __init__(self, mp: SpawnContext, ctx: Context, threads: int) -> None:
        self.conn, child = mp.Pipe()
        # the context is pickled once per worker here, never per cell (tensors travel through shared memory)
        self.process: SpawnProcess = mp.Process(target=_worker_main, args=(child, ctx, threads), daemon=True)
        self.process.start()
        child.close()
        self.cell: Cell | None = None

    def give(self, cell: Cell, reuse: AdvCache, keep: bool) -> None:
        self.conn.send((cell, reuse, keep))
        self.cell = cell

    def stop(self) -> None:
        """Ask the worker to finish, then make sure it is gone."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(STOP_WAIT_S if self.cell is None else 0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()


class ProcessExecutor(InProcessResources):
    """``workers`` spawned processes, ``threads`` torch threads each; a cell whose worker dies is retried
    ``max_retries`` times on a fresh worker, then recorded failed with the worker's exit code.

    A cell waits for the cells whose adversarial images it reuses (max-average its model's single-exit ones:
    :func:`reuse_plan`); the driver holds those images until the last cell that reuses them is done.
    Scripts that call ``run_suite`` with this executor need the ``if __name__ == "__main__":`` guard,
    because spawned workers import the main module.
    """

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        if not cells:
            return
        mp = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
        threads = self.config.threads or 1
        plan = reuse_plan(image_keys_of(cells, ctx))
        producers = {key for keys in plan.values() for key in keys}
        pending = longest_first(cells, ctx, plan)
        finished: set[str] = set()
        images: dict[str, AdvCache] = {}
        attempts: Counter[str] = Counter()
        workers = [_Worker(mp, ctx, threads) for _ in range(min(self.config.workers or 1, len(pending)))]

        def done(cell: Cell, record: dict[str, Any], kept: AdvCache) -> tuple[Cell, dict[str, Any]]:
            finished.add(cell.key)
            if kept:
                images[cell.key] = kept
            for key in [k for k in images if all(c in finished for c, p in plan.items() if k in p)]:
                del images[key]  # no cell left that reuses them
            return cell, record

        try:
            while pending or any(w.cell for w in workers):
                for i, w in enumerate(workers):
                    ready = next((c for c in pending if all(p in finished for p in plan.get(c.key, []))), None)
                    if ready is None:
                        break
                    if w.cell is not None:
                        continue
                    if not w.process.is_alive():  # it died while idle
                        w.stop()
                        w = workers[i] = _Worker(mp, ctx, threads)
                    pending.remove(ready)
                    reuse = {k: v for p in plan.get(ready.key, []) for k, v in images.get(p, {}).items()}
                    w.give(ready, reuse, ready.key in producers)
                busy = [w for w in workers if w.cell is not None]
                signalled = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for i, w in enumerate(workers):
                    if w.cell is None or (w.conn not in signalled and w.process.sentinel not in signalled):
                        continue
                    for cell, record, kept in self._receive(w, progress):
                        yield done(cell, record, kept)
                    if w.process.is_alive():
                        continue
                    cell, exitcode = w.cell, w.process.exitcode
                    w.stop()
                    workers[i] = _Worker(mp, ctx, threads)
                    if cell is None:  # it died after sending its last record
                        continue
                    attempts[cell.key] += 1
                    error = f"worker process died (exit code {exitcode}) in attempt {attempts[cell.key]}"
                    if attempts[cell.key] > self.config.max_retries:
                        log.error("cell %s failed: %s; no retries left", cell.key, error)
                        yield done(cell, cell_record(cell, ctx, None, f"{error}; no retries left"), {})
                    else:
                        log.warning("cell %s: %s; retrying", cell.key, error)
                        pending.insert(0, cell)
        finally:
            for w in workers:
                w.stop()

    @staticmethod
    def _receive(w: _Worker, progress: Progress | None) -> list[tuple[Cell, dict[str, Any], AdvCache]]:
        """Handle everything the worker has sent: events go to the display; a finished cell frees the worker."""
        out = []
        try:
            while w.cell is not None and w.conn.poll():
                message = w.conn.recv()
                if message[0] == "done":
                    out.append((w.cell, message[2], message[3]))
                    w.cell = None
                else:
                    forward(message, progress)
        except (EOFError, OSError):  # the worker died; its sentinel says so
            w.process.join(STOP_WAIT_S)
        return out
