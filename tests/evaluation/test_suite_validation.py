"""Suite files are validated up front; every mistake names the file, the key path, the line and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.core.errors import ConfigError
from rdibench.core.hashing import sha256_json
from rdibench.evaluation import AttackSpec, expand, load_suite
from rdibench.models.catalogue import PUBLISHED

GOOD = """\
name: t
data: {dataset: mnist, n: 20}
models:
  - name: m
    checkpoint: ckpt
attacks:
  - name: clean
  - name: pgd
    algorithm: pgd
    objective: single
    exit: all
    params: {eps: 8/255, steps: 2, step_size: 0.1}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ckpt").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_a_good_suite_resolves_paths_and_fractions(tmp_path: Path) -> None:
    suite, source = load_suite(_write(tmp_path, GOOD))
    assert suite.models[0].checkpoint == tmp_path / "ckpt"
    assert suite.attacks[1].params["eps"] == pytest.approx(8 / 255)
    assert len(source["sha256"]) == 64
    cells = expand(suite, {"m": 3})
    assert [c.attack_name for c in cells] == ["clean", "pgd-e0", "pgd-e1", "pgd-e2"]


def test_config_hash_and_manifest_suite_do_not_depend_on_the_checkout_folder(tmp_path: Path) -> None:
    """The same suite in two folders: one hash, and the recorded suite names paths as the file writes them."""
    first, _ = load_suite(_write(tmp_path / "a", GOOD))
    second, _ = load_suite(_write(tmp_path / "elsewhere" / "b", GOOD))
    assert first.models[0].checkpoint != second.models[0].checkpoint  # resolved for use ...
    assert first.config_hash() == second.config_hash()  # ... but not for identity
    assert first.as_written()["models"][0]["checkpoint"] == "ckpt"
    changed, _ = load_suite(_write(tmp_path / "c", GOOD.replace("n: 20", "n: 21")))
    assert changed.config_hash() != first.config_hash()


def test_a_one_exit_model_has_no_slowdown_cell(tmp_path: Path) -> None:
    text = (
        GOOD + "  - {name: slow, algorithm: pgd, objective: slowdown, params: {eps: 0.3, steps: 2, step_size: 0.1}}\n"
    )
    suite, _ = load_suite(_write(tmp_path, text))
    assert [c.attack_name for c in expand(suite, {"m": 1})] == ["clean", "pgd-e0"]
    assert [c.attack_name for c in expand(suite, {"m": 2})] == ["clean", "pgd-e0", "pgd-e1", "slow"]


def test_a_published_model_is_hashed_by_its_name_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD.replace("checkpoint: ckpt", "published: trades-smallcnn-mnist"))
    suite, _ = load_suite(path)
    assert suite.models[0].published == "trades-smallcnn-mnist" and suite.models[0].checkpoint is None
    before = suite.config_hash()
    entry = PUBLISHED.get("trades-smallcnn-mnist")
    monkeypatch.setitem(PUBLISHED._items, entry.name, entry.model_copy(update={"sha256": "0" * 64}))
    assert suite.config_hash() != before, "another file under the same name is another suite"


SLOW = "  - {name: slow, algorithm: pgd, objective: slowdown, params: {eps: 0.3, steps: 2, step_size: 0.1}}\n"
PROBED = GOOD.replace("  - name: pgd\n", SLOW + "  - name: pgd\n")
AVERAGE = "  - {name: avg, algorithm: pgd, objective: average, params: {eps: 0.3, steps: 2, step_size: 0.1}%s}\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (AVERAGE % "", ["pgd-e0"]),  # the first cell that is neither clean nor slowdown
        (AVERAGE % ", probe: true", ["pgd-e0", "avg"]),  # an attack may ask for probes besides
        (AVERAGE % ", probe: true" + "sanity: {probe_first_attack: false}\n", ["avg"]),  # the suite's switch
    ],
)
def test_probes_run_by_default_on_each_models_first_attack(tmp_path: Path, extra: str, expected: list[str]) -> None:
    suite, _ = load_suite(_write(tmp_path, PROBED + extra))
    cells = expand(suite, {"m": 3})
    assert [c.attack_name for c in cells if c.attack.probe] == expected
    assert all(c.attack.probe is not None for c in cells)


FGSM = "  - {name: fgsm, algorithm: fgsm, objective: average, params: {eps: 0.3}}\n"


def test_the_default_probes_prefer_an_iterative_attack_to_one_step(tmp_path: Path) -> None:
    """FGSM before PGD: PGD is probed (one step at eps=1 need not break everything); FGSM alone is probed."""
    first = GOOD.replace("  - name: pgd\n", FGSM + "  - name: pgd\n")
    suite, _ = load_suite(_write(tmp_path, first))
    assert [c.attack_name for c in expand(suite, {"m": 1}) if c.attack.probe] == ["pgd-e0"]
    alone = GOOD[: GOOD.index("  - name: pgd\n")] + FGSM
    suite, _ = load_suite(_write(tmp_path, alone))
    assert [c.attack_name for c in expand(suite, {"m": 1}) if c.attack.probe] == ["fgsm"]


def test_an_attack_may_turn_the_default_probes_off(tmp_path: Path) -> None:
    suite, _ = load_suite(_write(tmp_path, GOOD.replace("    exit: all\n", "    exit: all\n    probe: false\n")))
    assert not any(c.attack.probe for c in expand(suite, {"m": 3}))


def test_objective_settings_change_the_signature_only_when_given() -> None:
    plain = AttackSpec(name="a", algorithm="pgd", objective="routing", params={"eps": 0.3})
    fields = {"algorithm": "pgd", "params": {"eps": 0.3}, "objective": "routing", "exit": None}
    assert plain.signature() == sha256_json(fields)[:16]  # as before objectives took settings: same seeds, cache
    dlr = plain.model_copy(update={"objective_params": {"loss": "dlr"}})
    assert dlr.signature() != plain.signature()


BAD = [
    (
        "unknown top-level key",
        GOOD.replace("name: t\n", "name: t\nsed: 3\n"),
        r"suite.yaml:2: sed: unknown key; did you mean 'seed'\?",
    ),
    ("typo in data key", GOOD.replace("n: 20", "nn: 20"), r":2: data.nn: unknown key; did you mean 'n'\?"),
    (
        "unknown dataset",
        GOOD.replace("dataset: mnist", "dataset: mnistt"),
        r"data.dataset: unknown dataset 'mnistt'\. Did you mean 'mnist'\? Allowed: cifar10, mnist",
    ),
    ("wrong type", GOOD.replace("n: 20", "n: twenty"), r":2: data.n: Input should be a valid integer"),
    ("negative n", GOOD.replace("n: 20", "n: -5"), r"data.n: Input should be greater than or equal to 1"),
    ("missing models", GOOD.split("models:")[0] + "attacks:\n  - name: clean\n", r"models: Field required"),
    (
        "unknown objective",
        GOOD.replace("objective: single", "objective: singel"),
        r":10: attacks.1.objective: .*unknown objective 'singel'. Did you mean 'single'\?",
    ),
    (
        "unknown algorithm",
        GOOD.replace("algorithm: pgd", "algorithm: pdg"),
        r"attacks.1 \(pgd\): unknown attack .*'pdg'.*Did you mean 'pgd'",
    ),
    (
        "negative eps",
        GOOD.replace("eps: 8/255", "eps: -0.1"),
        r"attacks.1 \(pgd\): attack 'pgd': eps: Input should be greater than 0",
    ),
    (
        "zero steps",
        GOOD.replace("steps: 2", "steps: 0"),
        r"attacks.1 \(pgd\): attack 'pgd': steps: Input should be greater than or equal to 1",
    ),
    (
        "unknown attack setting",
        GOOD.replace("steps: 2,", "stepz: 2, steps: 2,"),
        r"attack 'pgd': stepz: Extra inputs are not permitted.*Allowed settings: .*steps",
    ),
    (
        "missing checkpoint dir",
        GOOD.replace("checkpoint: ckpt", "checkpoint: nowhere"),
        r"models.m.checkpoint: .*nowhere does not exist",
    ),
    (
        "unknown published model",
        GOOD.replace("checkpoint: ckpt", "published: trades-smallcnn"),
        r"suite.yaml:5: models.0.published: unknown published model 'trades-smallcnn'. "
        r"Did you mean 'trades-smallcnn-mnist'\?",
    ),
    (
        "published model of another dataset",
        GOOD.replace("checkpoint: ckpt", "published: triple-wins-rdi-resnet38"),
        r"suite.yaml:5: models.0.published: triple-wins-rdi-resnet38 is a cifar10 model; model 'm' is evaluated on "
        r"mnist",
    ),
    (
        "published and a checkpoint",
        GOOD.replace("checkpoint: ckpt", "checkpoint: ckpt\n    published: trades-smallcnn-mnist"),
        r"models.0: Value error, model 'm' needs exactly one of checkpoint, published, import_path, recipe",
    ),
    (
        "two model sources",
        GOOD.replace("checkpoint: ckpt", "checkpoint: ckpt\n    recipe: r.yaml"),
        r"models.0: Value error, model 'm' needs exactly one of",
    ),
    (
        "duplicate attack names",
        GOOD.replace("  - name: pgd\n", "  - name: clean\n"),
        r"attack names must be unique; repeated: clean",
    ),
    (
        "exit without single",
        GOOD.replace("objective: single", "objective: average"),
        r"exit goes with objective single only",
    ),
    (
        "bad threshold protocol",
        GOOD + "thresholds: {protocol: heldout}\n",
        r":13: thresholds.protocol: .*did you mean 'held-out'\?",
    ),
    (
        "unknown objective setting",
        GOOD.replace("    exit: all\n", "    exit: all\n    objective_params: {tau: 0.1}\n"),
        r":8: attacks.1: Value error, objective 'single': unknown setting 'tau'; allowed: loss",
    ),
    (
        "library attack with a DLR objective",
        GOOD.replace("algorithm: pgd", "algorithm: torchattacks:PGD").replace(
            "params: {eps: 8/255, steps: 2, step_size: 0.1}", "params: {eps: 0.1}\n    objective_params: {loss: dlr}"
        ),
        r"attacks.1 \(pgd\): objective setting loss='dlr': library attacks maximise their own loss",
    ),
    (
        "library attack on the relaxed routing",
        GOOD.replace("algorithm: pgd", "algorithm: autoattack")
        .replace("objective: single", "objective: soft_routing")
        .replace("    exit: all\n", "")
        .replace("params: {eps: 8/255, steps: 2, step_size: 0.1}", "params: {eps: 0.1}"),
        r"attacks.1 \(pgd\): objective 'soft_routing' has no single-logit view",
    ),
    ("not yaml", "name: [unclosed\n", r"not valid YAML"),
    ("not a mapping", "- just\n- a list\n", r"expected a mapping of keys at the top level"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_suites_are_refused_with_a_precise_message(
    tmp_path: Path, case: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_suite(_write(tmp_path, text))


@pytest.mark.parametrize("path", sorted(Path("suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_validate(path: Path) -> None:
    suite, _ = load_suite(path)
    assert suite.models and suite.attacks
