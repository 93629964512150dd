"""leaderboard.json: RobustBench fields plus rdibench's, numbers as unrounded numbers, never strings."""

from __future__ import annotations

import json

import pytest

from rdibench.report import write_report
from rdibench.report.leaderboard import leaderboard_entries
from rdibench.report.summary import summarize
from rdibench.results import worst_case
from tests.results.factory import ATTACKS, MODELS, make_run, model_cells, suite_records

ROBUSTBENCH = {"name", "architecture", "dataset", "threat_model", "eps", "clean_acc", "reported", "autoattack_acc"}
NUMBERS = ("clean_acc", "worst_case_acc", "mflops_paper_clean", "mflops_full_clean", "mflops_paper_adv_max", "eps")


def test_entries_are_numbers_in_percent(tmp_path):
    records = suite_records()
    run = make_run(tmp_path, records, reported={"ta": 99.49, "ata": 96.31})
    write_report(run)
    entries = json.loads((run.path / "leaderboard.json").read_text())
    assert [e["name"] for e in entries] == list(MODELS)
    for entry in entries:
        assert set(entry) >= ROBUSTBENCH and entry["threat_model"] == "Linf"
        assert all(isinstance(entry[k], float) for k in NUMBERS)
        assert all(isinstance(v, float) for v in entry["adv_acc_by_attack"].values())
        assert set(entry["adv_acc_by_attack"]) == set(ATTACKS) == set(entry["exit_histograms_adv"])
        clean = next(r for r in records if r["model"] == entry["name"] and r["attack"] == "clean")
        assert entry["clean_acc"] == pytest.approx(100 * clean["metrics"]["ta"], rel=1e-15)
        assert entry["worst_case_acc"] == pytest.approx(100 * worst_case(records)[entry["name"]].acc, rel=1e-15)
        assert entry["exit_histogram_clean"] == clean["metrics"]["exit_fractions_clean"]
        assert (entry["eps"], entry["autoattack_acc"], entry["n"], entry["seed"]) == (0.3, None, 200, 123)
        assert entry["reported"] == {"ta": 99.49, "ata": 96.31} and entry["architecture"] == "rdi_smallcnn"
        assert entry["commit"] and entry["data_label"] == "MNIST" and entry["lossy"] is False
        assert entry["pending_attacks"] == []


def test_a_partial_rows_entry_names_the_attacks_still_pending(tmp_path):
    """A consumer (a CI gate, a leaderboard) must be able to tell a partial row's worst case from a final one."""
    records = suite_records()
    run = make_run(tmp_path, records[:3], finish=False)  # the first model without its last attack
    run.finish([r["key"] for r in records])
    write_report(run)
    (entry,) = json.loads((run.path / "leaderboard.json").read_text())
    assert entry["name"] == MODELS[0] and entry["pending_attacks"] == [list(ATTACKS)[-1]]
    assert set(entry["adv_acc_by_attack"]) == set(list(ATTACKS)[:-1])


def test_eps_is_null_when_attacks_disagree_and_autoattack_is_picked_up():
    records = model_cells("m.a", {"pgd40-average": 0.8}, seed=0, eps=0.3)
    records += model_cells("m.a", {"autoattack": 0.7}, seed=0, eps=0.1, with_clean=False)
    (entry,) = leaderboard_entries(summarize(records), {"models": {}})
    assert entry["eps"] is None and entry["architecture"] is None and entry["reported"] is None
    assert entry["autoattack_acc"] == pytest.approx(100 * records[-1]["metrics"]["ata"])


def test_numbers_of_a_cell_that_failed_its_sanity_checks_are_void():
    records = model_cells("m.a", {"pgd40-average": 0.8, "pgd40-exit0": 0.5}, seed=0)
    records[-1] = {**records[-1], "status": "failed", "error": "sanity checks failed: in_eps_ball"}
    (entry,) = leaderboard_entries(summarize(records), {})
    assert entry["adv_acc_by_attack"]["pgd40-exit0"] is None and entry["exit_histograms_adv"]["pgd40-exit0"] is None
    assert entry["mflops_paper_adv_max"] == records[1]["metrics"]["mflops_paper_adv"]
    assert entry["worst_case_acc"] == pytest.approx(100 * records[1]["metrics"]["ata"])


def test_autoattack_acc_is_the_strongest_autoattack_view_of_its_threat_model():
    """Several AutoAttack cells (one per view): the lowest L-inf one is ``autoattack_acc``; L2 stays apart; the
    flags of that cell and every flagged attack are listed."""
    records = model_cells("m.a", {"pgd40-average": 0.9}, seed=0)
    records += model_cells("m.a", {"autoattack-routed": 0.6, "autoattack-e0": 0.8}, seed=1, with_clean=False)
    records += model_cells("m.a", {"autoattack-l2": 0.3}, seed=2, with_clean=False, norm="L2", eps=2.0)
    records[2]["attack_warnings"] = {"square_sr": ["Square Attack has decreased the robust accuracy of 0.50%."]}
    (entry,) = leaderboard_entries(summarize(records), {})
    linf = {r["attack"]: r["metrics"]["ata"] for r in records[2:4]}
    strongest = min(linf, key=linf.__getitem__)
    assert entry["autoattack_acc"] == pytest.approx(100 * linf[strongest]) and entry["autoattack_attack"] == strongest
    assert entry["autoattack_acc_by_norm"]["L2"] == pytest.approx(100 * records[4]["metrics"]["ata"])
    assert entry["autoattack_flags"] == (["square_sr"] if strongest == "autoattack-routed" else [])
    assert entry["warnings_by_attack"] == {"autoattack-routed": ["square_sr"]}
