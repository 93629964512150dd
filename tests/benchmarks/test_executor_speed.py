"""Benchmark: wall time of ``suites/quick.yaml`` and ``suites/ci.yaml`` under each executor on this machine, as a
ratio to ``local``.

``local`` runs one cell at a time with torch's threads; ``processes`` and ``ray`` run ``cores`` cells at once
with one thread each (no cell cache, so every cell is computed). The ratios, the core count and each
cell's wall time (the measured cost per cell kind that docs/scaling.md projects from) go to the
benchmark's extra_info. A benchmark reports; it asserts only that every executor gave the same numbers.
Run: ``pytest tests/benchmarks/test_executor_speed.py -m slow --benchmark-enable``.
"""

from __future__ import annotations

import heapq
import importlib.util
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from rdibench.attacks import PGD, Average
from rdibench.core.seeding import make_generator
from rdibench.data import DataRoots
from rdibench.evaluation import Cell, expand, load_suite
from rdibench.evaluation.adversarial import image_keys
from rdibench.evaluation.specs import CLEAN
from rdibench.inference import DEFAULT_RULE
from rdibench.models import create_model
from rdibench.results import RunDir
from rdibench.runner import ExecutorConfig, RunOptions, run_suite
from rdibench.runner.executors.base import cores, reuse_plan, reused, work_estimate
from rdibench.training import load_recipe
from tests.conftest import REPO

QUICK = REPO / "suites" / "quick.yaml"
CI = REPO / "suites" / "ci.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("suite_path", [QUICK, CI], ids=["quick", "ci"])
def test_suite_wall_time_per_executor(benchmark: Any, suite_path: Path, roots: DataRoots, tmp_path: Path) -> None:
    if benchmark.disabled:  # minutes of CPU: only when benchmarks are asked for, not in CI's bounded slow step
        pytest.skip("run with --benchmark-enable")
    suite, source = load_suite(suite_path)
    n = cores()
    executors = [ExecutorConfig("local"), ExecutorConfig("processes", workers=n, threads=1)]
    if importlib.util.find_spec("ray") is not None:
        executors.append(ExecutorConfig("ray", workers=n, threads=1))
    seconds: dict[str, float] = {}
    runs: dict[str, Path] = {}

    def run_all() -> None:
        for executor in executors:
            start = time.perf_counter()
            options = RunOptions(out_root=tmp_path / executor.kind, cell_cache=False, executor=executor)
            runs[executor.kind] = run_suite(suite, source, roots, options).path
            seconds[executor.kind] = time.perf_counter() - start

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    cells = RunDir.open(runs["local"]).cells()
    benchmark.extra_info.update(
        {
            "cores": n,
            "wall_s": seconds,
            "ratio_to_local": {kind: s / seconds["local"] for kind, s in seconds.items()},
            "cell_wall_s_local": {c["key"]: c["wall_s"] for c in cells},
            "cell_wall_s_processes": {c["key"]: c["wall_s"] for c in RunDir.open(runs["processes"]).cells()},
        }
    )
    reference = pd.read_csv(runs["local"] / "metrics.csv").drop(columns="wall_s")
    for kind, run_dir in runs.items():
        pd.testing.assert_frame_equal(pd.read_csv(run_dir / "metrics.csv").drop(columns="wall_s"), reference, obj=kind)


PAPER = REPO / "suites" / "paper_table.yaml"
FULL_TEST_SET = 10_000
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _arch(recipe_ref: str) -> tuple[str, dict[str, Any]]:
    """The architecture a recipe trains, following ``base`` to the recipe that names one."""
    recipe = load_recipe(recipe_ref)
    while recipe.model is None:
        assert recipe.base is not None and recipe._source is not None
        base = recipe._source.parent / recipe.base
        recipe = load_recipe(base if base.is_file() else recipe.base)
    return recipe.model.arch, dict(recipe.model.kwargs)


def _seconds_per_pass(arch: str, kwargs: dict[str, Any], dataset: str, rounds: int = 3) -> float:
    """One PGD iteration (forward + backward through every exit) per image, one torch thread, median of rounds."""
    model = create_model(arch, **kwargs).eval()
    g = make_generator(0)
    x = torch.rand(64, *SHAPES[dataset], generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    pgd = PGD(eps=0.03, steps=2, step_size=0.01)
    times = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        pgd(model, x, y, Average(), generator=make_generator(1))
        times.append((time.perf_counter() - start) / (64 * 2))
    return statistics.median(times[1:])  # the first round warms up


def lpt_makespan(costs: list[float], workers: int) -> float:
    """Wall time of longest-first list scheduling (what the parallel executors do) on ``workers`` equal slots."""
    slots = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(slots, slots[0] + cost)
    return max(slots)


@pytest.mark.slow
def test_paper_table_projection(benchmark: Any) -> None:
    """Cost of every cell of ``suites/paper_table.yaml`` from measured per-pass times, and its projected wall time
    on 1, 4 and 16 machines of this kind (2 one-thread workers each) against the longest-cell limit."""
    if benchmark.disabled:
        pytest.skip("run with --benchmark-enable")
    suite, _ = load_suite(PAPER)
    archs = {m.name: (_arch(m.recipe or ""), suite.data_for(m).dataset) for m in suite.models}

    def measure() -> dict[str, float | None]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return {
                name: None if name.endswith(".pruned") else _seconds_per_pass(arch, kwargs, dataset)
                for name, ((arch, kwargs), dataset) in archs.items()
            }
        finally:
            torch.set_num_threads(threads)

    per_pass = benchmark.pedantic(measure, rounds=1, iterations=1)
    for name in per_pass:  # pruned to the compressed model's MFlops target: cost it as the compressed model
        per_pass[name] = per_pass[name] or per_pass[name.replace(".pruned", ".compressed")]
    exits = {name: create_model(arch, **kwargs).num_exits for name, ((arch, kwargs), _) in archs.items()}
    cells = expand(suite, exits)
    keys = {
        c.key: []
        if c.attack.algorithm == CLEAN
        else image_keys(c.model.name, c.attack, c.exit, exits[c.model.name], [0.0] * exits[c.model.name], DEFAULT_RULE)
        for c in cells
    }
    shared = reused(keys, reuse_plan(keys))

    def seconds(cell: Cell, reuses: int) -> float:
        n = suite.data_for(cell.model).n or FULL_TEST_SET
        passes = work_estimate(cell, exits[cell.model.name], n, suite.sanity.probe_n, reuses)
        return passes * n * per_pass[cell.model.name]

    alone = {c.key: seconds(c, 0) for c in cells}  # every cell computing its own images
    cost = {c.key: seconds(c, shared[c.key]) for c in cells}  # as the executors run it
    by_kind: dict[str, list[float]] = {}
    for cell in cells:
        kind = f"{cell.model.name.split('.')[0]} {cell.attack.algorithm}/{cell.attack.objective}"
        by_kind.setdefault(kind, []).append(cost[cell.key])
    benchmark.extra_info.update(
        {
            "seconds_per_pass_1_thread": per_pass,
            "cells": len(cells),
            "cell_seconds_by_kind": {k: statistics.mean(v) for k, v in sorted(by_kind.items())},
            **{
                f"{label}_{k}": v for label, c in (("reuse", cost), ("alone", alone)) for k, v in _projection(c).items()
            },
        }
    )


def _projection(cost: dict[str, float]) -> dict[str, Any]:
    """Total work, the longest cell, and the wall time on 1, 4 and 16 machines of 2 one-thread workers."""
    total, longest = sum(cost.values()), max(cost.values())
    return {
        "total_cpu_s": total,
        "longest_cell": max(cost, key=lambda k: cost[k]),
        "longest_cell_s": longest,
        "projected_wall_s": {m: lpt_makespan(list(cost.values()), 2 * m) for m in (1, 4, 16)},
        "lower_bound_s": {m: max(total / (2 * m), longest) for m in (1, 4, 16)},
    }
