"""The paper table: every model and attack present, values as in the records, lossy data flagged in bold."""

from __future__ import annotations

from rdibench.report.summary import pending_attacks, short_label, summarize
from rdibench.report.tables import build_grid, cost_markdown, strength_grid, to_latex, to_markdown
from rdibench.results import worst_case
from tests.results.factory import ATTACKS, MODELS, failed_cell, make_run, model_cells, suite_records


def test_markdown_has_every_model_attack_and_value():
    records = suite_records()
    md = to_markdown(build_grid(summarize(records)))
    header, align, *rows = md.splitlines()[:4]
    assert all(f"ATA (%) {a}" in header for a in ATTACKS) and "Worst-case ATA (%)" in header
    assert align.count("---:") == header.count("|") - 2
    for model, row in zip(MODELS, rows, strict=True):
        cells = [r for r in records if r["model"] == model]
        expected = [f"{100 * c['metrics']['ata']:.2f}" for c in cells]  # the clean cell's ata is its TA
        assert row.split(" | ")[1 : 2 + len(ATTACKS)] == expected
        assert f"{100 * worst_case(records)[model].acc:.2f}" in row
    assert "Data: MNIST (n = 200 test samples)." in md and "LOSSY" not in md


def test_failed_and_missing_cells_are_visible():
    records = [*model_cells("m.a", {"pgd40-average": 0.8}, seed=0), failed_cell("m.a", "fgsm-average")]
    records += model_cells("m.b", {"pgd40-exit0": 0.8}, seed=1)
    grid = build_grid(summarize(records))
    assert grid.rows[0][2:5] == [f"{100 * records[1]['metrics']['ata']:.2f}", "failed", "n/a"]
    assert grid.rows[0][5].endswith("(1/2 attacks)")


def test_a_partial_runs_cells_not_computed_yet_read_pending_not_missing(tmp_path):
    """n/a says an attack is not part of a row; a cell still to do must not read so, nor its row's worst case as
    final, in table.md, table.tex and the README section alike (all are built from one grid)."""
    records = suite_records()
    done = [*records[:3], records[4], failed_cell(MODELS[1], "pgd40-average")]  # not the first model's last attack
    run = make_run(tmp_path, done, finish=False)
    run.finish([r["key"] for r in records] + ["m.waiting|clean", "m.waiting|pgd40-average"])
    pending = pending_attacks(run, run.cells())
    assert pending[MODELS[0]] == [list(ATTACKS)[-1]]
    assert pending[MODELS[1]] == ["pgd40-max_average", "pgd40-exit0"]  # the failed cell is failed, not pending
    grid = build_grid(summarize(run.cells()), pending)
    rows = {r[0]: r for r in grid.rows}
    assert list(rows) == [*MODELS, "m.waiting"]
    column = {a: grid.headers.index(f"ATA (%) {a}") for a in ATTACKS}
    first, second, worst = rows[MODELS[0]], rows[MODELS[1]], grid.headers.index("Worst-case ATA (%)")
    assert first[column[list(ATTACKS)[-1]]] == "pending" and first[column["pgd40-max_average"]] != "pending"
    assert first[worst] == f"{100 * worst_case(done)[MODELS[0]].acc:.2f} (2/3 attacks)"
    assert second[column["pgd40-average"]] == "failed"
    assert second[column["pgd40-max_average"]] == second[column["pgd40-exit0"]] == second[worst] == "pending"
    waiting = rows["m.waiting"]
    assert waiting[1] == waiting[column["pgd40-average"]] == "pending" and waiting[-3:] == ["pending"] * 3
    assert waiting[column["pgd40-max_average"]] == "n/a"  # not in its row of the suite
    assert "Pending: a cell of the suite not computed yet" in to_markdown(grid)
    strength = strength_grid(summarize(run.cells()), pending)
    assert strength is not None and strength.rows[0][strength.headers.index("Worst-case ATA (%)")] == first[worst]
    assert "Pending" not in to_markdown(build_grid(summarize(records)))


def test_lossy_data_gets_a_bold_warning_in_both_formats():
    records = model_cells("rdi_resnet38.x", {"pgd20-average": 0.4}, seed=0, dataset="cifar10", lossy=True, ta=0.8)
    grid = build_grid(summarize(records))
    assert "**LOSSY DATA: CIFAR-10 (JPEG q75 copy, lossy: not canonical CIFAR-10)." in to_markdown(grid)
    tex = to_latex(grid)
    assert r"\textbf{LOSSY DATA" in tex and r"rdi\_resnet38.x" in tex and r"TA (\%)" in tex
    assert tex.count(r"\\") == 2  # header + one model row


def test_short_label_keeps_the_lossy_warning():
    assert short_label("CIFAR-10 (JPEG q75 copy, lossy: not canonical CIFAR-10)") == "CIFAR-10 (JPEG q75 copy, lossy)"
    assert short_label("MNIST") == "MNIST"


def test_autoattack_gets_a_column_and_flagged_numbers_a_dagger():
    records = model_cells("m.a", {"pgd40-average": 0.9, "autoattack-routed": 0.6, "autoattack-e0": 0.8}, seed=0)
    records[2]["attack_warnings"] = {"zero_gradients": ["3 points with zero gradient"]}
    records += model_cells("m.b", {"pgd40-average": 0.8}, seed=1)
    grid = build_grid(summarize(records))
    column = grid.headers.index("AutoAttack (%)")
    assert column == grid.headers.index("Worst-case ATA (%)") - 1
    aa = {r["attack"]: r["metrics"]["ata"] for r in records[2:4]}
    strongest = min(aa, key=aa.__getitem__)
    dagger = " †" if strongest == "autoattack-routed" else ""
    assert grid.rows[0][column] == f"{100 * aa[strongest]:.2f}{dagger}"
    assert grid.rows[0][3] == f"{100 * aa['autoattack-routed']:.2f} †" and grid.rows[1][column] == "n/a"
    md, tex = to_markdown(grid), to_latex(grid)
    assert "† The attack's own reliability checks flagged this number (zero_gradients)" in md
    assert r"$^\dagger$" in tex and "†" not in tex


def test_no_autoattack_column_without_autoattack_cells():
    assert not any(h.startswith("AutoAttack") for h in build_grid(summarize(suite_records())).headers)


def test_cost_table_gives_cpu_minutes_per_thousand_images_and_keeps_probed_cells_apart():
    records = model_cells("m.a", {"pgd40-average": 0.9, "fgsm": 0.8}, seed=0)
    records += model_cells("m.b", {"pgd40-average": 0.8, "fgsm": 0.7}, seed=1)
    assert cost_markdown(summarize(records)) is None  # cells made before threads were recorded
    for record, (wall, threads) in zip(records, [(1, 1), (60, 2), (6, 1), (1, 1), (120, 2), (12, 2)], strict=True):
        record.update(wall_s=wall, threads=threads)
    records[1]["sanity"] = {**records[1].get("sanity", {}), "probe_n": 50}
    n = records[0]["n"]
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:]
        for line in cost_markdown(summarize(records)).splitlines()
    }

    def minutes(wall: float, threads: int) -> str:
        return f"{wall * threads * 1000 / n / 60:.2f}"

    assert rows["pgd40-average (with probes)"] == ["1", minutes(60, 2), f"{minutes(60, 2)} |"]
    assert rows["pgd40-average"] == ["1", minutes(120, 2), f"{minutes(120, 2)} |"]
    median = minutes((6 * 1 + 12 * 2) / 2, 1)
    assert rows["fgsm"] == ["2", median, f"{minutes(6, 1)}-{minutes(12, 2)} |"]
    assert "clean" not in rows
    records[4]["cpu_s"] = 30.0  # the process CPU time a cell records wins over wall x threads (a starved cell)
    line = next(x for x in cost_markdown(summarize(records)).splitlines() if x.startswith("| pgd40-average |"))
    assert line.split(" | ")[2] == minutes(30, 1)
    records[4]["reused_cpu_s"] = 90.0  # images taken from another cell are charged what making them cost
    line = next(x for x in cost_markdown(summarize(records)).splitlines() if x.startswith("| pgd40-average |"))
    assert line.split(" | ")[2] == minutes(120, 1)


def test_the_paper_style_number_stands_beside_the_strongest_evaluation():
    """Max-average PGD is an RDI-Net's paper-style number, PGD on the only exit a static model's; beside it the
    lowest single attack, AutoAttack and the worst case, and how far the paper-style number overstates."""
    records = model_cells("m.rdi", {"pgd40-max_average": 0.8, "pgd40-routing": 0.6, "autoattack-routed": 0.65}, seed=0)
    static = model_cells("m.static", {"fgsm-average": 0.9, "pgd40-single": 0.85}, seed=1)
    for r in static:
        r["metrics"]["exit_fractions_clean"] = [1.0]
    records += static
    grid = strength_grid(summarize(records))
    assert grid is not None
    rdi, flat = grid.rows
    ata = {r["key"]: 100 * r["metrics"]["ata"] for r in records}
    worst = {m: 100 * w.acc for m, w in worst_case(records).items()}
    strongest = min(("pgd40-max_average", "pgd40-routing", "autoattack-routed"), key=lambda a: ata[f"m.rdi|{a}"])
    assert rdi[2] == f"{ata['m.rdi|pgd40-max_average']:.2f} (pgd40-max_average)" and rdi[3] == strongest
    assert rdi[5] == f"{ata['m.rdi|autoattack-routed']:.2f}" and rdi[6] == f"{worst['m.rdi']:.2f}"
    assert rdi[7] == f"{ata['m.rdi|pgd40-max_average'] - worst['m.rdi']:.2f}"
    assert flat[2] == f"{ata['m.static|pgd40-single']:.2f} (pgd40-single)" and flat[5] == "n/a"
    assert strength_grid(summarize(model_cells("m.a", {"fgsm-average": 0.9}, seed=2))) is None
