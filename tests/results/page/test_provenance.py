"""Provenance and value text read from a manifest: identity fields, grouped data checksums, no machine paths."""

from __future__ import annotations

from rdibench.results.page import data_sources, describe, run_facts, seeds, versions
from rdibench.results.page.provenance import NOT_RECORDED

DATA = {"label": "MNIST", "source": "torchvision", "n": 10000, "selection_sha256": "3da9", "source_checksum": "md5:f6"}
MANIFEST = {
    "suite_name": "paper_table_mnist",
    "suite_source": {"path": "/home/someone/checkout/suites/paper.yaml", "sha256": "0525"},
    "git": {"commit": "18c0a88b", "dirty": True},
    "cells": {"total": 3, "ok": 2, "failed": 1, "pending": 1},
    "grown": [{"from_config_hash": "1616dab8aa", "added_models": ["m", "n"]}],
    "versions": {"torch": "2.4", "numpy": "2.0"},
    "seeds": {"a": 7, "b": 8},
    "data": {
        "a": {**DATA, "location": "/root/.cache/rdibench/data"},
        "b": {**DATA, "location": "/somewhere/else"},
        "c": {**DATA, "label": "CIFAR-10 (JPEG q75 copy, lossy)", "lossy": True, "selection_sha256": "77aa"},
    },
}


def test_facts_name_the_run_without_machine_paths():
    facts = dict(run_facts(MANIFEST))
    assert facts["suite file"] == "paper.yaml (sha256 0525)"
    assert facts["git commit"] == "18c0a88b" and facts["working tree"].startswith("DIRTY")
    assert facts["cells at the last finish"] == "2 ok, 1 failed, 1 pending"
    assert facts["description"] == NOT_RECORDED
    assert facts["suite grew"] == "from 1616dab8: + m, n" and dict(run_facts({}))["suite grew"] == "no"
    reworded = {"grown": [*MANIFEST["grown"], {"from_config_hash": "77aa01bc", "added_models": []}]}
    assert dict(run_facts(reworded))["suite grew"] == "from 1616dab8: + m, n; from 77aa01bc: + description only"
    assert not any("/home/" in v or "/root/" in v for v in facts.values())


def test_data_sources_group_identical_selections():
    groups = data_sources(MANIFEST)
    assert [(g.label, g.models, g.lossy) for g in groups] == [
        ("MNIST", ("a", "b"), False),
        ("CIFAR-10 (JPEG q75 copy, lossy)", ("c",), True),
    ]
    assert "location" not in repr(groups)


def test_versions_and_seeds():
    assert versions(MANIFEST) == [("numpy", "2.0"), ("torch", "2.4")]
    assert seeds(MANIFEST) == [("a", "7"), ("b", "8")]
    assert run_facts({})[0] == ("suite", NOT_RECORDED) and versions({}) == [] and data_sources({}) == []


def test_describe_is_short_and_exact():
    record = {"protocol": "held-out", "base": [0.011227220296859741, 0.5], "n": 5000, "offset": None, "ok": True}
    assert describe(record) == "protocol held-out; base [0.01123, 0.5]; n 5000; ok yes"
    assert describe({"fit": {"scale": [3.0, 4.0]}}) == "fit (scale [3, 4])"
    assert describe(None) == "none" and describe({}) == "none"
