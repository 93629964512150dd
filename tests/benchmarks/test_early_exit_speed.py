"""Benchmark: the early-exit executor against simulate (all exits) on the authors' RDI-ResNet-38.

Run with ``pytest tests/benchmarks --benchmark-enable``; the measured ratio and the ratio MFlops
predict are in the benchmark's extra_info. Nothing here asserts a time: it reports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from rdibench import inference
from rdibench.data import DataRoots, DataSpec, load
from rdibench.flops import exit_costs, expected_mflops
from rdibench.models import load_checkpoint
from rdibench.models.importers.triple_wins import AUTHORS_OFFSETS

ROUNDS = 3


def test_early_exit_vs_simulate(benchmark: Any, authors_ckpt: Path, roots: DataRoots) -> None:
    model = load_checkpoint(authors_ckpt).model
    x = load(DataSpec(dataset="cifar10", n=1017), roots).x
    with torch.no_grad():
        thresholds = inference.adjust(inference.fit_thresholds(model(x)), None, AUTHORS_OFFSETS)

    def interleaved() -> tuple[float, float]:
        """Alternate the two executors so load from other processes hits both alike; mean seconds per call."""
        spent = {inference.simulate: 0.0, inference.early_exit: 0.0}
        for fn in spent:
            fn(model, x, thresholds)  # warm-up
        for _ in range(ROUNDS):
            for fn in spent:
                start = time.perf_counter()
                fn(model, x, thresholds)
                spent[fn] += time.perf_counter() - start
        return spent[inference.simulate] / ROUNDS, spent[inference.early_exit] / ROUNDS

    routed = benchmark.pedantic(inference.early_exit, args=(model, x, thresholds), rounds=ROUNDS, warmup_rounds=1)
    simulate_s, early_s = interleaved()
    costs = exit_costs(model)
    fractions = (torch.bincount(routed.exit, minlength=model.num_exits).double() / len(x)).tolist()
    every_exit_cost = costs.full[-1]  # simulate runs every segment and every head
    predicted = every_exit_cost / expected_mflops(fractions, costs.full)
    benchmark.extra_info.update(
        {
            "images": len(x),
            "simulate_s": simulate_s,
            "early_exit_s": early_s,
            "measured_speedup": simulate_s / early_s,
            "mflops_predicted_speedup": predicted,
            "exit_fractions": fractions,
        }
    )
    assert torch.equal(routed.pred, inference.simulate(model, x, thresholds).pred)
