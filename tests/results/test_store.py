"""RunDir: never overwritten, atomic appends, tolerant of a crash's partial line, strict about corruption."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from rdibench.core.errors import ResultsError
from rdibench.results import SCHEMA_VERSION, RunDir
from tests.results.factory import failed_cell, make_run, model_cells

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
HASH = "deadbeef" * 8


def cells_text(run: RunDir) -> str:
    return (run.path / "cells.jsonl").read_text()


def test_two_creates_in_the_same_second_get_two_directories(tmp_path):
    a = RunDir.create(tmp_path, "quick", HASH, {"notes": "a"}, now=NOW)
    b = RunDir.create(tmp_path, "quick", HASH, {"notes": "b"}, now=NOW)
    assert a.path == tmp_path / "quick" / "20240501T120000Z-deadbeef"
    assert b.path == tmp_path / "quick" / "20240501T120000Z-deadbeef-2"
    assert RunDir.open(a.path).manifest["notes"] == "a"
    assert RunDir.open(b.path).manifest["notes"] == "b"


def test_manifest_is_completed_and_reopened(tmp_path):
    run = RunDir.create(tmp_path, "quick", HASH, {"seed": 7}, now=NOW)
    m = RunDir.open(run.path).manifest
    assert m["schema_version"] == SCHEMA_VERSION
    assert (m["suite_name"], m["config_hash"], m["seed"]) == ("quick", HASH, 7)
    assert (m["started_at"], m["finished_at"]) == ("2024-05-01T12:00:00Z", None)
    assert not list(run.path.glob(".*tmp*")), "atomic write left a temporary file"


@pytest.mark.parametrize("suite", ["", "../up", "a/b", ".hidden"])
def test_unsafe_suite_names_are_refused(tmp_path, suite):
    with pytest.raises(ResultsError, match="suite name"):
        RunDir.create(tmp_path, suite, HASH, {})


def test_open_refuses_a_directory_without_manifest(tmp_path):
    with pytest.raises(ResultsError, match="not a result directory"):
        RunDir.open(tmp_path)


def test_open_refuses_a_newer_schema(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ResultsError, match="upgrade rdibench"):
        RunDir.open(tmp_path)


def test_appended_cells_read_back_in_order(tmp_path):
    records = model_cells("m.a", {"pgd40-average": 0.8}, seed=0)
    run = make_run(tmp_path, records)
    assert RunDir.open(run.path).cells() == records
    assert all(line.endswith("}") for line in cells_text(run).splitlines())


def test_truncated_last_line_is_ignored_then_cut_by_the_next_append(tmp_path):
    first, second = model_cells("m.a", {"pgd40-average": 0.8}, seed=0)
    run = make_run(tmp_path, [first], finish=False)
    with open(run.path / "cells.jsonl", "a") as f:
        f.write(json.dumps(second)[:100])  # a crash in the middle of an append
    assert RunDir.open(run.path).cells() == [first]
    run.append_cell(second)
    assert run.cells() == [first, second]
    assert len(cells_text(run).splitlines()) == 2


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    records = model_cells("m.a", {"pgd40-average": 0.8, "pgd40-exit0": 0.9}, seed=0)
    run = make_run(tmp_path, records)
    lines = cells_text(run).splitlines(keepends=True)
    lines[1] = lines[1][:50] + "\n"
    (run.path / "cells.jsonl").write_text("".join(lines))
    with pytest.raises(ResultsError, match=r"cells\.jsonl:2: corrupt"):
        run.cells()


def test_latest_record_wins_and_failed_cells_are_not_finished(tmp_path):
    clean, attack = model_cells("m.a", {"pgd40-average": 0.8}, seed=0)
    run = make_run(tmp_path, [failed_cell("m.a", "pgd40-average"), clean, failed_cell("m.b", "pgd40-average")])
    assert run.finished_keys() == {clean["key"]}
    assert RunDir.open(run.path).manifest["cells"] == {
        "total": 3,
        "ok": 1,
        "failed": 2,
        "pending": 2,
    }  # failed = not done
    run.append_cell(attack)  # the resumed run retried it
    assert run.finished_keys() == {clean["key"], attack["key"]}
    assert [c["key"] for c in run.cells()] == ["m.a|clean", "m.b|pgd40-average", "m.a|pgd40-average"]


def test_finish_stamps_the_end_time(tmp_path):
    run = make_run(tmp_path, model_cells("m.a", {}, seed=0))
    assert RunDir.open(run.path).manifest["finished_at"].endswith("Z")


@pytest.mark.parametrize(
    "bad", [{"status": "ok"}, {"key": "m|a", "status": "done"}, {"key": "m|a", "status": "ok", "x": float("nan")}]
)
def test_append_refuses_malformed_records(tmp_path, bad):
    run = RunDir.create(tmp_path, "quick", HASH, {})
    with pytest.raises(ResultsError):
        run.append_cell(bad)
    assert run.cells() == []


@pytest.mark.parametrize("name", ["../escape.md", "/abs.md", "manifest.json", "cells.jsonl"])
def test_artifacts_stay_inside_the_run_and_off_its_records(tmp_path, name):
    run = RunDir.create(tmp_path, "quick", HASH, {})
    with pytest.raises(ResultsError, match="artifact name"):
        run.write_artifact(name, "x")


def test_artifact_written_atomically_in_subfolder(tmp_path):
    run = RunDir.create(tmp_path, "quick", HASH, {})
    path = run.write_artifact("plots/a.png", b"\x89PNG")
    assert path == run.path / "plots" / "a.png" and path.read_bytes() == b"\x89PNG"
