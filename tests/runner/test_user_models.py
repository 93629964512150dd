"""A model the project has never seen, written into a temporary folder: benchmarked from a suite (``factory:``)
and from Python (``rdibench.evaluate``), both checked against a computation by hand with plain torch."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import rdibench
from rdibench.cli.main import main
from rdibench.core.errors import DeviceError
from rdibench.data import DataRoots, DataSpec, load
from rdibench.evaluation import load_suite

N = 64
WIDTH = 6
PGD = {"eps": 0.3, "steps": 3, "step_size": 0.1}

# A user's early-exit network: its own attribute names, a tuple of logits, nothing of rdibench's.
MODULE = """\
import torch
from torch import nn


class TwoStage(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        ])
        self.classifiers = nn.ModuleList([
            nn.Sequential(nn.Flatten(), nn.Linear(width * 14 * 14, 10)),
            nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 7 * 7, 10)),
        ])

    def forward(self, x):
        outs = []
        for block, classifier in zip(self.blocks, self.classifiers):
            x = block(x)
            outs.append(classifier(x))
        return tuple(outs)


def build(width: int = 4):
    return TwoStage(width)
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))


def write_user_model(folder: Path, *, text: str = MODULE) -> tuple[str, Path]:
    """The module (a fresh name: Python caches modules by name) and seeded weights for it, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"user_net_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(text)
    module = _import_file(folder / f"{name}.py")
    torch.manual_seed(0)
    weights = folder / "weights.safetensors"
    save_file(module.build(WIDTH).state_dict(), str(weights))
    return name, weights


def _import_file(path: Path) -> ModuleType:
    """The module loaded under a private name, as a user would, without rdibench."""
    spec = importlib.util.spec_from_file_location(f"independent_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_suite(folder: Path, module: str, *, thresholds: str, extra: str = "", model_extra: str = "") -> Path:
    path = folder / "suite.yaml"
    path.write_text(
        f"""\
name: user
seed: 3
data: {{dataset: mnist, n: {N}}}
thresholds: {thresholds}
models:
  - {{name: mine, factory: "{module}:build", kwargs: {{width: {WIDTH}}}, weights: weights.safetensors{model_extra}}}
attacks:
  - {{name: clean}}
  - {{name: pgd, algorithm: pgd, objective: max_average, params: {json.dumps(PGD)}}}
{extra}"""
    )
    return path


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(logits, dim=1)
    return -(p * torch.log(p + 1e-5)).sum(dim=1)


def _hand_macs(width: int) -> dict[str, list[float]]:
    """MACs of leaving at each exit, counted by hand: ``paper`` convs only (exit i: blocks up to i, no earlier
    classifier), ``full`` every layer (conv and linear with bias, ReLU, max-pool input) and every classifier passed."""
    conv1 = width * 28 * 28 * 9 + width * 28 * 28  # MACs + bias
    conv2 = 2 * width * 14 * 14 * width * 9 + 2 * width * 14 * 14
    block1 = conv1 + width * 28 * 28 * 2  # ReLU + max-pool over the 28x28 map
    block2 = conv2 + 2 * width * 14 * 14 * 2
    head1 = width * 14 * 14 * 10 + 10
    head2 = 2 * width * 7 * 7 * 10 + 10
    paper = [width * 28 * 28 * 9 / 2**20, (width * 28 * 28 * 9 + 2 * width * 14 * 14 * width * 9) / 2**20]
    full = [(block1 + head1) / 1e6, (block1 + block2 + head1 + head2) / 1e6]
    return {"paper": paper, "full": full}


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory: pytest.TempPathFactory, roots: DataRoots) -> dict[str, Any]:
    """One user model benchmarked through a suite (the CLI, ``factory:``) and through ``rdibench.evaluate``, and
    the numbers computed by hand: entropy routing with plain torch on an independently loaded copy."""
    tmp_path = tmp_path_factory.mktemp("both")
    module_name, weights = write_user_model(tmp_path / "mine")
    data = load(DataSpec(dataset="mnist", n=N), roots)
    independent = _import_file(tmp_path / "mine" / f"{module_name}.py").build(WIDTH).eval()
    independent.load_state_dict(load_file(str(weights)))
    with torch.no_grad():
        first, last = independent(data.x)
    h = _entropy(first).sort().values
    threshold = float((h[N // 3] + h[N // 3 + 1]) / 2)  # a third leave early, no entropy on the boundary
    leave = _entropy(first) < threshold
    pred = torch.where(leave, first.argmax(1), last.argmax(1))
    fractions = [float(leave.double().mean()), float((~leave).double().mean())]
    macs = _hand_macs(WIDTH)
    hand = {
        "ta": float((pred == data.y).double().mean()),
        "fractions": fractions,
        **{f"mflops_{k}": sum(f * c for f, c in zip(fractions, v, strict=True)) for k, v in macs.items()},
    }

    thresholds = {"protocol": "fixed", "values": [threshold]}
    suite = write_suite(tmp_path / "mine", module_name, thresholds=json.dumps(thresholds))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--device", "cpu", "--quiet", "--data-dir", "data"]) == 0
    (run_dir,) = (out / "user").iterdir()

    model = _import_file(tmp_path / "mine" / f"{module_name}.py").build(WIDTH)
    model.load_state_dict(load_file(str(weights)))
    model.train()
    from_python = rdibench.evaluate(
        model,
        name="mine",
        data={"dataset": "mnist", "n": N},
        attacks=[{"name": "clean"}, {"name": "pgd", "algorithm": "pgd", "objective": "max_average", "params": PGD}],
        thresholds=thresholds,
        seed=3,
        device="cpu",
        data_dir="data",
    )
    return {
        "suite": pd.read_csv(run_dir / "metrics.csv"),
        "python": from_python,
        "manifest": json.loads((run_dir / "manifest.json").read_text()),
        "hand": hand,
        "module": module_name,
        "still_training": model.training,
    }


def test_suite_and_python_give_the_hand_computed_accuracy_and_exits(both_ways: dict[str, Any]) -> None:
    hand = both_ways["hand"]
    for route in ("suite", "python"):
        clean = both_ways[route].set_index("attack").loc["clean"]
        assert clean["ta"] == hand["ta"], route
        assert [clean["exit_frac_0"], clean["exit_frac_1"]] == hand["fractions"], route
        pgd = both_ways[route].set_index("attack").loc["pgd"]
        assert pgd["ata"] <= pgd["ta"], route
    assert list(both_ways["python"].columns) == list(both_ways["suite"].columns)
    numbers = ["ta", "ata", "exit_frac_0", "exit_frac_1", "mflops_paper", "mflops_full", "seed"]
    pd.testing.assert_frame_equal(both_ways["suite"][numbers], both_ways["python"][numbers])
    assert both_ways["still_training"], "evaluate gives the module back in the mode it came in"
    manifest = both_ways["manifest"]
    assert manifest["device"] == "cpu"
    card = manifest["models"]["mine"]["card"]
    assert card["arch"] == f"factory:{both_ways['module']}:build"
    assert card["num_exits"] == 2 and card["arch_kwargs"] == {"width": WIDTH} and card["code_sha256"]


def test_suite_and_python_cost_a_user_model_as_a_hand_count(both_ways: dict[str, Any]) -> None:
    """Needs per-exit costs measured from any model's forward (not from rdibench's own module names)."""
    hand = both_ways["hand"]
    for route in ("suite", "python"):
        clean = both_ways[route].set_index("attack").loc["clean"]
        assert clean["mflops_paper"] == pytest.approx(hand["mflops_paper"], rel=0.10), route
        assert clean["mflops_full"] == pytest.approx(hand["mflops_full"], rel=0.10), route


def test_evaluate_writes_a_result_directory_when_asked(tmp_path: Path, roots: DataRoots) -> None:
    module_name, weights = write_user_model(tmp_path / "m")
    model = _import_file(tmp_path / "m" / f"{module_name}.py").build(WIDTH)
    model.load_state_dict(load_file(str(weights)))
    frame = rdibench.evaluate(
        model,
        data={"dataset": "mnist", "n": 32},
        attacks={"name": "fgsm", "algorithm": "fgsm", "objective": "average", "params": {"eps": 0.3}},
        thresholds={"protocol": "authors"},
        device="cpu",
        out=tmp_path / "results",
        data_dir="data",
    )
    (run_dir,) = (tmp_path / "results" / "evaluate").iterdir()
    written = pd.read_csv(run_dir / "metrics.csv")
    assert list(written["attack"]) == list(frame["attack"]) == ["fgsm"]
    assert written["ata"].tolist() == frame["ata"].tolist()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["suite"]["models"][0]["given"].endswith("TwoStage")
    assert manifest["models"]["TwoStage"]["threshold_record"]["protocol"] == "authors"


def test_config_hash_covers_factory_kwargs_and_weights_content_not_where_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_name, _ = write_user_model(tmp_path / "a")
    suite = write_suite(tmp_path / "a", module_name, thresholds="{protocol: held-out}")
    first = load_suite(suite)[0].config_hash()
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere")
    monkeypatch.delitem(sys.modules, module_name)  # one module per name and process: the copy is imported anew
    assert load_suite(tmp_path / "elsewhere" / "suite.yaml")[0].config_hash() == first
    torch.manual_seed(1)
    other = _import_file(tmp_path / "a" / f"{module_name}.py").build(WIDTH)
    save_file(other.state_dict(), str(tmp_path / "elsewhere" / "weights.safetensors"))
    assert load_suite(tmp_path / "elsewhere" / "suite.yaml")[0].config_hash() != first
    suite.write_text(suite.read_text().replace(f"width: {WIDTH}", "width: 5"))
    monkeypatch.delitem(sys.modules, module_name)
    assert load_suite(suite)[0].config_hash() != first


BAD_FACTORIES = {
    "does not import": ("import no_such_package_xyz\n" + MODULE, "cannot import module", "ModuleNotFoundError"),
    "not callable": (
        MODULE.replace("def build(width: int = 4):\n    return TwoStage(width)", "build = 3"),
        "not callable",
        "int",
    ),
    "raises": (
        MODULE.replace("return TwoStage(width)", "raise ValueError('no such width')"),
        "raised ValueError",
        "no such width",
    ),
    "not a module": (
        MODULE.replace("return TwoStage(width)", "return [width]"),
        "returned a list",
        "not a torch.nn.Module",
    ),
    "wrong logits": (MODULE.replace("return tuple(outs)", "return outs[0].flatten()"), "wrong shape", "[20]"),
    "classes differ": (
        MODULE.replace("return tuple(outs)", "return outs[0][:, :7], outs[1]"),
        "exit 0: 7, exit 1: 10 classes",
        "every exit must give 10 classes (the dataset's)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FACTORIES))
def test_a_bad_factory_exits_2_naming_suite_key_file_and_what_went_wrong(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, *expected = BAD_FACTORIES[case]
    folder = tmp_path / "bad"
    module_name, _ = write_user_model(folder)  # valid weights for the valid model
    (folder / f"{module_name}.py").write_text(text)
    suite = write_suite(folder, module_name, thresholds="{protocol: authors}")
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet", "--data-dir", "data"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert str(suite) in err and "models." in err and "factory" in err, err
    assert f"{module_name}.py" in err or (case == "does not import" and module_name in err), err
    for part in expected:
        assert part in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("misfit", "does not fit TwoStage: 6 shape mismatches (first: blocks.0.0.weight: file (7, 1, 3, 3)"),
        ("pickle", "a pickle (.pt, .pth, .bin) is refused"),
        ("card", "set thresholds.protocol (the suite's or this model's) to held-out, authors or fixed"),
        ("given", "a model given in memory exists only in rdibench.evaluate"),
    ],
)
def test_bad_weights_and_settings_exit_2_with_one_line(
    change: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module_name, weights = write_user_model(tmp_path)
    thresholds = "{protocol: authors}"
    if change == "misfit":
        torch.manual_seed(0)
        save_file(_import_file(tmp_path / f"{module_name}.py").build(WIDTH + 1).state_dict(), str(weights))
    elif change == "pickle":
        torch.save(load_file(str(weights)), tmp_path / "weights.pt")
    elif change == "card":
        thresholds = "{protocol: card}"
    suite = write_suite(tmp_path, module_name, thresholds=thresholds)
    if change == "pickle":
        suite.write_text(suite.read_text().replace("weights.safetensors", "weights.pt"))
    if change == "given":
        factory = f'factory: "{module_name}:build", kwargs: {{width: {WIDTH}}}, weights: weights.safetensors'
        suite.write_text(suite.read_text().replace(factory, "given: x.Y"))
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet", "--data-dir", "data"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert expected in err and str(suite) in err, err
    assert not (tmp_path / "out").exists()


def test_device_cuda_without_cuda_exits_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the error is for machines without it")
    module_name, _ = write_user_model(tmp_path)
    suite = write_suite(tmp_path, module_name, thresholds="{protocol: authors}")
    for argv, expected in (
        (["run", str(suite), "--device", "cuda", "--out", str(tmp_path / "out")], "CUDA is not available"),
        (
            ["run", str(suite), "--device", "gpu", "--out", str(tmp_path / "out")],
            "not one of auto, cpu, cuda or cuda:N",
        ),
        (["eval", "baselines/models/mnist-smallcnn-pgdat-31cd44483520", "--device", "cuda:1"], "CUDA is not available"),
    ):
        assert main([*argv, "--quiet"] if argv[0] == "run" else argv) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(DeviceError, match="CUDA is not available"):
        rdibench.evaluate(nn.Linear(1, 1), data={}, attacks=[], thresholds={"protocol": "authors"}, device="cuda")


@pytest.mark.slow
def test_worker_processes_import_the_suites_module_and_give_the_same_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module_name, _ = write_user_model(tmp_path / "mine")
    suite = write_suite(tmp_path / "mine", module_name, thresholds="{protocol: authors}")
    frames = []
    for executor in (["--executor", "local"], ["--executor", "processes", "--workers", "2", "--threads", "1"]):
        out = tmp_path / executor[1]
        assert (
            main(["run", str(suite), "--out", str(out), "--quiet", "--no-cache", "--data-dir", "data", *executor]) == 0
        )
        (run_dir,) = (out / "user").iterdir()
        frames.append(pd.read_csv(run_dir / "metrics.csv"))
        assert json.loads((run_dir / "manifest.json").read_text())["device"] == "cpu"
    numbers = ["ta", "ata", "exit_frac_0", "exit_frac_1", "seed"]
    pd.testing.assert_frame_equal(frames[0][numbers], frames[1][numbers])
