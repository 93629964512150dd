"""rdibench: accuracy, robustness and efficiency benchmarks for input-adaptive (multi-exit) networks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdibench.models import Checkpoint
    from rdibench.runner.api import evaluate as evaluate

from rdibench.core.version import __version__ as __version__


def load(name_or_dir: str | Path, *, models_dir: str | None = None) -> Checkpoint:
    """A model ready to evaluate: an rdibench checkpoint directory, or a published model by name (as
    RobustBench's ``load_model``), fetched, verified and imported into the cache on first use.

    Returns the :class:`~rdibench.models.Checkpoint` (``.model`` in eval mode, ``.card`` with its thresholds
    and provenance, ``.path``). ``models_dir``: folders holding published files, searched before any
    download (default ``$RDIBENCH_MODELS``). Imports stay lazy so ``import rdibench`` is light.
    """
    from rdibench.data import resolve_roots
    from rdibench.models import load_checkpoint
    from rdibench.models.fetch import resolve_checkpoint

    return load_checkpoint(resolve_checkpoint(name_or_dir, resolve_roots(models_dir=models_dir)))


def __getattr__(name: str) -> Any:
    """``rdibench.evaluate`` (:func:`rdibench.runner.api.evaluate`), imported on first use so ``import rdibench``
    stays light."""
    if name == "evaluate":
        from rdibench.runner.api import evaluate

        return evaluate
    raise AttributeError(f"module 'rdibench' has no attribute {name!r}")
