"""write_report puts every artifact into the run directory; report_markdown gives a README section."""

from __future__ import annotations

import pandas as pd

from rdibench.report import report_markdown, write_report
from tests.results.factory import ATTACKS, MODELS, failed_cell, make_run, suite_records

PNG = b"\x89PNG\r\n\x1a\n"


def test_write_report_writes_all_artifacts(tmp_path):
    records = [*suite_records(), failed_cell("rdi_smallcnn.main", "fgsm-average")]
    run = make_run(tmp_path, records)
    written = write_report(str(run.path))
    names = {p.relative_to(run.path).as_posix() for p in written}
    assert names == {
        "metrics.csv", "table.md", "table.tex", "leaderboard.json", "plots/tradeoff.png", "report.html",
        *(f"plots/exit_fractions_{m}.png" for m in MODELS),
    }  # fmt: skip
    for name in names:
        data = (run.path / name).read_bytes()
        assert data and (not name.endswith(".png") or (data.startswith(PNG) and len(data) > 10_000))
    assert len(pd.read_csv(run.path / "metrics.csv")) == len(records)
    table = (run.path / "table.md").read_text()
    assert all(m in table for m in MODELS) and all(a in table for a in [*ATTACKS, "fgsm-average"])


def test_a_probed_cell_gives_its_model_a_security_curve(tmp_path):
    records = suite_records()
    probed = next(r for r in records if r["attack"] != "clean")
    probed["security_curve"] = {"n": 200, "norm": "Linf", "eps": [0.0, 0.15, 0.3], "acc": [0.9, 0.8, 0.7],
                                "ata": [0.95, 0.85, 0.75]}  # fmt: skip
    run = make_run(tmp_path, records)
    names = {p.relative_to(run.path).as_posix() for p in write_report(run)}
    curves = {n for n in names if n.startswith("plots/security_curve_")}
    assert curves == {f"plots/security_curve_{probed['model']}.png"}
    assert (run.path / curves.pop()).read_bytes().startswith(PNG)


def test_partial_run_reports_what_is_finished(tmp_path):
    run = make_run(tmp_path, suite_records()[:2], finish=False)
    write_report(run)
    section = report_markdown(run)
    assert section.startswith(f"### unit: `{run.name}`")
    assert "rdi_smallcnn.maxavg" in section and "not yet (partial run)" in section


def test_run_with_only_failed_cells_still_reports(tmp_path):
    run = make_run(tmp_path, [failed_cell("m.a", "pgd40-average")])
    names = {p.name for p in write_report(run)}
    assert "tradeoff.png" not in names and {"table.md", "leaderboard.json", "report.html"} <= names
