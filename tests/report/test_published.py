"""Published numbers beside a run's: each row shows the run's measured value next to the cited one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdibench.core.errors import ConfigError
from rdibench.report.published import beside_markdown, load_published
from rdibench.report.summary import summarize
from tests.conftest import REPO
from tests.results.factory import model_cells

REFERENCE = """\
rows:
  - {model: m.a, attack: clean, ta: 99.5, source: log}
  - {model: m.a, attack: pgd40-average, ata: 97.4, mflops: 4.0, source: table 2, setting: PGD-40 training}
  - {model: m.b, attack: pgd40-average, ata: 90.0, source: table 2}
"""


def test_the_run_value_stands_next_to_the_published_one(tmp_path: Path) -> None:
    path = tmp_path / "ref.yaml"
    path.write_text(REFERENCE)
    records = model_cells("m.a", {"pgd40-average": 0.8}, seed=0)
    ours = summarize(records)[0]
    rows = beside_markdown(summarize(records), load_published(path)).splitlines()[2:]
    clean, attack, absent = (r.split(" | ") for r in rows)
    assert clean[2:4] == [f"{100 * ours.ta:.2f}", "99.50"]
    assert attack[4:8] == [
        f"{100 * ours.attacks[0].ata:.2f}",
        "97.40",
        f"{ours.attacks[0].mflops_paper_adv:.2f}",
        "4.00",
    ]
    assert attack[8].startswith("table 2; PGD-40 training")
    assert absent[2] == absent[4] == "n/a", "a model the run lacks shows n/a, it does not vanish"


def test_a_bad_reference_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "ref.yaml"
    path.write_text(REFERENCE.replace("ata: 90.0", "ata: 190.0"))
    with pytest.raises(ConfigError, match=r"ref.yaml:4: rows.2.ata: Input should be less than or equal to 100"):
        load_published(path)


def test_the_committed_reference_files_validate() -> None:
    for path in (REPO / "results" / "reference").glob("published_*.yaml"):
        assert load_published(path).rows
