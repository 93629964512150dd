"""Published models by name: found in a models root or downloaded (from a server on 127.0.0.1 only), verified,
imported once into the cache and reused; every failure names what was expected and leaves the cache clean."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rdibench
from rdibench.cli.main import main
from rdibench.core.errors import CheckpointError, DownloadError, UnknownNameError
from rdibench.data import DataRoots, resolve_roots
from rdibench.models import create_model, load_checkpoint
from rdibench.models.catalogue import PUBLISHED, PublishedModel
from rdibench.models.fetch import fetch, find_local, imported
from rdibench.models.importers import IMPORTERS
from rdibench.models.importers.trades import KEY_MAP
from tests.conftest import REPO, TRADES, TRIPLE_WINS, published_file
from tests.foundation.conftest import FileServer

NAME = "local-smallcnn"
COMMIT = "0123abc"
UPSTREAM = f"/org/repo/{COMMIT}/checkpoints/model_mnist_smallcnn.pt"


@pytest.fixture(scope="module")
def upstream() -> tuple[torch.nn.Module, bytes]:
    """A SmallCNN with random weights, saved in the TRADES layout (the bytes a published file would hold)."""
    torch.manual_seed(0)
    model = create_model("smallcnn").eval()
    theirs = {ours: name for name, ours in KEY_MAP.items()}
    state = {}
    for key, value in model.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        state[f"{theirs[prefix]}.{leaf}"] = value
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return model, buffer.getvalue()


@pytest.fixture
def entry(
    file_server: FileServer, upstream: tuple[torch.nn.Module, bytes], monkeypatch: pytest.MonkeyPatch
) -> PublishedModel:
    """A catalogue entry for this test only, pointing at the local server."""
    body = upstream[1]
    file_server.files[UPSTREAM] = body
    return _register(monkeypatch, file_server.url(UPSTREAM), hashlib.sha256(body).hexdigest(), len(body))


def _register(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str, size: int, num_exits: int = 1) -> PublishedModel:
    e = PublishedModel(
        name=NAME,
        url=url,
        commit=COMMIT,
        sha256=sha256,
        size=size,
        importer="trades",
        dataset="mnist",
        num_exits=num_exits,
        description="a SmallCNN with random weights, served by the test",
        citation="none",
        licence="none",
    )
    monkeypatch.setitem(PUBLISHED._items, NAME, e)
    return e


def _roots(tmp_path: Path, *models: Path) -> DataRoots:
    return DataRoots((tmp_path / "data",), tmp_path / "cache", models=tuple(models))


def _cache_listing(roots: DataRoots) -> list[str]:
    base = roots.cache / "models"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


def test_a_download_is_verified_imported_and_reused(
    entry: PublishedModel, file_server: FileServer, upstream: tuple[torch.nn.Module, bytes], tmp_path: Path
) -> None:
    roots = _roots(tmp_path)
    ckpt_dir = fetch(NAME, roots, progress=False)
    assert ckpt_dir == roots.cache / "models" / NAME
    assert _cache_listing(roots) == [NAME, f"{NAME}/card.json", f"{NAME}/model.safetensors"]
    ckpt = load_checkpoint(ckpt_dir)
    card = ckpt.card
    assert card.upstream == entry and card.source.endswith(f"{entry.url}, sha256 {entry.sha256}")
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(ckpt.model(x)[0], upstream[0](x)[0]), "the imported weights must be the published ones"
    assert fetch(NAME, roots, progress=False) == ckpt_dir
    assert file_server.hits[UPSTREAM] == 1, "a fetched model is reused, not downloaded again"


def test_a_models_root_is_searched_first_by_name_then_by_checksum(
    entry: PublishedModel, file_server: FileServer, upstream: tuple[torch.nn.Module, bytes], tmp_path: Path
) -> None:
    named, renamed, empty = tmp_path / "named", tmp_path / "renamed", tmp_path / "empty"
    for folder in (named, renamed, empty):
        folder.mkdir()
    (named / entry.filename).write_bytes(upstream[1])
    (renamed / "other.bin").write_bytes(b"x" * entry.size)  # same size, other bytes: not it
    (renamed / "team_copy.pt").write_bytes(upstream[1])
    assert find_local(entry, [empty, named]) == named / entry.filename
    assert find_local(entry, [empty, renamed]) == renamed / "team_copy.pt"
    assert find_local(entry, [empty, tmp_path / "missing"]) is None
    fetch(NAME, _roots(tmp_path, empty, renamed), progress=False)
    assert file_server.hits[UPSTREAM] == 0, "a copy at hand is never downloaded"


def test_a_wrong_file_under_the_upstream_name_is_refused(entry: PublishedModel, tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / entry.filename).write_bytes(b"not the model")
    actual = hashlib.sha256(b"not the model").hexdigest()
    roots = _roots(tmp_path, root)
    with pytest.raises(DownloadError, match=f"sha256 expected {entry.sha256}, got {actual}"):
        fetch(NAME, roots, progress=False)
    assert _cache_listing(roots) == []


@pytest.mark.parametrize("case", ["truncated", "wrong checksum", "missing"])
def test_a_failed_download_names_the_url_and_the_models_roots(
    entry: PublishedModel, file_server: FileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    if case == "truncated":
        file_server.truncated.add(UPSTREAM)
    elif case == "wrong checksum":
        _register(monkeypatch, entry.url, "f" * 64, entry.size)
    else:
        _register(monkeypatch, file_server.url("/org/repo/0123abc/gone.pt"), entry.sha256, entry.size)
    roots = _roots(tmp_path)
    with pytest.raises(DownloadError) as info:
        fetch(NAME, roots, progress=False)
    message = str(info.value)
    assert {"truncated": "truncated", "wrong checksum": "expected " + "f" * 64, "missing": "HTTP 404"}[case] in message
    assert PUBLISHED.get(NAME).url in message and "RDIBENCH_MODELS" in message
    assert _cache_listing(roots) == [], "a failed fetch leaves nothing in the cache"


def test_a_file_that_imports_with_another_exit_count_than_the_catalogue_says_is_refused(
    entry: PublishedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _register(monkeypatch, entry.url, entry.sha256, entry.size, num_exits=3)
    roots = _roots(tmp_path)
    with pytest.raises(CheckpointError, match="imports as a model of 1 exit\\(s\\); the catalogue says 3"):
        fetch(NAME, roots, progress=False)
    assert _cache_listing(roots) == []


def test_an_import_made_before_the_catalogue_recorded_exit_counts_is_still_current(
    entry: PublishedModel, file_server: FileServer, tmp_path: Path
) -> None:
    roots = _roots(tmp_path)
    ckpt_dir = fetch(NAME, roots, progress=False)
    card = json.loads((ckpt_dir / "card.json").read_text())
    del card["upstream"]["num_exits"]  # as rdibench wrote it then
    (ckpt_dir / "card.json").write_text(json.dumps(card))
    assert imported(NAME, roots) == ckpt_dir
    assert load_checkpoint(fetch(NAME, roots, progress=False)).card.upstream == entry
    assert file_server.hits[UPSTREAM] == 1, "not downloaded again"


def test_a_stale_import_is_replaced_when_the_catalogue_checksum_changes(
    entry: PublishedModel,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    roots = _roots(tmp_path)
    first = load_checkpoint(fetch(NAME, roots, progress=False)).card.weights_sha256
    torch.manual_seed(1)
    published = torch.load(io.BytesIO(file_server.files[UPSTREAM]), weights_only=True)
    state = {k: torch.randn_like(v) for k, v in published.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    file_server.files[UPSTREAM] = buffer.getvalue()
    _register(monkeypatch, entry.url, hashlib.sha256(buffer.getvalue()).hexdigest(), len(buffer.getvalue()))
    second = load_checkpoint(fetch(NAME, roots, progress=False))
    assert second.card.upstream == PUBLISHED.get(NAME) and second.card.weights_sha256 != first
    assert file_server.hits[UPSTREAM] == 2


def test_rdibench_load_takes_a_name_or_a_directory(
    entry: PublishedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    ckpt = rdibench.load(NAME)
    assert ckpt.card.upstream == entry and ckpt.path == tmp_path / "cache" / "models" / NAME
    assert rdibench.load(ckpt.path).card.weights_sha256 == ckpt.card.weights_sha256
    with pytest.raises(UnknownNameError, match=r"neither a checkpoint directory nor a published model.*local-smallcnn"):
        rdibench.load("local-smalcnn")


def test_fetch_cli_lists_fetches_and_refuses_unknown_names(
    entry: PublishedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    assert main(["fetch", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in PUBLISHED.names():
        e = PUBLISHED.get(name)
        assert f"{name}  ({e.dataset}, {e.num_exits} exit(s), import kind {e.importer})" in listing and e.url in listing
    assert main(["fetch", "local-smalcnn"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'local-smallcnn'" in err and "triple-wins-rdi-resnet38" in err
    assert main(["fetch", NAME, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / "models" / NAME)


def test_fetch_cli_checksum_mismatch_exits_non_zero_naming_both(
    entry: PublishedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    _register(monkeypatch, entry.url, "e" * 64, entry.size)
    assert main(["fetch", NAME, "--quiet"]) != 0
    err = capsys.readouterr().err
    assert f"expected {'e' * 64}, got {entry.sha256}" in err and "Traceback" not in err
    assert not (tmp_path / "cache" / "models" / NAME).exists()


def test_suites_and_eval_fetch_on_first_use(
    entry: PublishedModel, file_server: FileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo_data = Path(__file__).resolve().parents[2] / "data"
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RDIBENCH_DATA", str(repo_data))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: pub\ndata: {{dataset: mnist, n: 16}}\nmodels:\n  - {{name: m, published: {NAME}}}\n"
        "attacks:\n  - {name: clean}\n"
    )
    assert main(["run", str(suite), "--out", str(tmp_path / "results"), "--quiet", "--no-cache"]) == 0
    assert main(["eval", NAME, "--attack", "clean", "--n", "16", "--format", "json"]) == 0
    assert file_server.hits[UPSTREAM] == 1, "the run fetched it; eval reused it"


def test_a_run_whose_only_leaves_a_published_model_out_does_not_download_it(
    entry: PublishedModel,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Its cells (expanded from the catalogue's exit count) stay pending; the --resume that selects it fetches it."""
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RDIBENCH_DATA", str(REPO / "data"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: pub\ndata: {{dataset: mnist, n: 16}}\nsanity: {{probe_first_attack: false}}\nmodels:\n"
        f"  - {{name: ours, checkpoint: {REPO / 'baselines/models/mnist-smallcnn-pgdat-31cd44483520'}}}\n"
        f"  - {{name: pub, published: {NAME}}}\nattacks:\n  - {{name: clean}}\n"
        "  - {name: fgsm, algorithm: fgsm, objective: single, exit: all, params: {eps: 0.3}}\n"
    )
    assert main(["run", str(suite), "--out", str(tmp_path / "results"), "--quiet", "--only", "ours|*"]) == 0
    run_dir = capsys.readouterr().out.strip().splitlines()[-1]
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    assert file_server.hits[UPSTREAM] == 0 and not (tmp_path / "cache" / "models").exists()
    assert manifest["pending_cells"] == ["pub|clean", "pub|fgsm-e0"] and set(manifest["models"]) == {"ours"}
    assert main(["run", str(suite), "--resume", run_dir, "--quiet"]) == 0
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    assert file_server.hits[UPSTREAM] == 1 and manifest["pending_cells"] == []
    assert manifest["models"]["pub"]["card"]["num_exits"] == entry.num_exits


def test_every_catalogue_entry_names_a_known_importer() -> None:
    assert PUBLISHED.names(), "the catalogue is empty"
    for name in PUBLISHED.names():
        assert PUBLISHED.get(name).importer in IMPORTERS


def test_an_unpinned_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        PublishedModel(**{**PUBLISHED.get("trades-smallcnn-mnist").model_dump(), "url": "https://x.org/main/a.pt"})


def test_import_rdibench_stays_light() -> None:
    code = "import sys, rdibench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_models_roots_come_from_the_flag_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDIBENCH_MODELS", os.pathsep.join(["/a", "", "/b"]))
    assert resolve_roots().models == (Path("/a"), Path("/b"))
    assert resolve_roots(models_dir="/c").models == (Path("/c"),)
    monkeypatch.delenv("RDIBENCH_MODELS")
    assert resolve_roots().models == ()


@pytest.mark.parametrize(("name", "suite"), [(TRIPLE_WINS, "authors_resnet38"), (TRADES, "trades_mnist")])
def test_published_models_have_the_weights_the_committed_runs_used(name: str, suite: str, tmp_path: Path) -> None:
    """Fetching by name (here from a models root, found by checksum) must give the very weights of the committed
    runs, so their numbers stay comparable with new runs."""
    source = published_file(name)
    ckpt = load_checkpoint(fetch(name, DataRoots((), tmp_path / "cache", models=(source.parent,)), progress=False))
    manifests = sorted((REPO / "results" / suite).glob("*/manifest.json"))
    recorded = {m["sha256"] for path in manifests for m in json.loads(path.read_text())["models"].values()}
    assert manifests and recorded == {ckpt.card.weights_sha256}
