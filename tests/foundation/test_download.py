"""Verified downloads against a real HTTP server on 127.0.0.1: only a complete file with the right sha256 is kept."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest
from rich.progress import Progress

from rdibench.core.download import download
from rdibench.core.errors import DownloadError
from tests.foundation.conftest import FileServer

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


def test_a_complete_file_with_the_right_checksum_is_kept(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/a/model.pt"] = BODY
    out = download(file_server.url("/a/model.pt"), tmp_path / "model.pt", SHA, progress=False)
    assert out == tmp_path / "model.pt" and out.read_bytes() == BODY
    assert os.listdir(tmp_path) == ["model.pt"]


def test_the_progress_bar_does_not_change_the_file(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/a/model.pt"] = BODY
    assert download(file_server.url("/a/model.pt"), tmp_path / "m.pt", SHA, progress=True).read_bytes() == BODY


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", rf"truncated: {len(BODY) // 2} of {len(BODY)} bytes"),
        ("wrong checksum", rf"sha256 mismatch: expected {'0' * 64}, got {SHA}"),
        ("missing", r"HTTP 404"),
    ],
)
def test_a_bad_download_leaves_no_file(file_server: FileServer, tmp_path: Path, case: str, message: str) -> None:
    if case != "missing":
        file_server.files["/a/model.pt"] = BODY
    if case == "truncated":
        file_server.truncated.add("/a/model.pt")
    expected = "0" * 64 if case == "wrong checksum" else SHA
    with pytest.raises(DownloadError, match=message):
        download(file_server.url("/a/model.pt"), tmp_path / "model.pt", expected, progress=False)
    assert file_server.hits["/a/model.pt"] == 1
    assert os.listdir(tmp_path) == [], "nothing a later run could trust may stay behind"


def test_an_interrupted_download_leaves_no_file(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_server.files["/a/model.pt"] = BODY

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "advance", interrupt)  # Ctrl-C after the first chunk was written
    with pytest.raises(KeyboardInterrupt):
        download(file_server.url("/a/model.pt"), tmp_path / "model.pt", SHA, progress=False)
    assert os.listdir(tmp_path) == []


def test_no_server_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a/model.pt"
    with pytest.raises(DownloadError, match=rf"cannot download {url}: .*refused"):
        download(url, tmp_path / "model.pt", SHA, progress=False, timeout=5)
    assert os.listdir(tmp_path) == []
