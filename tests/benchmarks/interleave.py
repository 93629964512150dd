"""Contenders timed in turn, in rotating order: load from other processes hits each alike, and no contender
always runs first (or right after another). What every ratio benchmark here measures with."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def interleaved(
    benchmark: Any, runs: Mapping[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds per contender over ``rounds`` (after one warm-up round) and each one's last output."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, Any] = {}
    order = list(runs)

    def one_round() -> None:
        order.append(order.pop(0))
        for name in order:
            start = time.perf_counter()
            outputs[name] = runs[name]()
            seconds[name].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=1, iterations=1)
    return {name: statistics.median(t[-rounds:]) for name, t in seconds.items()}, outputs
