"""A rich progress display for suite runs: overall cells with ETA, plus the cell in flight."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichRunProgress:
    """Implements the runner's Progress protocol; silent when stderr is not a terminal or with --quiet."""

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
        self.current = self.bar.add_task("", total=1, visible=False)

    def __enter__(self) -> RichRunProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, total: int, done: int) -> None:
        self.bar.update(self.overall, total=total, completed=done)

    def cell_started(self, key: str) -> None:
        self.bar.reset(self.current, description=f"  {key}", total=1, visible=True)

    def cell_advanced(self, done: int, total: int) -> None:
        self.bar.update(self.current, completed=done, total=total)

    def cell_finished(self, key: str, status: str, cached: bool) -> None:
        self.bar.advance(self.overall)
        self.bar.update(self.current, visible=False)
        note = " (cached)" if cached else ""
        self.bar.console.print(f"{'ok' if status == 'ok' else status.upper():>6}  {key}{note}")
