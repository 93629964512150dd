"""Attack throughput: rdibench's PGD on the average objective against torchattacks' PGD on the final exit.

rdibench differentiates all exits of one forward; torchattacks, through the final-exit view, runs the
same forward and differentiates one exit, so a ratio near 1 says the multi-exit objective costs
nothing extra. rdibench's PGD on the final exit is timed too (the like-for-like pair). Contenders are
interleaved (:mod:`tests.benchmarks.interleave`), and one intra-op thread is used
(on the shared 2-core machine, two threads under load are up to 20x slower and the numbers meaningless).
A benchmark reports; it asserts only that every output is a valid adversarial batch.
Run: ``pytest tests/benchmarks --benchmark-enable``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torchattacks
from torch import nn

from rdibench.attacks import PGD, Average, ExitView, Single
from rdibench.attacks.adapters import View
from rdibench.core.seeding import make_generator
from rdibench.models import create_model
from tests.benchmarks.interleave import interleaved

BATCH, STEPS, EPS, STEP, ROUNDS = 256, 10, 0.3, 0.01, 5


def test_pgd_average_vs_torchattacks_final_exit(benchmark: Any) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("rdi_smallcnn").eval()
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()  # undo the zero-initialised last layers, so every exit has a gradient
    g = make_generator(0)
    x = torch.rand(BATCH, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    pgd = PGD(eps=EPS, steps=STEPS, step_size=STEP)
    reference = torchattacks.PGD(ExitView(model, View("exit")), eps=EPS, alpha=STEP, steps=STEPS)
    runs: dict[str, Callable[[], torch.Tensor]] = {
        "rdibench_average": lambda: pgd(model, x, y, Average(), generator=make_generator(1)),
        "rdibench_final": lambda: pgd(model, x, y, Single(), generator=make_generator(1)),
        "torchattacks_final": lambda: reference(x, y),
    }
    seconds, outputs = interleaved(benchmark, runs, ROUNDS)
    ips = {name: BATCH / s for name, s in seconds.items()}
    benchmark.extra_info.update(
        {f"{name}_images_per_s": v for name, v in ips.items()}
        | {
            "ratio_average_vs_torchattacks_final": ips["rdibench_average"] / ips["torchattacks_final"],
            "ratio_final_vs_torchattacks_final": ips["rdibench_final"] / ips["torchattacks_final"],
            "batch": BATCH,
            "steps": STEPS,
            "threads": torch.get_num_threads(),
        }
    )
    for x_adv in outputs.values():
        assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
        assert (x_adv - x).abs().max() <= EPS + 1e-6 and not torch.equal(x_adv, x)
    assert not model.training
