"""Data: verified sources, canonical indices, seeded splits, and errors that say where rdibench looked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from rdibench.core.errors import DataError
from rdibench.data import DataRoots, DataSpec, load
from tests.conftest import need_data


def test_mnist_from_the_repository_is_verified_and_raw(roots: DataRoots) -> None:
    d = load(DataSpec(dataset="mnist", n=50), roots)
    assert d.x.shape == (50, 1, 28, 28) and d.x.dtype == torch.float32
    assert float(d.x.min()) >= 0.0 and float(d.x.max()) <= 1.0  # raw [0, 1], no normalisation
    assert d.index.tolist() == list(range(50))
    assert d.source_checksum.startswith("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873")  # torchvision's md5s
    assert not d.lossy and d.label == "MNIST"


def test_validation_split_is_seeded_and_disjoint_from_training(roots: DataRoots) -> None:
    val = load(DataSpec(dataset="mnist", split="val", val_size=1000), roots)
    again = load(DataSpec(dataset="mnist", split="val", val_size=1000), roots)
    train = load(DataSpec(dataset="mnist", split="train", val_size=1000), roots)
    assert torch.equal(val.index, again.index) and val.checksum == again.checksum
    assert len(val) + len(train) == 60_000
    assert not set(val.index.tolist()) & set(train.index.tolist())


def test_seeded_sample_and_prefix_selections(roots: DataRoots) -> None:
    a = load(DataSpec(dataset="mnist", n=100, sample_seed=3), roots)
    b = load(DataSpec(dataset="mnist", n=100, sample_seed=3), roots)
    c = load(DataSpec(dataset="mnist", n=100, sample_seed=4), roots)
    assert torch.equal(a.index, b.index) and not torch.equal(a.index, c.index)
    assert load(DataSpec(dataset="mnist", n=10, offset=5), roots).index.tolist() == list(range(5, 15))


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    empty = DataRoots((tmp_path,), tmp_path / "cache")
    with pytest.raises(DataError, match=rf"MNIST not found.*{tmp_path}.*RDIBENCH_DATA"):
        load(DataSpec(dataset="mnist"), empty)


def test_corrupt_mnist_fails_its_checksum(tmp_path: Path, roots: DataRoots) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    src = roots.roots[0] / "MNIST" / "raw"
    for f in src.glob("*.gz"):
        (raw / f.name).write_bytes(f.read_bytes())
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(DataError, match="md5"):
        load(DataSpec(dataset="mnist"), DataRoots((tmp_path,), tmp_path / "cache"))


def test_bad_spec_names_the_field() -> None:
    with pytest.raises(ValidationError, match="source"):
        DataSpec(dataset="mnist", source="jpeg")
    with pytest.raises(ValidationError, match="n"):
        DataSpec(dataset="mnist", n=0)


def test_cifar_sources_share_canonical_indices_and_flag_the_lossy_copy(roots: DataRoots) -> None:
    need_data("cifar10-jpeg-lossy")
    exact = load(DataSpec(dataset="cifar10", n=200), roots)  # auto: canonical missing -> exact subset covers it
    jpeg = load(DataSpec(dataset="cifar10", n=200, source="jpeg"), roots)
    assert exact.source == "exact-npz" and not exact.lossy and exact.label == "CIFAR-10"
    assert jpeg.lossy and "lossy" in jpeg.label
    assert torch.equal(exact.index, jpeg.index) and torch.equal(exact.y, jpeg.y)
    assert exact.y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the canonical test labels
    mae = float((exact.x - jpeg.x).abs().mean() * 255)
    assert 4.0 < mae < 8.0  # JPEG q75: about 5.8/255 per SOURCES.md


def test_cifar_never_falls_back_to_the_lossy_copy_silently(roots: DataRoots) -> None:
    need_data("cifar10-jpeg-lossy")
    with pytest.raises(DataError, match="source: jpeg"):
        load(DataSpec(dataset="cifar10", n=2000), roots)
