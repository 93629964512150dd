"""metrics.csv mirrors the records; the worst case is the per-sample AND over attacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rdibench.core.errors import ResultsError
from rdibench.results import CLEAN, cell_flags, is_attack, metrics_frame, worst_case, write_metrics
from tests.results.factory import ATTACKS, failed_cell, make_run, model_cells, suite_records


def test_columns_and_values_equal_the_records(tmp_path):
    records = [*suite_records(), failed_cell("rdi_smallcnn.main", "fgsm-average")]
    frame = pd.read_csv(write_metrics(make_run(tmp_path, records)))
    assert list(frame.columns) == [
        "model", "attack", "objective", "dataset", "data_label", "lossy", "n", "ta", "ata",
        "mflops_paper", "mflops_full", "mflops_paper_clean", "mflops_full_clean",
        "exit_frac_0", "exit_frac_1", "exit_frac_2", "status", "wall_s", "seed",
    ]  # fmt: skip
    assert len(frame) == len(records)
    for row, record in zip(frame.itertuples(), records, strict=True):
        assert (row.model, row.attack, row.status) == (record["model"], record["attack"], record["status"])
        if record["status"] != "ok":
            assert np.isnan(row.ta) and np.isnan(row.mflops_paper)
            continue
        m, side = record["metrics"], "clean" if record["attack"] == CLEAN else "adv"
        assert (row.ta, row.ata, row.n) == (m["ta"], m["ata"], record["n"])  # unrounded round trip
        assert row.mflops_paper == m[f"mflops_paper_{side}"] and row.mflops_full_clean == m["mflops_full_clean"]
        assert [row.exit_frac_0, row.exit_frac_1, row.exit_frac_2] == m[f"exit_fractions_{side}"]


def test_empty_run_gives_a_frame_with_headers():
    assert {"model", "attack", "ta", "ata", "status"} <= set(metrics_frame([]).columns)


def test_worst_case_is_the_and_of_flags_and_at_most_every_ata():
    records = suite_records()
    result = worst_case(records)
    assert set(result) == {r["model"] for r in records}
    for model, wc in result.items():
        attacks = [r for r in records if r["model"] == model and r["attack"] != CLEAN]
        by_hand = np.ones(200, bool)
        for r in attacks:
            by_hand &= cell_flags(r).adv_correct
        assert wc.acc == by_hand.mean()
        assert wc.acc <= min(r["metrics"]["ata"] for r in attacks)
        assert wc.attacks == tuple(ATTACKS) and wc.n_attacks == 3 and wc.n == 200


def test_worst_case_skips_failed_attacks_and_says_so():
    records = [*model_cells("m.a", {"pgd40-average": 0.8}, seed=0), failed_cell("m.a", "pgd40-exit0")]
    assert worst_case(records)["m.a"].attacks == ("pgd40-average",)


def test_worst_case_refuses_different_samples():
    first = model_cells("m.a", {"pgd40-average": 0.8}, seed=0, with_clean=False)
    other = model_cells("m.a", {"pgd40-exit0": 0.8}, seed=0, n=150, with_clean=False)
    with pytest.raises(ResultsError, match="identical index arrays"):
        worst_case(first + other)


def test_clean_cell_is_recognised_by_its_algorithm_whatever_its_name():
    clean = {**model_cells("m.a", {}, seed=0)[0], "attack": "natural", "attack_family": "clean"}
    assert not is_attack(clean) and worst_case([clean]) == {}
