"""A failed cell's recorded traceback names files from their import roots, never the machine's folders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from rdibench.core.errors import portable_traceback

REPO = Path(__file__).resolve().parents[2]


def _fail_inside_torch() -> None:
    torch.nn.Linear(2, 2)(torch.zeros(3))  # shape mismatch, raised from torch's own Python frames


def test_traceback_names_files_from_their_import_roots() -> None:
    with pytest.raises(RuntimeError):
        try:
            _fail_inside_torch()
        except RuntimeError:
            text = portable_traceback(limit=None)
            raise
    files = re.findall(r'File "([^"]+)"', text)
    assert "tests/foundation/test_errors.py" in files
    assert any(f.startswith("torch/nn/modules/") for f in files), files
    assert not any(Path(f).is_absolute() for f in files), files
    assert str(REPO) not in text and "site-packages" not in text
