"""The TRADES SmallCNN for MNIST (yaodongyu/TRADES ``model_mnist_smallcnn.pt``) -> static ``smallcnn``.

Its layout (the published file of catalogue entry ``trades-smallcnn-mnist``): ``feature_extractor.conv1..4`` and
``classifier.fc1..3``, a plain state dict.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rdibench.core.errors import CheckpointError
from rdibench.core.hashing import sha256_file
from rdibench.models.card import ModelCard
from rdibench.models.checkpoint import Checkpoint, load_state
from rdibench.models.importers.legacy import read_legacy, rename
from rdibench.models.registry import create_model

KEY_MAP = {
    "feature_extractor.conv1": "segments.0.0.0",
    "feature_extractor.conv2": "segments.0.1.0",
    "feature_extractor.conv3": "segments.0.1.3",
    "feature_extractor.conv4": "segments.0.2.0",
    "classifier.fc1": "heads.0.1",
    "classifier.fc2": "heads.0.4",
    "classifier.fc3": "heads.0.6",
}


def convert(path: Path) -> Checkpoint:
    state = read_legacy(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a plain state dict of tensors (kind trades)")
    model = create_model("smallcnn")
    load_state(model, rename(state, KEY_MAP, path), str(path))
    card = ModelCard(
        name="smallcnn.trades",
        arch="smallcnn",
        dataset="mnist",
        num_exits=1,
        thresholds=[],
        source=f"imported (trades) from {path.name}, sha256 {sha256_file(path)}; yaodongyu/TRADES commit f94f414 "
        "checkpoints/model_mnist_smallcnn.pt",
        defence="trades",
    )
    return Checkpoint(model.eval(), card)
