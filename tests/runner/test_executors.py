"""Executors: processes and Ray give the local executor's per-sample results exactly (float summaries to
1e-5); killed workers are retried; a killed driver is resumed; Ray is optional. The Ray tests start a real local
cluster on loopback (no mocks)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from rdibench.cli.main import main
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots
from rdibench.evaluation import load_suite
from rdibench.models import ModelCard, create_model, save_checkpoint
from rdibench.results import RunDir
from rdibench.runner import ExecutorConfig, RunOptions, prepare, run_suite
from rdibench.runner.executors import make_executor, plan_workers
from rdibench.runner.executors.base import image_keys_of, longest_first, reuse_plan
from tests.conftest import REPO
from tests.runner.conftest import write_suite

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='needs pip install "rdibench[ray]"')
CI_SUITE = REPO / "suites" / "ci.yaml"
TARGET = "rdi|pgd-avg"  # a cell of several batches: its first progress step is mid-cell
PRODUCER = "rdi|pgd-single-e1"  # a single-exit cell whose images max-average reuses


def _run(suite_path: Path, roots: DataRoots, out: Path, executor: ExecutorConfig, progress: Any = None) -> Path:
    suite, source = load_suite(suite_path)
    options = RunOptions(out_root=out, cell_cache=False, progress=progress, executor=executor)
    return run_suite(suite, source, roots, options).path


def _numbers(run_dir: Path) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """metrics.csv without wall times, and each cell's per-sample flags, sample index, metrics and checks."""
    frame = pd.read_csv(run_dir / "metrics.csv").drop(columns="wall_s")
    fields = ("status", "flags", "index", "metrics", "sanity", "seed")
    return frame, {c["key"]: {k: c.get(k) for k in fields} for c in RunDir.open(run_dir).cells()}


def _assert_same_cells(
    cells: dict[str, dict[str, Any]], ref_cells: dict[str, dict[str, Any]], *, besides: str | None = None
) -> None:
    """Every per-sample decision exactly; the float summaries to 1e-5 (a mean perturbation norm is a float32
    reduction whose order a Ray worker's settings change in the last digits: 5.590116 vs 5.590123 measured).
    ``besides``: a cell left out of the comparison (one recorded failed on purpose)."""
    cells = {k: v for k, v in cells.items() if k != besides}
    ref_cells = {k: v for k, v in ref_cells.items() if k != besides}
    assert cells.keys() == ref_cells.keys()
    for key, cell in cells.items():
        ref = ref_cells[key]
        assert {k: v for k, v in cell.items() if k != "metrics"} == {k: v for k, v in ref.items() if k != "metrics"}
        metrics, ref_metrics = cell["metrics"] or {}, ref["metrics"] or {}
        assert metrics.keys() == ref_metrics.keys(), key
        for name, value in metrics.items():
            assert value == pytest.approx(ref_metrics[name], rel=1e-5, abs=1e-9), (key, name)


def _assert_same(run_dir: Path, reference: Path) -> None:
    frame, cells = _numbers(run_dir)
    ref_frame, ref_cells = _numbers(reference)
    pd.testing.assert_frame_equal(frame, ref_frame)
    _assert_same_cells(cells, ref_cells)
    keys = [json.loads(line)["key"] for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert sorted(keys) == sorted(ref_cells), "every cell exactly once"


class KillMidCell:
    """A progress display that SIGKILLs the worker evaluating ``target`` at the cell's first progress step."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.where: dict[str, str] = {}
        self.killed: str | None = None

    def start(self, total: int, done: int) -> None:
        pass

    def cell_started(self, key: str, where: str) -> None:
        self.where[key] = where

    def cell_advanced(self, key: str, done: int, total: int) -> None:
        if key == self.target and self.killed is None:
            self.killed = self.where[key]
            os.kill(int(self.killed.rpartition(":")[2]), signal.SIGKILL)

    def cell_finished(self, key: str, status: str, cached: bool) -> None:
        pass


@pytest.fixture(scope="module")
def tiny(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite(tmp_path_factory.mktemp("suite"), tiny_ckpt, n=48, steps=3)


@pytest.fixture(scope="module")
def tiny_local(tiny: Path, roots: DataRoots, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tiny, roots, tmp_path_factory.mktemp("local"), ExecutorConfig("local"))


def test_plan_workers_never_oversubscribes() -> None:
    assert plan_workers(2, None, None) == (2, 1)
    assert plan_workers(16, 4, None) == (4, 4)
    assert plan_workers(16, None, 4) == (4, 4)
    assert plan_workers(3, None, 2) == (1, 2)
    with pytest.raises(ConfigError, match="needs 4 cores"):
        plan_workers(2, 2, 2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ExecutorConfig("processes", address="auto"), "--address goes with --executor ray"),
        (ExecutorConfig("local", workers=2), "one cell at a time"),
        (ExecutorConfig("processes", workers=0), "at least 1"),
        (ExecutorConfig("processes", max_retries=-1), "0 or more"),
    ],
)
def test_bad_executor_flags_are_config_errors(config: ExecutorConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_executor(config)


def test_ray_missing_names_the_extra(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    monkeypatch.delitem(sys.modules, "rdibench.runner.executors.ray_cluster", raising=False)
    code = main(["run", str(tiny), "--executor", "ray", "--quiet", "--data-dir", "data"])
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err
    assert 'pip install "rdibench[ray]"' in err and len(err.strip().splitlines()) == 1


def test_max_average_reuses_the_single_exit_cells_of_its_model(tiny: Path, roots: DataRoots) -> None:
    suite, _ = load_suite(tiny)
    ctx, cells = prepare(suite, roots)
    plan = reuse_plan(image_keys_of(cells, ctx))
    assert plan == {"rdi|pgd-maxavg": ["rdi|pgd-single-e0", "rdi|pgd-single-e1", "rdi|pgd-single-e2"]}
    assert longest_first(cells, ctx, {})[0].key == "rdi|pgd-maxavg"  # alone it attacks every exit
    reusing = [c.key for c in longest_first(cells, ctx, plan)]  # reusing, it only picks among candidates
    assert reusing.index("rdi|pgd-maxavg") > reusing.index("rdi|pgd-avg") and reusing[-1] == "rdi|clean"


@pytest.fixture(scope="module")
def shared(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny suite's attacks on a one-exit model too, and on the tiny model under a second name and protocol."""
    directory = tmp_path_factory.mktemp("shared")
    torch.manual_seed(0)
    card = ModelCard(name="static", arch="smallcnn", dataset="mnist", num_exits=1, thresholds=[], source="test")
    static = save_checkpoint(create_model("smallcnn").eval(), card, directory / "static")
    path = write_suite(directory, tiny_ckpt, n=48, steps=3)
    text = path.read_text().replace(
        "attacks:\n",
        f"  - {{name: static, checkpoint: {static}}}\n"
        f"  - {{name: rdi-fixed, checkpoint: {tiny_ckpt}, thresholds: {{protocol: fixed, values: [0.1, 0.2]}}}}\n"
        "attacks:\n",
    )
    path.write_text(text)
    return path


def test_cells_share_images_whenever_one_process_would(shared: Path, roots: DataRoots) -> None:
    suite, _ = load_suite(shared)
    ctx, cells = prepare(suite, roots)
    plan = reuse_plan(image_keys_of(cells, ctx))
    static = "static|pgd-single-e0"  # on a one-exit model these attacks are its single attack
    assert {k: v for k, v in plan.items() if k.startswith("static")} == {
        f"static|{a}": [static] for a in ("pgd-avg", "pgd-maxavg", "pgd-routing")
    }
    singles = [f"rdi-fixed|pgd-single-e{k}" for k in range(3)]  # same weights, its own seed: its own images
    assert {k: v for k, v in plan.items() if k.startswith("rdi-fixed")} == {"rdi-fixed|pgd-maxavg": singles}
    assert all(producer not in plan for producers in plan.values() for producer in producers)


def test_processes_share_images_as_local_does(shared: Path, roots: DataRoots, tmp_path: Path) -> None:
    local = _run(shared, roots, tmp_path / "local", ExecutorConfig("local"))
    _assert_same(_run(shared, roots, tmp_path / "processes", ExecutorConfig("processes", workers=2, threads=1)), local)


def test_processes_equals_local(tiny: Path, tiny_local: Path, roots: DataRoots, tmp_path: Path) -> None:
    run_dir = _run(tiny, roots, tmp_path, ExecutorConfig("processes", workers=2, threads=1))
    _assert_same(run_dir, tiny_local)
    assert json.loads((run_dir / "manifest.json").read_text())["executor"]["workers"] == 2


@pytest.mark.slow
def test_processes_retries_a_worker_killed_mid_cell(
    tiny: Path, tiny_local: Path, roots: DataRoots, tmp_path: Path
) -> None:
    killer = KillMidCell(TARGET)
    run_dir = _run(tiny, roots, tmp_path, ExecutorConfig("processes", workers=2, threads=1), killer)
    assert killer.killed is not None
    _assert_same(run_dir, tiny_local)
    retried = next(c for c in RunDir.open(run_dir).cells() if c["key"] == TARGET)
    assert retried["worker"] != killer.killed


@pytest.mark.slow
def test_processes_records_a_cell_failed_when_retries_run_out(
    tiny: Path, tiny_local: Path, roots: DataRoots, tmp_path: Path
) -> None:
    killer = KillMidCell(PRODUCER)
    run_dir = _run(tiny, roots, tmp_path, ExecutorConfig("processes", workers=2, threads=1, max_retries=0), killer)
    cells = {c["key"]: c for c in RunDir.open(run_dir).cells()}
    assert cells[PRODUCER]["status"] == "failed" and "worker process died" in cells[PRODUCER]["error"]
    _, reference = _numbers(tiny_local)
    _, numbers = _numbers(run_dir)
    # the run went on, and max-average computed the candidates it could not reuse: the same numbers
    _assert_same_cells(numbers, reference, besides=PRODUCER)


@pytest.mark.slow
def test_killed_driver_then_resume_under_processes(tiny_ckpt: Path, tiny_local: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=48, steps=3)  # the same suite as ``tiny``: same config hash
    env = {**os.environ, "RDIBENCH_DATA": "data", "RDIBENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "rdibench.cli.main", "run", str(suite), "--quiet", "--no-cache"]
    processes = ["--executor", "processes", "--workers", "2", "--threads", "1"]
    proc = subprocess.Popen([*base, *processes, "--out", str(tmp_path / "killed")], env=env, cwd=REPO)
    cells_file, deadline = None, time.monotonic() + 300
    while cells_file is None and time.monotonic() < deadline:
        found = list((tmp_path / "killed").glob("tiny/*/cells.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 2:
            cells_file = found[0]
        time.sleep(0.05)
    assert cells_file is not None, "the run never wrote two cells"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(cells_file.read_text().splitlines())
    assert 2 <= partial < 8, "the kill must land mid-run"
    subprocess.run([*base, *processes, "--resume", str(cells_file.parent)], env=env, cwd=REPO, check=True)
    _assert_same(cells_file.parent, tiny_local)


@needs_ray
@pytest.mark.slow
def test_ray_from_the_command_line_starts_and_stops_its_own_cluster(
    tiny: Path, tiny_local: Path, tmp_path: Path
) -> None:
    """The user's path: the command starts a local Ray cluster for the run and shuts it down; same numbers."""
    env = {**os.environ, "RDIBENCH_DATA": "data", "RDIBENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "rdibench.cli.main", "run", str(tiny), "--quiet", "--no-cache"]
    ray = ["--executor", "ray", "--workers", "2", "--threads", "1", "--out", str(tmp_path / "ray")]
    done = subprocess.run([*command, *ray], env=env, cwd=REPO, check=True, capture_output=True, text=True)
    _assert_same(Path(done.stdout.strip().splitlines()[-1]), tiny_local)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray session for this module's Ray runs (2 CPUs: 2 workers x 1 thread): each executor uses it
    and leaves it running, as it would a notebook's, so the process starts and stops Ray once."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_ray_retries_a_worker_killed_mid_cell(tiny_ckpt: Path, roots: DataRoots, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=96, steps=20)  # cells of seconds: the kill lands mid-cell
    reference = _run(suite, roots, tmp_path / "local", ExecutorConfig("local"))
    killer = KillMidCell(TARGET)
    run_dir = _run(suite, roots, tmp_path / "ray", ExecutorConfig("ray", workers=2, threads=1), killer)
    assert killer.killed is not None
    _assert_same(run_dir, reference)
    retried = next(c for c in RunDir.open(run_dir).cells() if c["key"] == TARGET)
    assert retried["worker"] != killer.killed
    # retries run out on a producer: it is recorded failed, max-average then computes its own candidates
    killer = KillMidCell(PRODUCER)
    run_dir = _run(suite, roots, tmp_path / "ray0", ExecutorConfig("ray", workers=2, threads=1, max_retries=0), killer)
    _, numbers = _numbers(run_dir)
    _, expected = _numbers(reference)
    assert numbers[PRODUCER]["status"] == "failed"
    _assert_same_cells(numbers, expected, besides=PRODUCER)


@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_ci_suite_is_identical_under_every_executor(roots: DataRoots, tmp_path: Path) -> None:
    import ray

    local = _run(CI_SUITE, roots, tmp_path / "local", ExecutorConfig("local"))
    for executor in (ExecutorConfig("processes", workers=2, threads=1), ExecutorConfig("ray", workers=2, threads=1)):
        _assert_same(_run(CI_SUITE, roots, tmp_path / executor.kind, executor), local)
    assert ray.is_initialized(), "a session the executor did not start is left running"
