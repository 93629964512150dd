"""A rich progress display for suite runs: cells done with ETA, and each running cell with where it runs."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichRunProgress:
    """Implements the runner's Progress protocol; silent when stderr is not a terminal or with --quiet.

    One bar for the run (done of total, elapsed, ETA from the rate cells finish at), and one line per
    running cell with its host:pid, since a parallel executor runs several at once.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.console = Console(stderr=True)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.enabled,
        )
        self.overall = self.bar.add_task("cells", total=0)
        self.running: dict[str, TaskID] = {}

    def __enter__(self) -> RichRunProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, total: int, done: int) -> None:
        self.bar.update(self.overall, total=total, completed=done)

    def cell_started(self, key: str, where: str) -> None:
        description = f"  {key} @ {where}"
        if key in self.running:  # a retry after its worker died
            self.bar.reset(self.running[key], description=description, total=1)
        else:
            self.running[key] = self.bar.add_task(description, total=1)
        self._count()

    def cell_advanced(self, key: str, done: int, total: int) -> None:
        if key in self.running:
            self.bar.update(self.running[key], completed=done, total=total)

    def cell_finished(self, key: str, status: str, cached: bool) -> None:
        self.bar.advance(self.overall)
        if key in self.running:
            self.bar.remove_task(self.running.pop(key))
        self._count()
        note = " (cached)" if cached else ""
        self.bar.console.print(f"{'ok' if status == 'ok' else status.upper():>6}  {key}{note}")

    def _count(self) -> None:
        self.bar.update(self.overall, description=f"cells ({len(self.running)} running)" if self.running else "cells")
