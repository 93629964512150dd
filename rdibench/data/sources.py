"""Readers for each on-disk source of a dataset. Each returns a whole split as uint8 NCHW pixels."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import extract_archive

from rdibench.core.errors import DataError
from rdibench.core.hashing import sha256_file
from rdibench.data.roots import DataRoots

if TYPE_CHECKING:
    from rdibench.data.spec import DataSpec

MNIST_RAW_MD5 = {
    # md5 of the un-gzipped idx files (the gzip members of torchvision's verified .gz resources)
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
JPEG_DIR = "cifar10-jpeg-lossy"
EXACT_NPZ = f"{JPEG_DIR}/exact_subset_test_first1017.npz"


@dataclass(frozen=True)
class RawSplit:
    """A whole split as read from one source: pixels uint8 [N, C, H, W], labels, canonical indices."""

    pixels: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    source: str
    location: str
    source_checksum: str
    lossy: bool


def _md5(path: Path) -> str:
    return sha256_file(path, "md5")


def read_mnist(spec: DataSpec, roots: DataRoots, train: bool) -> RawSplit:
    """MNIST through ``torchvision.datasets.MNIST``, md5-verified (one source: ``spec`` chooses nothing).

    Un-gzipped files in ``<root>/MNIST/raw`` are read in place; verified ``.gz`` files (as shipped in
    the repository) are decompressed once into the cache so a read-only root is never written to.
    """
    names = list(MNIST_RAW_MD5)  # torchvision wants all four files present, whichever split is read
    gz_md5 = dict(torchvision.datasets.MNIST.resources)
    for root in roots.roots:
        raw = root / "MNIST" / "raw"
        if all((raw / n).is_file() for n in names):
            sums = {n: _md5(raw / n) for n in names}
            bad = [n for n in names if sums[n] != MNIST_RAW_MD5[n]]
            if bad:
                raise DataError(f"MNIST file {raw / bad[0]} fails its md5 check (corrupt or not MNIST)")
            return _mnist_from(root, train, "md5:" + ",".join(sums[n] for n in names))
        if all((raw / f"{n}.gz").is_file() for n in names):
            sums = {n: _md5(raw / f"{n}.gz") for n in names}
            bad = [n for n in names if sums[n] != gz_md5[f"{n}.gz"]]
            if bad:
                raise DataError(f"MNIST file {raw / bad[0]}.gz fails torchvision's md5 check (corrupt or not MNIST)")
            cache_raw = roots.cache / "data" / "MNIST" / "raw"
            for n in names:
                if not (cache_raw / n).is_file() or _md5(cache_raw / n) != MNIST_RAW_MD5[n]:
                    cache_raw.mkdir(parents=True, exist_ok=True)
                    extract_archive(str(raw / f"{n}.gz"), str(cache_raw))
            return _mnist_from(roots.cache / "data", train, "md5:" + ",".join(sums[n] + "(gz)" for n in names))
    if roots.download:
        target = roots.roots[0]
        torchvision.datasets.MNIST(str(target), train=train, download=True)
        return read_mnist(spec, DataRoots((target,), roots.cache, download=False), train)
    raise DataError(
        f"MNIST not found: looked for MNIST/raw/{names[0]}[.gz] under {roots.describe()}. "
        "Point rdibench at a copy with --data-dir DIR or RDIBENCH_DATA=DIR (DIR holding MNIST/raw/), "
        "or pass --download to let torchvision fetch it."
    )


def _mnist_from(root: Path, train: bool, checksum: str) -> RawSplit:
    ds = torchvision.datasets.MNIST(str(root), train=train, download=False)
    pixels = ds.data.unsqueeze(1).contiguous()
    return RawSplit(
        pixels, ds.targets.long(), torch.arange(len(pixels)), "torchvision", str(root), checksum, lossy=False
    )


def read_cifar10(spec: DataSpec, roots: DataRoots, train: bool) -> RawSplit:
    """CIFAR-10 from the source ``spec`` names; ``auto`` takes the canonical pickles, else the exact subset when it
    covers the selection, and never the lossy copy."""
    wanted = spec.source
    if wanted in ("torchvision", "auto"):
        raw = read_cifar_torchvision(roots, train)
        if raw is not None:
            return raw
        if wanted == "torchvision":
            raise DataError(
                f"canonical CIFAR-10 (cifar-10-batches-py) not found under {roots.describe()}. "
                "Use --data-dir/RDIBENCH_DATA to point at a copy, --download to fetch it, "
                "or choose source: jpeg (lossy copy) or exact-npz."
            )
        last = spec.offset + (spec.n or 0)
        if not train and spec.sample_seed is None and spec.n is not None and last <= 1017:
            raw = read_cifar_npz(roots)
            if raw is not None:
                return raw
        raise DataError(
            f"canonical CIFAR-10 not found under {roots.describe()} and the exact subset "
            f"({EXACT_NPZ}, test images 0-1016) does not cover this selection. "
            "Point --data-dir/RDIBENCH_DATA at cifar-10-batches-py, pass --download, or ask for the "
            "lossy copy explicitly with source: jpeg."
        )
    if wanted == "jpeg":
        raw = read_cifar_jpeg(roots, train)
        if raw is None:
            raise DataError(f"{JPEG_DIR}/{'train' if train else 'test'} not found under {roots.describe()}")
        return raw
    if train:
        raise DataError("source exact-npz holds test images only; use split: test")
    raw = read_cifar_npz(roots)
    if raw is None:
        raise DataError(f"{EXACT_NPZ} not found under {roots.describe()}")
    return raw


def read_cifar_torchvision(roots: DataRoots, train: bool) -> RawSplit | None:
    """Canonical CIFAR-10 pickles (``cifar-10-batches-py``) via torchvision, md5-checked by it."""
    for root in roots.roots:
        if (root / "cifar-10-batches-py").is_dir():
            try:
                ds = torchvision.datasets.CIFAR10(str(root), train=train, download=False)
            except RuntimeError as e:
                raise DataError(f"CIFAR-10 under {root / 'cifar-10-batches-py'} is incomplete or corrupt: {e}") from e
            return _cifar_split(ds.data, ds.targets, np.arange(len(ds.data)), "torchvision", root, "torchvision-md5")
    if roots.download:
        root = roots.roots[0]
        ds = torchvision.datasets.CIFAR10(str(root), train=train, download=True)
        return _cifar_split(ds.data, ds.targets, np.arange(len(ds.data)), "torchvision", root, "torchvision-md5")
    return None


@functools.lru_cache(maxsize=4)
def _read_jpeg_dir(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    ds = torchvision.datasets.ImageFolder(str(folder))
    if tuple(ds.classes) != CIFAR_CLASSES:
        raise DataError(f"{folder} is not a CIFAR-10 ImageFolder copy: classes {ds.classes}")
    order = sorted(range(len(ds.samples)), key=lambda i: int(Path(ds.samples[i][0]).stem))
    images, labels, index = [], [], []
    h = hashlib.sha256()
    for i in order:
        path, label = ds.samples[i]
        data = Path(path).read_bytes()
        h.update(data)
        images.append(np.asarray(ds.loader(path).convert("RGB")))
        labels.append(label)
        index.append(int(Path(path).stem))
    return np.stack(images), np.asarray(labels), np.asarray(index), h.hexdigest()


def read_cifar_jpeg(roots: DataRoots, train: bool) -> RawSplit | None:
    """The lossy JPEG q75 ImageFolder copy whose file names carry the canonical index."""
    for root in roots.roots:
        folder = root / JPEG_DIR / ("train" if train else "test")
        if folder.is_dir():
            images, labels, index, digest = _read_jpeg_dir(folder.resolve())
            return _cifar_split(images, labels, index, "jpeg", folder, f"sha256:{digest}", lossy=True)
    return None


def read_cifar_npz(roots: DataRoots) -> RawSplit | None:
    """The lossless npz of canonical test images (``images`` uint8 HWC, ``labels``, ``index``)."""
    for root in roots.roots:
        path = root / EXACT_NPZ
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                missing = {"images", "labels", "index"} - set(z.files)
                if missing:
                    raise DataError(f"{path} lacks arrays {sorted(missing)}")
                images, labels, index = z["images"], z["labels"], z["index"]
            return _cifar_split(images, labels, index, "exact-npz", path, f"sha256:{sha256_file(path)}")
    return None


def _cifar_split(
    images: np.ndarray, labels: object, index: np.ndarray, source: str, where: Path, checksum: str, lossy: bool = False
) -> RawSplit:
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    return RawSplit(
        pixels,
        torch.as_tensor(np.asarray(labels), dtype=torch.long),
        torch.as_tensor(np.asarray(index), dtype=torch.long),
        source,
        str(where),
        checksum,
        lossy,
    )
