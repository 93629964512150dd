"""RobustBench-shaped leaderboard entries, extended with rdibench's cost and exit fields.

Why not copy RobustBench's files verbatim: they store rounded strings ("89.69", "8/255"); these entries keep
unrounded numbers (accuracies in percent 0-100, exit histograms as fractions) plus the provenance
(commit, seed, n, data label) RobustBench omits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rdibench.report.summary import ModelSummary


def leaderboard_entries(
    summaries: Sequence[ModelSummary],
    manifest: Mapping[str, Any],
    pending: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One entry per model with a finished cell; ``None`` (JSON null) wherever a number was not measured.

    ``pending`` (:func:`~rdibench.report.summary.pending_attacks`) fills each entry's ``pending_attacks``: a
    consumer must not read a partial row's ``worst_case_acc`` as final.
    """
    models = manifest.get("models") or {}
    commit = (manifest.get("git") or {}).get("commit")
    return [
        _entry(s, (models.get(s.model) or {}).get("card") or {}, manifest, commit, (pending or {}).get(s.model, ()))
        for s in summaries
    ]


def _entry(
    s: ModelSummary, card: Mapping[str, Any], manifest: Mapping[str, Any], commit: str | None, pending: Sequence[str]
) -> dict[str, Any]:
    eps = {a.eps for a in s.attacks if a.eps is not None}
    auto = s.autoattack("Linf")
    return {
        "name": s.model,
        "architecture": card.get("arch"),
        "dataset": s.dataset,
        "threat_model": "Linf",
        "eps": eps.pop() if len(eps) == 1 else None,
        "clean_acc": _pct(s.ta),
        "reported": card.get("reported") or None,
        "autoattack_acc": _pct(auto.ata) if auto else None,
        "autoattack_attack": auto.attack if auto else None,
        "autoattack_flags": list(auto.warnings) if auto else None,
        "autoattack_acc_by_norm": {norm: _pct(a.ata) for norm in s.autoattack_norms if (a := s.autoattack(norm))},
        "worst_case_acc": _pct(s.worst.acc) if s.worst else None,
        "pending_attacks": list(pending),
        "adv_acc_by_attack": {a.attack: _pct(a.ata) for a in s.attacks},
        "warnings_by_attack": {a.attack: list(a.warnings) for a in s.attacks if a.warnings},
        "mflops_paper_clean": s.mflops_paper_clean,
        "mflops_full_clean": s.mflops_full_clean,
        "mflops_paper_adv_max": s.mflops_paper_adv_max,
        "exit_histogram_clean": _list(s.exit_fractions_clean),
        "exit_histograms_adv": {a.attack: _list(a.exit_fractions_adv) for a in s.attacks},
        "n": s.n,
        "seed": manifest.get("seed"),
        "commit": commit,
        "data_label": s.data_label,
        "lossy": s.lossy,
    }


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * float(fraction)


def _list(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else list(values)
