"""Benchmark your own multi-exit network with rdibench, from a suite file and from Python.

The network below is an ordinary ``torch.nn.Module`` with its own attribute names (``blocks``, ``classifiers``);
all rdibench asks is that ``forward(x)`` return one logits tensor per exit, shallow to deep. The script trains it
briefly on MNIST (the copy in the repository's ``data/``), saves its weights as safetensors, then benchmarks it
twice: with ``rdibench run examples/own_multi_exit.yaml`` (the suite names ``factory: own_multi_exit:build``) and
with ``rdibench.evaluate`` on the trained module, and checks that both give the same numbers.

Run from the repository root: ``.venv/bin/python examples/own_multi_exit.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import save_file
from torch import nn

HERE = Path(__file__).resolve().parent
SUITE = HERE / "own_multi_exit.yaml"
WEIGHTS = HERE / "own_multi_exit.safetensors"
TRAIN_STEPS, BATCH, EPS = 500, 128, 0.3


class EarlyExitCNN(nn.Module):
    """Three conv blocks, a classifier after each: exits after 28x28, 14x14 and 7x7 feature maps."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU()),
                nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU()),
                nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU()),
            ]
        )
        self.classifiers = nn.ModuleList(
            [
                nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * w, 10)),
                nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * w, 10)),
                nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 7 * 7, 10)),
            ]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        logits = []
        for block, classifier in zip(self.blocks, self.classifiers, strict=True):
            x = block(x)
            logits.append(classifier(x))
        return logits


def build(width: int = 16) -> EarlyExitCNN:
    """The factory the suite names (``factory: own_multi_exit:build``, ``kwargs: {width: 16}``)."""
    return EarlyExitCNN(width)


def train(model: nn.Module, data_dir: str) -> None:
    """Fast adversarial training (FGSM from a random start, Wong et al. 2020) against every exit at once, with
    rdibench's attack used as a plain callable; Adam on MNIST's training split (the held-out split stays unseen)."""
    from rdibench.attacks import FGSM
    from rdibench.data import DataSpec, load, resolve_roots

    data = load(DataSpec(dataset="mnist", split="train"), resolve_roots(data_dir))
    attack = FGSM(eps=EPS, step_size=1.25 * EPS, random_start=True, objective="average")
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    order, starts = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    model.train()
    for _ in range(TRAIN_STEPS):
        idx = torch.randint(0, len(data), (BATCH,), generator=order)
        x, y = data.x[idx], data.y[idx]
        x_adv = attack(model, x, y, generator=starts)  # the model stays in train mode, its weights untouched
        pairs = zip(model(x), model(x_adv), strict=True)
        loss = sum(F.cross_entropy(z, y) + F.cross_entropy(z_adv, y) for z, z_adv in pairs)
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> None:
    import rdibench

    data_dir = os.environ.get("RDIBENCH_DATA") or str(HERE.parent / "data")
    torch.manual_seed(0)
    settings = yaml.safe_load(SUITE.read_text())
    entry = settings["models"][0]
    model = build(**entry["kwargs"])
    start = time.perf_counter()
    train(model, data_dir)
    print(f"trained {TRAIN_STEPS} steps in {time.perf_counter() - start:.0f} s")
    save_file(model.state_dict(), str(WEIGHTS))

    # 1. through the suite file, as `rdibench run` on the command line
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "rdibench.cli.main", "run", str(SUITE), "--out", out]
        subprocess.run([*command, "--data-dir", data_dir, "--device", "cpu", "--quiet"], check=True)
        (run_dir,) = (Path(out) / settings["name"]).iterdir()
        from_suite = pd.read_csv(run_dir / "metrics.csv")

    # 2. through Python, with the suite's own data, attacks and thresholds
    from_python = rdibench.evaluate(
        model,
        name=entry["name"],
        data=settings["data"],
        attacks=settings["attacks"],
        thresholds=settings["thresholds"],
        seed=settings["seed"],
        device="cpu",
        data_dir=data_dir,
    )

    shown = ["attack", "ta", "ata", "mflops_paper", "exit_frac_0", "exit_frac_1", "exit_frac_2"]
    with pd.option_context("display.width", 120, "display.precision", 4):
        print("rdibench run examples/own_multi_exit.yaml:")
        print(from_suite[shown].to_string(index=False))
        print("rdibench.evaluate(model, ...):")
        print(from_python[shown].to_string(index=False))
    numbers = ["ta", "ata", "mflops_paper", "mflops_full", "exit_frac_0", "exit_frac_1", "exit_frac_2", "seed"]
    pd.testing.assert_frame_equal(from_suite[numbers], from_python[numbers])
    print("the suite and rdibench.evaluate agree on every number")


if __name__ == "__main__":
    main()
