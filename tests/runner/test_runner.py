"""The runner: complete result directories, SIGKILL + --resume equal to an uninterrupted run, the cell cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rdibench.cli.main import main
from rdibench.core.errors import ResultsError
from rdibench.models.catalogue import PUBLISHED
from rdibench.report import report_markdown
from rdibench.results import RunDir
from tests.runner.conftest import write_suite
from tests.training.conftest import TINY

FILES = ["manifest.json", "cells.jsonl", "metrics.csv", "table.md", "table.tex", "leaderboard.json", "report.html"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RDIBENCH_DATA": "data", "RDIBENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))


def _run_cli(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*args, "--data-dir", "data", "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_writes_a_complete_result_directory(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, probes=True)
    code, out, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "results")], tmp_path, capsys)
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1])  # the run directory is the last line of output
    assert run_dir.parent == tmp_path / "results" / "tiny"
    for name in FILES:
        assert (run_dir / name).is_file(), name
    plots = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert plots == ["exit_fractions_rdi.png", "security_curve_rdi.png", "tradeoff.png"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("git", "versions", "config_hash", "data", "models", "seeds", "started_at", "finished_at"):
        assert manifest[key] is not None, key
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert len(metrics) == 1 + 3 + 4  # clean, single on 3 exits, average, max-average, routing, fgsm
    cells = RunDir.open(run_dir).cells()
    assert all(c["status"] == "ok" and c["sanity"]["in_eps_ball"] for c in cells if c["attack"] != "clean")
    probed = [c["attack"] for c in cells if "unbounded_breaks_all" in c["sanity"]]
    assert probed == ["pgd-single-e0"] == [c["attack"] for c in cells if "security_curve" in c]  # on by default


def test_sigkill_then_resume_equals_an_uninterrupted_run(tiny_ckpt: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=96, steps=6)
    env = _env(tmp_path)
    base = [sys.executable, "-m", "rdibench.cli.main", "run", str(suite), "--quiet", "--no-cache"]
    proc = subprocess.Popen([*base, "--out", str(tmp_path / "killed")], env=env, stdout=subprocess.PIPE)
    cells_file = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list((tmp_path / "killed").glob("tiny/*/cells.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            cells_file = found[0]
            break
        time.sleep(0.05)
    assert cells_file is not None, "the run never wrote three cells"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_dir = cells_file.parent
    partial = len(cells_file.read_text().splitlines())
    assert 3 <= partial < 8, "the kill must land mid-run"
    subprocess.run([*base, "--resume", str(killed_dir)], env=env, check=True, capture_output=True)
    subprocess.run([*base, "--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)
    whole_dir = next((tmp_path / "whole").glob("tiny/*"))
    resumed = pd.read_csv(killed_dir / "metrics.csv").drop(columns="wall_s")
    uninterrupted = pd.read_csv(whole_dir / "metrics.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    keys = [json.loads(line)["key"] for line in cells_file.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 8  # no cell lost, none duplicated


def test_identical_cells_come_from_the_cache(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=32, steps=2)
    _, first, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r")], tmp_path, capsys)
    _, second, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r")], tmp_path, capsys)
    a, b = RunDir.open(first.splitlines()[-1]).cells(), RunDir.open(second.splitlines()[-1]).cells()
    assert a[0]["key"] == b[0]["key"] and all(c.get("cached") for c in b)
    assert [c["metrics"] for c in a] == [c["metrics"] for c in b]
    assert first.splitlines()[-1] != second.splitlines()[-1]  # a new directory, never overwritten


def test_an_only_run_lists_its_pending_cells_until_resume_finishes_it(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=16, steps=1)
    _, out, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--only", "*clean*,*fgsm"], tmp_path, capsys)
    run_dir = out.splitlines()[-1]
    manifest = RunDir.open(run_dir).manifest
    assert manifest["cells"]["pending"] == len(manifest["pending_cells"]) > 0
    assert "rdi|pgd-avg" in manifest["pending_cells"] and "rdi|clean" not in manifest["pending_cells"]
    assert f"Partial run: {manifest['cells']['pending']} of the suite's cells pending" in report_markdown(run_dir)
    assert _run_cli(["run", str(suite), "--resume", run_dir], tmp_path, capsys)[0] == 0
    manifest = RunDir.open(run_dir).manifest
    assert manifest["pending_cells"] == [] and manifest["cells"]["pending"] == 0
    assert "Partial run" not in report_markdown(run_dir)


def _mixed_suite(tmp_path: Path, ckpt: Path, more_models: str = "") -> Path:
    """A suite of a checkpoint and the TINY recipe (and ``more_models``, YAML list items)."""
    recipe = tmp_path / "tiny-recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY, sort_keys=False))
    suite = tmp_path / "mixed.yaml"
    suite.write_text(
        "name: mixed\nseed: 7\ndata: {dataset: mnist, n: 16}\nbatch_size: 16\nsanity: {probe_first_attack: false}\n"
        f"models:\n  - {{name: rdi, checkpoint: {ckpt}}}\n  - {{name: trained, recipe: {recipe.name}}}\n{more_models}"
        "attacks:\n  - {name: clean}\n  - {name: fgsm, algorithm: fgsm, objective: average, params: {eps: 0.3}}\n"
    )
    return suite


def test_validate_says_where_each_model_comes_from_and_what_a_run_would_train(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before a run: the checkpoint, the published model's download and the recipe NOT TRAINED; after it, the
    recipe's trained model in the cache. Nothing is downloaded or trained by validate itself."""
    suite = _mixed_suite(tmp_path, tiny_ckpt, "  - {name: trades, published: trades-smallcnn-mnist}\n")
    nowhere = str(tmp_path / "no-models")
    store = tmp_path / "cache" / "checkpoints"
    assert main(["validate", str(suite), "--data-dir", "data", "--models-dir", nowhere]) == 0
    out = capsys.readouterr().out
    entry = PUBLISHED.get("trades-smallcnn-mnist")
    lines = out.splitlines()
    assert lines[1:] == [
        f"  rdi      checkpoint {tiny_ckpt.resolve()}",
        "  trained  recipe tiny: NOT TRAINED: trains 8 iterations of batch 16 first",
        f"  trades   published trades-smallcnn-mnist: downloaded on first use from {entry.url} (sha256 "
        f"{entry.sha256}), then imported into the cache",
        "1 model(s) NOT TRAINED: `rdibench run` trains each before any cell runs (`rdibench train RECIPE` trains "
        "one alone; `--only` leaves a model out)",
    ]
    assert not store.exists() and not (tmp_path / "cache" / "models").exists()
    suite = _mixed_suite(tmp_path, tiny_ckpt)  # without the published model: this machine may have no internet
    _run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--only", "trained|clean"], tmp_path, capsys)
    (trained,) = store.iterdir()
    assert main(["validate", str(suite), "--data-dir", "data", "--models-dir", nowhere]) == 0
    out = capsys.readouterr().out
    assert f"  trained  recipe tiny: trained, {trained}" in out.splitlines() and "NOT TRAINED" not in out


def test_an_only_run_does_not_train_the_recipe_models_it_leaves_out(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recipe model no --only pattern can select is neither trained nor loaded: its cells stay pending, and
    the --resume that selects it trains it and adds its card to the manifest."""
    suite = _mixed_suite(tmp_path, tiny_ckpt)
    store = tmp_path / "cache" / "checkpoints"
    _, out, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--only", "rdi|*"], tmp_path, capsys)
    run_dir = out.splitlines()[-1]
    manifest = RunDir.open(run_dir).manifest
    assert not store.exists() or not any(store.iterdir())  # nothing was trained
    assert set(manifest["models"]) == {"rdi"} and manifest["pending_cells"] == ["trained|clean", "trained|fgsm"]
    code, _, err = _run_cli(["run", str(suite), "--resume", run_dir], tmp_path, capsys)
    assert code == 0, err
    manifest = RunDir.open(run_dir).manifest
    assert set(manifest["models"]) == set(manifest["seeds"]) == set(manifest["data"]) == {"rdi", "trained"}
    assert manifest["models"]["trained"]["card"]["training"]["recipe"]["name"] == "tiny"
    assert manifest["pending_cells"] == [] and len(RunDir.open(run_dir).cells()) == 4
    assert [d.name.split("-")[0] for d in store.iterdir()] == ["tiny"]


def test_resume_refuses_a_changed_suite(tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, tiny_ckpt, n=16, steps=1)
    _, out, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--only", "*clean*"], tmp_path, capsys)
    changed = write_suite(tmp_path, tiny_ckpt, n=16, steps=2)
    code, _, err = _run_cli(["run", str(changed), "--resume", out.splitlines()[-1]], tmp_path, capsys)
    assert code == ResultsError.exit_code
    assert "different version of this suite" in err


def test_resume_takes_a_suite_that_only_gained_models(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model added to a suite is finished by --resume: the earlier cells are kept as recorded (none is
    computed again, cache off), the new model's are added, and the manifest says what the run grew from."""
    suite = write_suite(tmp_path, tiny_ckpt, n=16, steps=1)
    _, out, _ = _run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--no-cache"], tmp_path, capsys)
    run_dir = out.splitlines()[-1]
    before = RunDir.open(run_dir).cells()
    first_hash = RunDir.open(run_dir).manifest["config_hash"]
    text = suite.read_text()
    grown = text.replace("attacks:", f"  - {{name: rdi.again, checkpoint: {tiny_ckpt}}}\nattacks:").replace(
        "seed: 7", "description: now with a second model\nseed: 7"
    )
    assert grown != text
    suite.write_text(grown)
    code, _, err = _run_cli(["run", str(suite), "--resume", run_dir, "--no-cache"], tmp_path, capsys)
    assert code == 0, err
    run = RunDir.open(run_dir)
    after, manifest = run.cells(), run.manifest
    assert after[: len(before)] == before and len(after) == 2 * len(before)
    assert {c["model"] for c in after[len(before) :]} == {"rdi.again"}
    assert manifest["grown"] == [{"from_config_hash": first_hash, "added_models": ["rdi.again"]}]
    assert manifest["config_hash"] != first_hash and manifest["pending_cells"] == []
    assert [m["name"] for m in manifest["suite"]["models"]] == ["rdi", "rdi.again"]
    # a model dropped, or an earlier one changed while another is added: a different suite
    for changed in (text.replace("rdi, checkpoint", "rdi.renamed, checkpoint"), grown.replace("n: 16", "n: 12")):
        suite.write_text(changed)
        code, _, err = _run_cli(["run", str(suite), "--resume", run_dir], tmp_path, capsys)
        assert code == ResultsError.exit_code and "only gained models" in err, err
