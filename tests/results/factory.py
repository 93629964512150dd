"""Synthetic but realistic cell records for the results/compare/report tests.

Per-sample flags come from a seeded numpy Generator and every metric is computed from those flags, the
way the evaluation layer does it, so tests check arithmetic on data rather than hard-coded numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rdibench.results import CLEAN, RunDir, cell_flags, pack_flags
from rdibench.results.flags import encode_index

FLOPS_PAPER = (0.818, 7.00, 9.25)
"""RDI-SmallCNN per-exit MFlops, paper convention."""
FLOPS_FULL = (0.95, 7.9, 10.3)
"""Made-up per-exit MFlops under the full convention (every layer on the path, earlier branches included)."""
EXIT_P_CLEAN = (0.6, 0.3, 0.1)
EXIT_P_ADV = (0.2, 0.3, 0.5)
LABELS = {("mnist", False): "MNIST", ("cifar10", True): "CIFAR-10 (JPEG q75 copy, lossy: not canonical CIFAR-10)"}


def cell_from_arrays(
    model: str,
    attack: str,
    *,
    clean_correct: np.ndarray,
    adv_correct: np.ndarray,
    exit_clean: np.ndarray,
    exit_adv: np.ndarray,
    index: np.ndarray,
    eps: float = 0.3,
    norm: str = "Linf",
    dataset: str = "mnist",
    lossy: bool = False,
    cell_version: str = "v1",
    seed: int = 123,
) -> dict[str, Any]:
    """A full ``ok`` cell record whose metrics are computed from the given per-sample arrays."""
    n, k = len(index), len(FLOPS_PAPER)
    fractions = {side: np.bincount(e, minlength=k) / n for side, e in (("clean", exit_clean), ("adv", exit_adv))}

    def per_exit(correct: np.ndarray, exits: np.ndarray) -> list[float]:
        return [float(correct[exits == j].mean()) if (exits == j).any() else 0.0 for j in range(k)]

    family, _, objective = attack.partition("-")
    return {
        "key": f"{model}|{attack}",
        "cell_version": cell_version,
        "status": "ok",
        "model": model,
        "model_sha256": hashlib.sha256(model.encode()).hexdigest(),
        "attack": attack,
        "attack_family": family.rstrip("0123456789"),
        "objective": objective or None,
        "attack_params": {} if attack == CLEAN else {"eps": eps, "norm": norm, "alpha": 0.01, "steps": 40},
        "dataset": dataset,
        "data_label": LABELS[(dataset, lossy)],
        "lossy": lossy,
        "data_sha256": hashlib.sha256(f"{dataset}{index.tobytes().hex()}".encode()).hexdigest(),
        "n": n,
        "seed": seed,
        "wall_s": 0.5 + 0.01 * n,
        "error": None,
        "metrics": {
            "ta": float(clean_correct.mean()),
            "ata": float(adv_correct.mean()),
            "ta_per_exit": per_exit(clean_correct, exit_clean),
            "ata_per_exit": per_exit(adv_correct, exit_adv),
            "exit_fractions_clean": fractions["clean"].tolist(),
            "exit_fractions_adv": fractions["adv"].tolist(),
            "mflops_paper_clean": float(fractions["clean"] @ FLOPS_PAPER),
            "mflops_paper_adv": float(fractions["adv"] @ FLOPS_PAPER),
            "mflops_full_clean": float(fractions["clean"] @ FLOPS_FULL),
            "mflops_full_adv": float(fractions["adv"] @ FLOPS_FULL),
            "linf_max": 0.0 if attack == CLEAN else eps,
            "linf_mean": 0.0 if attack == CLEAN else 0.97 * eps,
            "l2_mean": 0.0 if attack == CLEAN else 5.1,
        },
        "sanity": {"in_eps_ball": True, "in_box": True, "ata_le_ta": bool(adv_correct.mean() <= clean_correct.mean())},
        "flags": pack_flags(clean_correct, adv_correct, exit_clean, exit_adv),
        "index": encode_index(index),
    }


def model_cells(
    model: str,
    attacks: Mapping[str, float],
    *,
    seed: int,
    n: int = 200,
    ta: float = 0.95,
    with_clean: bool = True,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Cells of one model: shared clean flags, and per attack ``adv_correct`` drawn so ATA is near the target."""
    rng = np.random.default_rng(seed)
    index = np.arange(n, dtype=np.int64)
    clean = rng.random(n) < ta
    exit_clean = rng.choice(len(EXIT_P_CLEAN), size=n, p=EXIT_P_CLEAN)
    variants = [(CLEAN, clean, exit_clean)] if with_clean else []
    for attack, ata in attacks.items():
        adv = clean & (rng.random(n) < ata / ta)
        variants.append((attack, adv, rng.choice(len(EXIT_P_ADV), size=n, p=EXIT_P_ADV)))
    return [
        cell_from_arrays(model, attack, clean_correct=clean, adv_correct=adv, exit_clean=exit_clean, exit_adv=exits,
                         index=index, **fields)
        for attack, adv, exits in variants
    ]  # fmt: skip


def modify(
    record: Mapping[str, Any], *, flip_adv: float = 0.0, deepen: float = 0.0, seed: int = 0, **fields: Any
) -> dict[str, Any]:
    """A copy of ``record`` with metrics recomputed after a fraction ``flip_adv`` of its robust samples became
    non-robust and a fraction ``deepen`` of its samples moved to the deepest exit under attack."""
    flags = cell_flags(record)
    assert flags is not None
    rng = np.random.default_rng(seed)
    adv, exit_adv = flags.adv_correct.copy(), flags.exit_adv.copy()
    robust = np.flatnonzero(adv)
    adv[rng.choice(robust, size=round(flip_adv * len(robust)), replace=False)] = False
    exit_adv[rng.choice(len(exit_adv), size=round(deepen * len(exit_adv)), replace=False)] = len(FLOPS_PAPER) - 1
    kept = {k: record[k] for k in ("cell_version", "dataset", "lossy", "seed")} | fields
    eps = record["attack_params"].get("eps", 0.3)
    return cell_from_arrays(
        record["model"],
        record["attack"],
        clean_correct=flags.clean_correct,
        adv_correct=adv,
        exit_clean=flags.exit_clean,
        exit_adv=exit_adv,
        index=flags.index,
        eps=eps,
        **kept,
    )


def failed_cell(model: str, attack: str, error: str = "RuntimeError: CUDA out of memory") -> dict[str, Any]:
    return {
        "key": f"{model}|{attack}",
        "cell_version": "v1",
        "status": "failed",
        "model": model,
        "attack": attack,
        "attack_family": attack.partition("-")[0].rstrip("0123456789"),
        "dataset": "mnist",
        "data_label": "MNIST",
        "lossy": False,
        "n": 200,
        "seed": 123,
        "wall_s": 0.1,
        "error": error,
    }


def make_run(
    root: Path,
    records: Iterable[Mapping[str, Any]],
    *,
    suite: str = "unit",
    config_hash: str = "0123abcd" * 8,
    reported: Mapping[str, Any] | None = None,
    finish: bool = True,
    now: datetime | None = None,
) -> RunDir:
    """A run directory holding ``records``, with a manifest shaped like the runner's."""
    records = list(records)
    models = sorted({r["model"] for r in records})
    manifest = {
        "rdibench_version": "0.1.0",
        "suite": {"name": suite},
        "suite_sha256": "ab" * 32,
        "git": {"commit": "c0ffee" * 6 + "abcd", "dirty": False},
        "versions": {"python": "3.11", "numpy": np.__version__},
        "seed": 123,
        "device": "cpu",
        "models": {
            m: {"sha256": "00" * 32, "card": {"arch": m.split(".")[0], "reported": dict(reported or {})}}
            for m in models
        },
        "notes": "",
    }
    run = RunDir.create(root, suite, config_hash, manifest, now=now)
    for record in records:
        run.append_cell(record)
    if finish:
        run.finish([r["key"] for r in records])  # the suite is exactly these cells
    return run


ATTACKS = {"pgd40-max_average": 0.80, "pgd40-average": 0.85, "pgd40-exit0": 0.90}
MODELS = ("rdi_smallcnn.maxavg", "rdi_smallcnn.main")


def suite_records(**fields: Any) -> list[dict[str, Any]]:
    """Clean + three attack cells for each of two models, 200 samples each: a typical small suite."""
    return [cell for seed, model in enumerate(MODELS, 1) for cell in model_cells(model, ATTACKS, seed=seed, **fields)]


def diverging_runs(root: Path, *, regress: bool = True, drop: int = 0) -> tuple[RunDir, RunDir]:
    """Runs A and B of clean + one attack per model: A has the second model's attack cell weakened (B improves
    on it); B weakens the first model's attack cell when ``regress`` and lacks its first ``drop`` cells."""
    records = [cell for seed, m in enumerate(MODELS, 1) for cell in model_cells(m, {"pgd40-average": 0.8}, seed=seed)]
    a = [modify(r, flip_adv=0.2, seed=4) if i == 3 else r for i, r in enumerate(records)]
    b = [modify(r, flip_adv=0.2, seed=5) if i == 1 and regress else r for i, r in enumerate(records)]
    return make_run(root, a, suite="cmp"), make_run(root, b[drop:], suite="cmp")
