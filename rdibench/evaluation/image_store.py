"""Adversarial images that outlive the process: what lets a resumed run's max-average cell reuse the single-exit
images an earlier invocation made.

Why: max-average is one single-exit attack per exit; within one invocation it takes them from the cells that made
them (the in-memory cache, the executors' reuse plan). A run stopped between those cells and max-average, or run
in parts with ``--only``, would make every exit's attack again: 7 PGD attacks on an RDI-ResNet-38, about 6,000
CPU-s on 10,000 CIFAR-10 images. So the images some other cell of the run will reuse are also written to disk
(float32, exact), and the runner deletes them once every cell that reuses them is done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rdibench.core.device import Acceleration
from rdibench.core.files import atomic_path
from rdibench.core.hashing import sha256_json
from rdibench.evaluation.adversarial import Adversarial, ImageKey

log = logging.getLogger(__name__)


@dataclass
class ImageStore(MutableMapping[ImageKey, Adversarial]):
    """An adversarial-image cache (the ``cache`` of :func:`~rdibench.evaluation.adversarial.attack_images`)
    whose entries under the ``shared`` keys are kept on disk too, under ``root``.

    ``salt`` names what the images depend on besides their key (the code, the device kind, the speed settings,
    the batch size), so a file is only ever read back by a run that would have made the same images. Images read
    back land on ``device`` in the ``acceleration``'s layout, as the ones made there. Deleting an entry forgets
    it in memory only (a worker empties its cache after each cell); :meth:`discard` deletes the files.
    """

    root: Path
    shared: frozenset[ImageKey]
    salt: str
    device: str = "cpu"
    acceleration: Acceleration = field(default_factory=Acceleration)
    memory: dict[ImageKey, Adversarial] = field(default_factory=dict)

    def path(self, key: ImageKey) -> Path:
        return self.root / f"{sha256_json({'key': list(key), 'salt': self.salt})[:40]}.safetensors"

    def __getitem__(self, key: ImageKey) -> Adversarial:
        if key not in self.memory and key in self.shared and (found := self._read(key)) is not None:
            self.memory[key] = found
        return self.memory[key]

    def __setitem__(self, key: ImageKey, adv: Adversarial) -> None:
        self.memory[key] = adv
        if key in self.shared and not self.path(key).is_file():
            self._write(key, adv)

    def __delitem__(self, key: ImageKey) -> None:
        del self.memory[key]

    def __iter__(self) -> Iterator[ImageKey]:
        return iter(self.memory)

    def __len__(self) -> int:
        return len(self.memory)

    def discard(self, keys: Iterable[ImageKey]) -> None:
        """Delete the files of ``keys`` (no cell left reuses them)."""
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    def _write(self, key: ImageKey, adv: Adversarial) -> None:
        metadata = {"key": json.dumps(list(key)), "warnings": json.dumps(adv.warnings), "cpu_s": repr(adv.cpu_s)}
        try:
            with atomic_path(self.path(key), suffix=".safetensors") as tmp:
                save_file({"images": adv.images.detach().cpu().contiguous()}, str(tmp), metadata=metadata)
        except OSError as e:  # a full disk costs a resumed run the recomputation, never this cell
            log.warning("could not keep adversarial images in %s (%s); a resumed run makes them again", self.root, e)

    def _read(self, key: ImageKey) -> Adversarial | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(path, framework="pt") as f:
                metadata = f.metadata() or {}
                if json.loads(metadata["key"]) != list(key):
                    raise ValueError("written for another key")
                images = f.get_tensor("images")
        except (OSError, ValueError, KeyError, SafetensorError) as e:
            log.warning("ignoring stored adversarial images %s (%s); making them again", path, e)
            return None
        return Adversarial(
            self.acceleration.images(images.to(self.device)),
            json.loads(metadata["warnings"]),
            cpu_s=float(metadata["cpu_s"]),
        )


def shared_keys(needs: dict[str, list[ImageKey]]) -> dict[ImageKey, set[str]]:
    """The image keys more than one cell needs, each with the cells (by key) that need it."""
    users: dict[ImageKey, set[str]] = {}
    for cell, keys in needs.items():
        for key in keys:
            users.setdefault(key, set()).add(cell)
    return {key: cells for key, cells in users.items() if len(cells) > 1}
