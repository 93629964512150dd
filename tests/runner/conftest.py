"""A tiny multi-exit checkpoint and suite, so runner tests exercise every path in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rdibench import inference
from rdibench.data import DataRoots, DataSpec, load
from rdibench.models import ModelCard, create_model, save_checkpoint

SUITE = """\
name: tiny
seed: 7
data: {{dataset: mnist, n: {n}}}
batch_size: 32
sanity: {{probe_first_attack: {probes}, probe_n: 16, curve: [0.5]}}
models:
  - {{name: rdi, checkpoint: {ckpt}}}
attacks:
  - {{name: clean}}
  - {{name: pgd-single, algorithm: pgd, objective: single, exit: all,
     params: {{eps: 0.3, steps: {steps}, step_size: 0.1}}}}
  - {{name: pgd-avg, algorithm: pgd, objective: average, params: {{eps: 0.3, steps: {steps}, step_size: 0.1}}}}
  - {{name: pgd-maxavg, algorithm: pgd, objective: max_average, params: {{eps: 0.3, steps: {steps}, step_size: 0.1}}}}
  - {{name: pgd-routing, algorithm: pgd, objective: routing, params: {{eps: 0.3, steps: {steps}, step_size: 0.1}}}}
  - {{name: fgsm, algorithm: fgsm, objective: average, params: {{eps: 0.3}}}}
"""


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory, roots: DataRoots) -> Path:
    """A random-init RDI-SmallCNN with thresholds fitted on real validation images (all exits in use)."""
    torch.manual_seed(0)
    model = create_model("rdi_smallcnn").eval()
    val = load(DataSpec(dataset="mnist", split="val", val_size=600), roots)
    with torch.no_grad():
        thresholds = inference.fit_thresholds(model(val.x))
    card = ModelCard(
        name="rdi",
        arch="rdi_smallcnn",
        dataset="mnist",
        num_exits=3,
        thresholds=thresholds,
        source="random init (test fixture)",
    )
    return save_checkpoint(model, card, tmp_path_factory.mktemp("tiny") / "rdi")


def write_suite(directory: Path, ckpt: Path, *, n: int = 48, steps: int = 3, probes: bool = False) -> Path:
    """The tiny suite; the default probes are off unless ``probes`` (they are tested on, not timed, here)."""
    path = directory / "tiny.yaml"
    path.write_text(SUITE.format(n=n, ckpt=ckpt, steps=steps, probes=str(probes).lower()))
    return path
