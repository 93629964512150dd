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
from collections import Counter, deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess

import torch

from rdibench.evaluation import Cell
from rdibench.runner.context import Context, Progress, cell_record, evaluate_in_worker
from rdibench.runner.executors.base import ExecutorConfig, Finished, forward, longest_first

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0


def _worker_main(conn: Connection, ctx: Context, threads: int) -> None:
    """A worker's life: take a cell, report events, send its record back; stop on None or a closed pipe."""
    torch.set_num_threads(threads)
    try:
        while (cell := conn.recv()) is not None:
            conn.send(("done", cell.key, evaluate_in_worker(cell, ctx, conn.send)))
    except (EOFError, BrokenPipeError):  # the driver is gone
        pass


class _Worker:
    """One worker process, its end of the pipe, and the cell it holds."""

    def __init__(self, mp: SpawnContext, ctx: Context, threads: int) -> None:
        self.conn, child = mp.Pipe()
        # the context is pickled once per worker here, never per cell
        self.process: SpawnProcess = mp.Process(target=_worker_main, args=(child, ctx, threads), daemon=True)
        self.process.start()
        child.close()
        self.cell: Cell | None = None

    def give(self, cell: Cell) -> None:
        self.conn.send(cell)
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


class ProcessExecutor:
    """``workers`` spawned processes, ``threads`` torch threads each; a cell whose worker dies is retried
    ``max_retries`` times on a fresh worker, then recorded failed with the worker's exit code."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config

    def run(self, cells: Sequence[Cell], ctx: Context, progress: Progress | None) -> Finished:
        if not cells:
            return
        mp = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
        threads = self.config.threads or 1
        pending = deque(longest_first(cells, ctx))
        attempts: Counter[str] = Counter()
        workers = [_Worker(mp, ctx, threads) for _ in range(min(self.config.workers or 1, len(pending)))]
        try:
            while pending or any(w.cell for w in workers):
                for w in workers:
                    if w.cell is None and pending:
                        w.give(pending.popleft())
                busy = [w for w in workers if w.cell is not None]
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for i, w in enumerate(workers):
                    if w.cell is None or (w.conn not in ready and w.process.sentinel not in ready):
                        continue
                    yield from self._receive(w, progress)
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
                        yield cell, cell_record(cell, ctx, None, f"{error}; no retries left")
                    else:
                        log.warning("cell %s: %s; retrying", cell.key, error)
                        pending.appendleft(cell)
        finally:
            for w in workers:
                w.stop()

    @staticmethod
    def _receive(w: _Worker, progress: Progress | None) -> Finished:
        """Handle everything the worker has sent; a finished cell frees the worker."""
        try:
            while w.cell is not None and w.conn.poll():
                message = w.conn.recv()
                if message[0] == "done":
                    cell, w.cell = w.cell, None
                    yield cell, message[2]
                else:
                    forward(message, progress)
        except (EOFError, OSError):  # the worker died; its sentinel says so
            w.process.join(STOP_WAIT_S)
