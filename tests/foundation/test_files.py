"""The one atomic-write helper: the target is the old file or the complete new one, never a half-written one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.core.files import atomic_path, atomic_write


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "manifest.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_text() == "new" and sorted(p.name for p in target.parent.iterdir()) == ["manifest.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.pt"
    atomic_write(target, "complete")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".part") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "complete" and [p.name for p in tmp_path.iterdir()] == ["state.pt"]
