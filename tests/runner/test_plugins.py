"""An installed package adds a model and an attack through entry points, without touching rdibench.

The package is a fake distribution: a ``*.dist-info`` folder with ``entry_points.txt`` and a module, put on
``sys.path`` as pip would install them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from rdibench.attacks import list_attacks, make_attack
from rdibench.attacks.algorithms import ALGORITHMS
from rdibench.cli.main import main
from rdibench.core.errors import ConfigError
from rdibench.models import AdaptedModel, ModelCard, create_model, list_models, load_checkpoint
from rdibench.models.registry import MODELS

PLUGIN = """\
import torch
from pydantic import Field
from torch import nn

from rdibench.attacks import Attack, AttackParams


class Net(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU())
        self.early = nn.Linear(hidden, 10)
        self.rest = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.late = nn.Linear(hidden, 10)

    def forward(self, x):
        h = self.stem(x)
        return [self.early(h), self.late(self.rest(h))]


def build(hidden: int = 16):
    return Net(hidden)


class SignNoiseParams(AttackParams):
    eps: float = Field(gt=0, le=1)


class SignNoise(Attack):
    \"\"\"Not an attack worth the name: a random corner of the eps-ball (a plugin's own algorithm).\"\"\"

    name = "sign_noise"
    Params = SignNoiseParams

    def perturb(self, model, x, y, objective, generator):
        sign = torch.randint(0, 2, x.shape, generator=generator, device=generator.device).to(x) * 2 - 1
        return (x + self.params.eps * sign).clamp(0, 1)
"""

ENTRY_POINTS = """\
[rdibench.models]
plugin_net = rdibench_fake_plugin:build
broken_net = rdibench_fake_plugin:no_such_thing

[rdibench.attacks]
sign_noise = rdibench_fake_plugin:SignNoise
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake package installed on sys.path; the registries list their groups afresh and forget it after."""
    list_models()  # the zoo registers first, as it does before any lookup, and before the plugin is installed
    site = tmp_path / "site"
    dist = site / "rdibench_fake_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rdibench-fake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "rdibench_fake_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    for registry in (MODELS, ALGORITHMS):
        monkeypatch.setattr(registry, "_plugins", None)
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    monkeypatch.delitem(sys.modules, "rdibench_fake_plugin", raising=False)
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_plugins_are_listed_without_loading_and_built_by_name(plugin: Path) -> None:
    assert {"plugin_net", "broken_net"} <= set(list_models()) and "sign_noise" in list_attacks()
    assert "rdibench_fake_plugin" not in sys.modules, "listing must not import a plugin"
    model = create_model("plugin_net", hidden=8)
    assert type(model).__module__ == "rdibench_fake_plugin" and model.early.in_features == 8
    assert make_attack("sign_noise", {"eps": 0.1}).params.eps == 0.1


def test_a_broken_plugin_fails_only_its_own_name(plugin: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"model 'broken_net' from entry point rdibench.models: "
        r"rdibench_fake_plugin:no_such_thing \(package rdibench-fake-plugin\) failed to load",
    ):
        create_model("broken_net")
    assert create_model("plugin_net") is not None
    with pytest.raises(ConfigError, match=r"unknown model 'plugin_nett'\. Did you mean 'plugin_net'"):
        create_model("plugin_nett")


def test_a_suite_runs_a_plugin_model_under_a_plugin_attack(plugin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = plugin / "suite.yaml"
    suite.write_text(
        """\
name: plugins
data: {dataset: mnist, n: 32}
thresholds: {protocol: authors}
models:
  - {name: theirs, factory: plugin_net, kwargs: {hidden: 12}}
attacks:
  - {name: clean}
  # random noise: the default probes would rightly fail it
  - {name: noise, algorithm: sign_noise, objective: average, params: {eps: 0.3}, probe: false}
"""
    )
    assert main(["run", str(suite), "--out", str(plugin / "out"), "--quiet", "--data-dir", "data"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index("attack")
    assert list(metrics.index) == ["clean", "noise"] and (metrics["status"] == "ok").all()
    assert metrics.loc["clean", "exit_frac_0"] + metrics.loc["clean", "exit_frac_1"] == pytest.approx(1.0)


def test_a_checkpoint_of_a_plugin_architecture_loads_through_the_adapter(plugin: Path) -> None:
    net = create_model("plugin_net", hidden=8).eval()
    ckpt_dir = plugin / "ckpt"
    ckpt_dir.mkdir()
    save_file(net.state_dict(), str(ckpt_dir / "model.safetensors"))
    card = ModelCard(name="p", arch="plugin_net", arch_kwargs={"hidden": 8}, dataset="mnist", num_exits=2, source="t")
    (ckpt_dir / "card.json").write_text(card.model_dump_json())
    ckpt = load_checkpoint(ckpt_dir)
    assert isinstance(ckpt.model, AdaptedModel) and ckpt.model.num_exits == 2
    x = torch.rand(3, 1, 28, 28)
    assert all(torch.equal(a, b) for a, b in zip(ckpt.model(x), net(x), strict=True))
