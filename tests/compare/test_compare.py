"""compare_runs: union of cells, asv marks, two-gate accuracy test, loud refusal of incompatible runs."""

from __future__ import annotations

import numpy as np
import pytest

from rdibench.compare import Mark, compare_runs
from rdibench.compare.stats import binomial_tolerance, mcnemar_p
from rdibench.core.errors import ConfigError, ResultsError
from rdibench.results import RunDir
from tests.results.factory import failed_cell, make_run, model_cells, modify, suite_records

MODEL, ATTACK = "rdi_smallcnn.maxavg", "pgd40-max_average"


def replaced(records, key, new):
    return [new if r["key"] == key else r for r in records]


def target(records):
    return next(r for r in records if r["key"] == f"{MODEL}|{ATTACK}")


def row(comparison, attack=ATTACK, model=MODEL):
    return next(r for r in comparison.rows if (r.model, r.attack) == (model, attack))


def change(comparison, metric):
    return next(m for m in row(comparison).metrics if m.name == metric)


def test_run_against_itself_has_no_regression(tmp_path):
    run = make_run(tmp_path, suite_records())
    c = compare_runs(run, RunDir.open(run.path))
    assert c.regressions == () and c.improvements == ()
    assert {r.mark for r in c.rows} == {Mark.UNCHANGED}
    assert all(m.delta == 0.0 and m.p in (None, 1.0) for r in c.rows for m in r.metrics)  # identical flags


def test_weakened_cell_is_a_regression_and_its_reverse_an_improvement(tmp_path):
    records = suite_records()
    weak = modify(target(records), flip_adv=0.10)
    a, b = make_run(tmp_path, records), make_run(tmp_path, replaced(records, weak["key"], weak))
    c = compare_runs(a, b)
    assert [(r.model, r.attack) for r in c.regressions] == [(MODEL, ATTACK)]
    assert row(c).mark is Mark.WORSE and change(c, "ata").mark is Mark.WORSE
    assert change(c, "ata").delta == pytest.approx(weak["metrics"]["ata"] - target(records)["metrics"]["ata"])
    assert change(c, "ata").p < 0.01 and change(c, "ta").mark is Mark.UNCHANGED
    reverse = compare_runs(b, a)
    assert reverse.regressions == () and row(reverse).mark is Mark.BETTER


def test_change_within_noise_is_not_flagged(tmp_path):
    records = suite_records()
    slightly = modify(target(records), flip_adv=0.01)
    a, b = make_run(tmp_path, records), make_run(tmp_path, replaced(records, slightly["key"], slightly))
    c = compare_runs(a, b)
    assert change(c, "ata").delta < 0 and row(c).mark is Mark.UNCHANGED and c.regressions == ()


def test_beyond_tolerance_but_not_significant_is_tilde(tmp_path):
    records = suite_records()
    slightly = modify(target(records), flip_adv=0.02)
    a, b = make_run(tmp_path, records), make_run(tmp_path, replaced(records, slightly["key"], slightly))
    c = compare_runs(a, b, tol_ata=0.5)
    assert -change(c, "ata").delta > 0.005 and change(c, "ata").p >= 0.01
    assert row(c).mark is Mark.NOT_SIGNIFICANT and c.regressions == ()


def test_higher_mflops_under_attack_is_worse(tmp_path):
    records = suite_records()
    costly = modify(target(records), deepen=0.3)
    c = compare_runs(make_run(tmp_path, records), make_run(tmp_path, replaced(records, costly["key"], costly)))
    assert change(c, "mflops_paper_adv").mark is Mark.WORSE and row(c) in c.regressions


def test_cells_on_one_side_are_listed_not_dropped(tmp_path):
    records = suite_records()
    extra = model_cells("rdi_resnet38.maxavg", {"pgd20-average": 0.4}, seed=9, with_clean=False)
    c = compare_runs(make_run(tmp_path, records[1:]), make_run(tmp_path, records[:-1] + extra))
    assert [(r.model, r.attack) for r in c.only_in_a] == [(records[-1]["model"], records[-1]["attack"])]
    assert {(r.model, r.attack) for r in c.only_in_b} == {
        (records[0]["model"], "clean"),
        ("rdi_resnet38.maxavg", "pgd20-average"),
    }
    assert len(c.rows) == len(records) + 1 and c.regressions == ()


def test_version_mismatch_is_not_comparable(tmp_path):
    records = suite_records()
    newer = modify(target(records), flip_adv=0.3, cell_version="v2")
    c = compare_runs(make_run(tmp_path, records), make_run(tmp_path, replaced(records, newer["key"], newer)))
    assert row(c).mark is Mark.NOT_COMPARABLE and c.not_comparable == (row(c),) and c.regressions == ()
    assert all(m.delta is None for m in row(c).metrics)


def test_newly_failed_and_fixed(tmp_path):
    records = suite_records()
    broken = replaced(records, f"{MODEL}|{ATTACK}", failed_cell(MODEL, ATTACK))
    a, b = make_run(tmp_path, records), make_run(tmp_path, broken)
    forward = compare_runs(a, b)
    assert row(forward).mark is Mark.NEWLY_FAILED and forward.regressions == (row(forward),)
    assert row(compare_runs(b, a)).mark is Mark.FIXED


def test_runs_without_common_cells_or_on_other_data_are_refused(tmp_path):
    mnist = model_cells("m.a", {"pgd40-average": 0.8}, seed=0)
    with pytest.raises(ResultsError, match="no \\(model, attack\\) cell in common"):
        compare_runs(make_run(tmp_path, mnist), make_run(tmp_path, model_cells("m.b", {}, seed=0)))
    cifar = model_cells("m.a", {"pgd40-average": 0.8}, seed=0, dataset="cifar10", lossy=True)
    with pytest.raises(ResultsError, match="different data"):
        compare_runs(make_run(tmp_path, mnist), make_run(tmp_path, cifar))


def test_not_a_result_directory_is_bad_input(tmp_path):
    with pytest.raises(ResultsError, match="not a result directory"):
        RunDir.open(tmp_path / "nowhere")


def test_bad_settings_are_config_errors(tmp_path):
    run = make_run(tmp_path, suite_records())
    with pytest.raises(ConfigError):
        compare_runs(run, run, tol_ata=-1)
    with pytest.raises(ConfigError):
        compare_runs(run, run, alpha=0)


def test_binomial_tolerance_is_two_standard_errors_floored_at_one_over_n():
    assert binomial_tolerance(0.8, 400) == pytest.approx(2 * (0.8 * 0.2 / 400) ** 0.5)
    assert binomial_tolerance(1.0, 100) == binomial_tolerance(0.99, 100) > 0


def test_mcnemar_counts_only_discordant_pairs():
    a = np.array([True] * 10 + [False] * 90)
    assert mcnemar_p(a, a) == 1.0
    assert mcnemar_p(a, np.zeros(100, bool)) == pytest.approx(2 * 0.5**10)
