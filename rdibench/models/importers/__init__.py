"""External checkpoint importers (``rdibench import KIND PATH --out DIR``), one module per KIND."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rdibench.core.errors import CheckpointError
from rdibench.core.registry import Registry
from rdibench.models.checkpoint import Checkpoint, save_checkpoint
from rdibench.models.importers import trades, triple_wins

Importer = Callable[[Path], Checkpoint]
IMPORTERS: Registry[Importer] = Registry("import kind")
IMPORTERS.register("triple-wins")(triple_wins.convert)
IMPORTERS.register("trades")(trades.convert)


def import_checkpoint(kind: str, path: Path | str, out_dir: Path | str) -> Path:
    """Convert the external file at ``path`` into an rdibench checkpoint directory ``out_dir``."""
    convert = IMPORTERS.get(kind)
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    ckpt = convert(path)
    return save_checkpoint(ckpt.model, ckpt.card, Path(out_dir))
