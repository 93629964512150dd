"""Per-model view of a run's cells, shared by the tables, plots and leaderboard so they never disagree."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rdibench.results import CLEAN, RunDir, WorstCase, is_attack, worst_case

AUTOATTACK = "autoattack"
"""The AutoAttack adapter's algorithm name (a cell's ``attack_family``)."""
PAPER_ALGORITHM = "pgd"
"""The attack the paper's tables report (docs/protocol.md §5)."""
PENDING, FAILED = "pending", "failed"
"""How a table shows a cell of the suite not computed yet, and one whose attack raised."""


@dataclass(frozen=True)
class AttackResult:
    """One attack cell of a model; metric fields are ``None`` when the cell failed."""

    attack: str
    family: str | None
    ok: bool
    objective: str | None
    eps: float | None
    norm: str | None
    ata: float | None
    mflops_paper_adv: float | None
    exit_fractions_adv: tuple[float, ...] | None
    warnings: tuple[str, ...] = ()
    """Reliability checks the attack flagged (AutoAttack's: ``square_sr``, ``zero_gradients``...), by name."""
    curve: SecurityCurve | None = None
    cpu_min_per_1000: float | None = None
    """What the cell cost in CPU minutes per 1,000 images, probes included: the process CPU time it recorded (right
    on a busy machine too), else wall time x torch threads (cells made before cpu_s was), plus what the images it
    reused cost the cells that made them (``reused_cpu_s``; cells made before it was recorded count their forwards
    only); None when it failed or recorded neither."""
    probed: bool = False

    @property
    def is_autoattack(self) -> bool:
        return AUTOATTACK in (self.attack, self.family)


@dataclass(frozen=True)
class SecurityCurve:
    """Accuracy against eps from a probed cell (the first ``n`` images): on what the attack targets
    (``acc``) and of the routed prediction (``ata``); fractions, eps ascending from 0."""

    n: int
    norm: str | None
    eps: tuple[float, ...]
    acc: tuple[float, ...]
    ata: tuple[float, ...]


@dataclass(frozen=True)
class ModelSummary:
    """Clean numbers of one model plus its attack cells in suite order; accuracies are fractions."""

    model: str
    dataset: str | None
    data_label: str | None
    lossy: bool
    n: int | None
    ta: float | None
    mflops_paper_clean: float | None
    mflops_full_clean: float | None
    exit_fractions_clean: tuple[float, ...] | None
    attacks: tuple[AttackResult, ...]
    worst: WorstCase | None

    @property
    def mflops_paper_adv_max(self) -> float | None:
        """The costliest attack's expected MFlops: the efficiency an adversary can force."""
        values = [a.mflops_paper_adv for a in self.attacks if a.mflops_paper_adv is not None]
        return max(values) if values else None

    @property
    def label(self) -> str:
        return self.data_label or self.dataset or "unknown data"

    def attack(self, name: str) -> AttackResult | None:
        return next((a for a in self.attacks if a.attack == name), None)

    def autoattack(self, norm: str = "Linf") -> AttackResult | None:
        """The strongest AutoAttack cell (lowest ATA) in threat model ``norm``: RobustBench's ``autoattack_acc``."""
        measured = [a for a in self.attacks if a.is_autoattack and a.norm == norm and a.ata is not None]
        return min(measured, key=lambda a: a.ata or 0.0) if measured else None

    def paper_style(self) -> AttackResult | None:
        """The paper's headline number (Hu et al. 2020): PGD on the max-average objective for a multi-exit
        model, PGD on the only exit of a static one; the first such measured cell in suite order."""
        headline = "max_average" if len(self.exit_fractions_clean or ()) > 1 else "single"
        found = (a for a in self.attacks if a.family == PAPER_ALGORITHM and a.objective == headline)
        return next((a for a in found if a.ata is not None), None)

    def strongest(self) -> AttackResult | None:
        """The one attack with the lowest ATA (ties: the first in suite order)."""
        measured = [a for a in self.attacks if a.ata is not None]
        return min(measured, key=lambda a: a.ata or 0.0) if measured else None

    @property
    def autoattack_norms(self) -> list[str]:
        """Threat models of the row's AutoAttack cells, L-inf first."""
        return sorted({a.norm for a in self.attacks if a.is_autoattack and a.norm}, key=lambda n: n != "Linf")

    def adversarial_point(self, attack: str | None = None) -> tuple[float | None, float | None]:
        """(ATA, expected paper MFlops under attack) of ``attack``, or of the worst case with the costliest attack.

        The trade-off plots put ATA at this cost: the accuracy *and* the efficiency an adversary can take away.
        """
        if attack is None:
            return (self.worst.acc if self.worst else None), self.mflops_paper_adv_max
        result = self.attack(attack)
        return (result.ata, result.mflops_paper_adv) if result else (None, None)


def summarize(cells: Iterable[Mapping[str, Any]]) -> list[ModelSummary]:
    """One summary per model, in order of first appearance.

    Clean numbers come from the ``clean`` cell when it succeeded, else from any successful attack cell
    (every cell of a model measures the same clean inputs).
    """
    cells = list(cells)
    worst = worst_case(cells)
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for record in cells:
        by_model.setdefault(record["model"], []).append(record)
    summaries = []
    for model, records in by_model.items():
        ok = sorted((r for r in records if r.get("status") == "ok"), key=is_attack)  # the clean cell first
        clean = ok[0]["metrics"] if ok else {}
        first = records[0]
        summaries.append(
            ModelSummary(
                model=model,
                dataset=first.get("dataset"),
                data_label=first.get("data_label"),
                lossy=any(bool(r.get("lossy")) for r in records),
                n=first.get("n"),
                ta=clean.get("ta"),
                mflops_paper_clean=clean.get("mflops_paper_clean"),
                mflops_full_clean=clean.get("mflops_full_clean"),
                exit_fractions_clean=_tuple(clean.get("exit_fractions_clean")),
                attacks=tuple(_attack_result(r) for r in records if is_attack(r)),
                worst=worst.get(model),
            )
        )
    return summaries


def attack_names(summaries: Sequence[ModelSummary], pending: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """All attacks of the run, in suite order, then those only ``pending`` names: the columns of the tables."""
    pending_names = (a for p in (pending or {}).values() for a in p if a != CLEAN)
    return list(dict.fromkeys([*(a.attack for s in summaries for a in s.attacks), *pending_names]))


def pending_attacks(run: RunDir, cells: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Model -> attacks of the suite not computed yet, in suite order (a failed cell is failed, not pending);
    ``cells``: the run's :meth:`~rdibench.results.RunDir.cells`, read once by the caller."""
    failed = {c["key"] for c in cells if c.get("status") == FAILED}
    out: dict[str, list[str]] = {}
    for key in run.pending_keys(cells):
        model, _, attack = str(key).rpartition("|")
        if key not in failed:
            out.setdefault(model, []).append(attack)
    return out


def data_labels(summaries: Sequence[ModelSummary]) -> list[str]:
    return list(dict.fromkeys(s.label for s in summaries))


def short_label(label: str) -> str:
    """Drop the explanation inside a label's parentheses, keeping the warning.

    "CIFAR-10 (JPEG q75 copy, lossy: not canonical CIFAR-10)" -> "CIFAR-10 (JPEG q75 copy, lossy)".
    """
    return re.sub(r":[^()]*\)", ")", label)


def _attack_result(record: Mapping[str, Any]) -> AttackResult:
    """A failed cell's numbers are void (e.g. a failed sanity check), so they are dropped, not reported."""
    ok = record.get("status") == "ok"
    metrics = (record.get("metrics") or {}) if ok else {}
    params = record.get("attack_params") or {}
    eps = params.get("eps")
    curve = record.get("security_curve") if ok else None
    wall, threads, n = record.get("wall_s"), record.get("threads"), record.get("n")
    cpu = record.get("cpu_s", wall * threads if wall is not None and threads else None)
    cpu = None if cpu is None else cpu + record.get("reused_cpu_s", 0.0)
    cost = cpu * 1000 / n / 60 if ok and cpu is not None and n else None
    return AttackResult(
        attack=record["attack"],
        family=record.get("attack_family"),
        ok=ok,
        objective=record.get("objective"),
        eps=None if eps is None else float(eps),
        norm=params.get("norm"),
        ata=metrics.get("ata"),
        mflops_paper_adv=metrics.get("mflops_paper_adv"),
        exit_fractions_adv=_tuple(metrics.get("exit_fractions_adv")),
        warnings=tuple(sorted(record.get("attack_warnings") or {})),
        cpu_min_per_1000=cost,
        probed="probe_n" in (record.get("sanity") or {}),
        curve=None
        if not curve
        else SecurityCurve(
            n=int(curve["n"]),
            norm=curve.get("norm"),
            eps=tuple(map(float, curve["eps"])),
            acc=tuple(map(float, curve["acc"])),
            ata=tuple(map(float, curve["ata"])),
        ),
    )


def _tuple(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)
