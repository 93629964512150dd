"""Adversarial images kept on disk between invocations: a resumed max-average cell takes the single-exit images an
earlier invocation made (same numbers as making them, none of their cost), and the files go once no cell needs
them."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from rdibench.data import DataRoots
from rdibench.evaluation import load_suite
from rdibench.evaluation.adversarial import Adversarial
from rdibench.evaluation.image_store import ImageStore, shared_keys
from rdibench.results import RunDir
from rdibench.runner import ExecutorConfig, RunOptions, run_suite
from tests.runner.conftest import write_suite

SINGLES = "rdi|pgd-single-e*"
MAXAVG = "rdi|pgd-maxavg"


def _cells(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in RunDir.open(run_dir).cells()}


def _run(suite: Path, roots: DataRoots, only: str, executor: ExecutorConfig, **options: Any) -> Path:
    config, source = load_suite(suite)
    run_options = RunOptions(only=only, executor=executor, **options)
    return run_suite(config, source, roots, run_options).path


@pytest.mark.parametrize("kind", ["local", "processes"])
def test_a_resumed_max_average_takes_the_single_exit_images_an_earlier_invocation_made(
    kind: str, tiny_ckpt: Path, roots: DataRoots, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=48, steps=3)
    mine = dataclasses.replace(roots, cache=tmp_path / "cache")  # an empty cell cache: every cell is computed
    executor = ExecutorConfig(kind, workers=2, threads=1) if kind == "processes" else ExecutorConfig(kind)
    run_dir = _run(suite, mine, SINGLES, executor, out_root=tmp_path / "runs")
    stored = list((mine.cache / "images").glob("*.safetensors"))
    assert len(stored) == 3, "each exit's images wait on disk for the max-average cell"

    _run(suite, mine, MAXAVG, executor, resume=run_dir)
    resumed = _cells(run_dir)[MAXAVG]
    assert resumed["status"] == "ok" and resumed["reused_cpu_s"] > 0, "it made no attack of its own"
    assert not list((mine.cache / "images").glob("*.safetensors")), "no cell left needs them"

    # the same numbers as a run that made every image itself, in one invocation and without the store
    whole = _run(suite, roots, MAXAVG, ExecutorConfig("local"), out_root=tmp_path / "whole", cell_cache=False)
    reference = _cells(whole)[MAXAVG]
    assert reference["reused_cpu_s"] == 0
    for field in ("flags", "index", "sanity"):
        assert resumed[field] == reference[field], field
    assert resumed["metrics"].keys() == reference["metrics"].keys()
    for name, value in resumed["metrics"].items():
        assert value == pytest.approx(reference["metrics"][name], rel=1e-6), name


def test_without_the_cell_cache_nothing_is_kept(tiny_ckpt: Path, roots: DataRoots, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=48, steps=3)
    mine = dataclasses.replace(roots, cache=tmp_path / "cache")
    _run(suite, mine, SINGLES, ExecutorConfig("local"), out_root=tmp_path / "runs", cell_cache=False)
    assert not (mine.cache / "images").exists()


def _adversarial() -> Adversarial:
    return Adversarial(torch.rand(4, 1, 28, 28), {"zero_gradients": ["2 of 4 samples"]}, cpu_s=1.5)


def test_store_reads_back_only_what_the_same_key_and_salt_wrote(tmp_path: Path) -> None:
    key, other = ("model", "pgd e0"), ("model", "pgd e1")
    store = ImageStore(tmp_path, frozenset({key}), salt="a")
    adv = _adversarial()
    store[key], store[other] = adv, adv
    assert len(list(tmp_path.iterdir())) == 1, "only a shared key goes to disk"

    again = ImageStore(tmp_path, frozenset({key, other}), salt="a")  # a later invocation: nothing in memory
    found = again[key]
    assert torch.equal(found.images, adv.images) and found.warnings == adv.warnings and found.cpu_s == adv.cpu_s
    assert other not in again
    assert key not in ImageStore(tmp_path, frozenset({key}), salt="b"), "other code, device or batch size"

    del again[key]  # a worker empties its cache after a cell: the file stays for the next invocation
    assert key in ImageStore(tmp_path, frozenset({key}), salt="a")
    again.discard([key])
    assert key not in ImageStore(tmp_path, frozenset({key}), salt="a")


def test_a_damaged_file_is_made_again_not_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = ("model", "pgd e0")
    ImageStore(tmp_path, frozenset({key}), salt="a")[key] = _adversarial()
    (path,) = tmp_path.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        assert key not in ImageStore(tmp_path, frozenset({key}), salt="a")
    assert "making them again" in caplog.text and path.name in caplog.text


def test_shared_keys_are_those_of_more_than_one_cell() -> None:
    needs = {"maxavg": [("m", "e0"), ("m", "e1")], "e0": [("m", "e0")], "e1": [("m", "e1")], "avg": [("m", "a")]}
    assert shared_keys(needs) == {("m", "e0"): {"maxavg", "e0"}, ("m", "e1"): {"maxavg", "e1"}}
