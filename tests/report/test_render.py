"""write_report puts every artifact into the run directory; report_markdown gives a README section."""

from __future__ import annotations

import pandas as pd

from rdibench.report import report_markdown, write_report
from rdibench.report.cards import budget_markdown
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


def test_the_readme_section_says_what_each_model_cost_to_train(tmp_path):
    """A trained model's row gives its iterations, wall time and device; a model with no training record says so."""
    run = make_run(tmp_path, suite_records())
    section = report_markdown(run)
    assert "The models and what training them cost:" in section
    assert all(f"| {m} | not recorded | not trained here: source not recorded |" in section for m in MODELS)
    training = {"iterations": 10560, "wall_time_s": 5578.0, "device": "cpu", "seed": 0,
                "recipe": {"name": "cifar-resnet38-fastat", "batch_size": 128, "optimizer": {"kind": "sgd", "lr": 0.2}},
                "recipe_hash": "765bdfa5edee" + "0" * 52}  # fmt: skip
    trained = {"source": "rdibench train", "defence": "fast-at", "training": training}
    published = {"source": "published", "training": None}
    manifest = {"models": {"resnet38.fastat": {"card": trained}, "authors": {"card": published}}}
    table = budget_markdown(manifest)
    assert table is not None and len(table.strip().splitlines()) == 4
    assert (
        "| resnet38.fastat | fast-at | 10560 iterations, batch 128, sgd lr 0.2, 1.55 h wall time on "
        "cpu, seed 0, recipe cifar-resnet38-fastat (765bdfa5edee) |" in table
    )
    assert "| authors | not recorded | not trained here: published |" in table
    stretches = [{"iterations": [0, 9], "device": "cuda:0"}, {"iterations": [9, 10], "device": "cpu"},
                 {"iterations": [10, 12], "device": "cpu"}]  # fmt: skip
    resumed = {**trained, "training": {**training, "iterations": 12, "stretches": stretches}}
    del resumed["training"]["device"]  # cards with stretches name no single device
    table = budget_markdown({"models": {"rdi": {"card": resumed}}})
    assert table is not None and "12 iterations, batch 128, sgd lr 0.2, 1.55 h wall time on cuda:0 then cpu," in table
    assert budget_markdown({"models": {}}) is None
