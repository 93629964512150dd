"""A suite that routes by max-softmax: thresholds fitted for it, every routed number made with it, the rule in
the manifest and in every cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.cli.main import main
from rdibench.results import RunDir

SUITE = """\
name: rule
seed: 3
data: {{dataset: mnist, n: 48}}
batch_size: 48
thresholds: {{protocol: authors, rule: {rule}}}
models:
  - {{name: rdi, checkpoint: {ckpt}}}
attacks:
  - {{name: clean}}
  - {{name: routing, algorithm: pgd, objective: routing, params: {{eps: 0.3, steps: 2, step_size: 0.1}}}}
  - {{name: slowdown, algorithm: pgd, objective: slowdown, params: {{eps: 0.3, steps: 2, step_size: 0.1}}}}
"""


def _run(tmp_path: Path, ckpt: Path, rule: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    suite = tmp_path / f"{rule}.yaml"
    suite.write_text(SUITE.format(rule=rule, ckpt=ckpt))
    code = main(["run", str(suite), "--out", str(tmp_path / "r"), "--data-dir", "data", "--quiet"])
    captured = capsys.readouterr()
    return code, (captured.out.strip().splitlines() or [""])[-1] if code == 0 else captured.err


def test_a_max_softmax_suite_fits_routes_and_records_its_rule(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RDIBENCH_CACHE", str(tmp_path / "cache"))
    code, run_dir = _run(tmp_path, tiny_ckpt, "max_softmax", capsys)
    assert code == 0
    run = RunDir.open(run_dir)
    model = run.manifest["models"]["rdi"]
    assert model["exit_rule"] == model["threshold_record"]["rule"] == "max_softmax"
    assert model["card"]["exit_rule"] == "entropy"  # the card's own thresholds are entropy ones, left unused
    assert all(0.1 <= t <= 1 for t in model["thresholds"])
    cells = {c["attack"]: c for c in run.cells()}
    assert {c["exit_rule"] for c in cells.values()} == {"max_softmax"} and all(
        c["status"] == "ok" for c in cells.values()
    )
    # fitted on these very clean images (authors' protocol) and routed by the same rule: equal thirds
    assert cells["clean"]["metrics"]["exit_fractions_clean"] == pytest.approx([1 / 3] * 3)


def test_an_unknown_rule_fails_validation_naming_the_allowed_ones(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(tmp_path, tiny_ckpt, "softmax", capsys)
    assert code == 2
    assert "thresholds.rule: unknown exit rule 'softmax'" in err and "Allowed: entropy, max_softmax" in err
