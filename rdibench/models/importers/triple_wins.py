"""The authors' RDI-ResNet-38 (VITA-Group/triple-wins ``checkpoint_60000.pth.tar``) -> ``rdi_resnet38``.

Their layout (docs/protocol.md §1.2; the published file of catalogue entry ``triple-wins-rdi-resnet38``):
``conv1``/``bn1`` stem, ``group{g}_layer{i}`` blocks, ``branch_layer{1..6}`` side exits with the same
Sequential indices as ours, ``fc`` main exit; every key prefixed ``module.`` by DataParallel.
"""

from __future__ import annotations

from pathlib import Path

from rdibench.core.errors import CheckpointError
from rdibench.core.hashing import sha256_file
from rdibench.models.card import ModelCard, ThresholdShift
from rdibench.models.checkpoint import Checkpoint, load_state
from rdibench.models.importers.legacy import read_legacy, rename
from rdibench.models.registry import create_model
from rdibench.models.zoo.resnet import BLOCKS_PER_STAGE

AUTHORS_OFFSETS = [-0.15, -0.2, -0.25, -0.05, -0.05, 0.0]  # test_model's shifts for the max_v2-trained model


def key_map(segment_lengths: list[int]) -> dict[str, str]:
    """Authors' module prefix -> ours, walking our segments in forward order."""
    mapping: dict[str, str] = {}
    position = 0
    for s, length in enumerate(segment_lengths):
        for j in range(length):
            ours = f"segments.{s}.{j}"
            if position == 0:
                mapping.update({"conv1": f"{ours}.0", "bn1": f"{ours}.1"})
            else:
                g, i = divmod(position - 1, BLOCKS_PER_STAGE)
                mapping[f"group{g}_layer{i}"] = ours
            position += 1
    mapping.update({f"branch_layer{k}": f"heads.{k - 1}" for k in range(1, 7)})
    mapping["fc"] = "heads.6.2"
    return mapping


def convert(path: Path) -> Checkpoint:
    blob = read_legacy(path)
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise CheckpointError(f"{path}: expected the authors' dict with a 'state_dict' key (kind triple-wins)")
    arch = blob.get("arch")
    if arch != "cifar10_resnet_38":
        raise CheckpointError(f"{path}: arch {arch!r}; the triple-wins importer supports 'cifar10_resnet_38' only")
    state = {k.removeprefix("module."): v for k, v in blob["state_dict"].items()}
    model = create_model("rdi_resnet38")
    state = rename(state, key_map([len(s) for s in model.segments]), path)
    load_state(model, state, str(path))
    card = ModelCard(
        name="rdi_resnet38.authors_maxavg",
        arch="rdi_resnet38",
        dataset="cifar10",
        num_exits=model.num_exits,
        source=f"imported (triple-wins) from {path.name}, sha256 {sha256_file(path)}; VITA-Group/triple-wins "
        f"commit 74cf622 cifar/checkpoint_60000.pth.tar, iteration {blob.get('iter')}",
        defence="rdi-max_average (PGD-10, eps 8/255, step 2/255)",
        threshold_shift=ThresholdShift(offset=AUTHORS_OFFSETS, origin="triple-wins cifar/train_base.py test_model"),
        notes="Thresholds are not stored by the authors: fit them per evaluation (protocol 'authors' or 'held-out').",
    )
    return Checkpoint(model.eval(), card)
