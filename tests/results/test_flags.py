"""Per-sample flags survive the base64 round trip exactly, and corrupt flags fail loudly."""

from __future__ import annotations

import numpy as np
import pytest

from rdibench.core.errors import ResultsError
from rdibench.results import cell_flags, pack_flags
from rdibench.results.flags import decode_bools, encode_bools, encode_exits, encode_index


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 500])
def test_round_trip(n):
    rng = np.random.default_rng(n)
    clean, adv = rng.random(n) < 0.9, rng.random(n) < 0.5
    exits, index = rng.integers(0, 7, n), rng.choice(10_000, n, replace=False)
    record = {"key": "m|a", "flags": pack_flags(clean, adv, exits, exits[::-1]), "index": encode_index(index)}
    flags = cell_flags(record)
    assert flags is not None and flags.n == n
    np.testing.assert_array_equal(flags.clean_correct, clean)
    np.testing.assert_array_equal(flags.adv_correct, adv)
    np.testing.assert_array_equal(flags.exit_clean, exits)
    np.testing.assert_array_equal(flags.exit_adv, exits[::-1])
    np.testing.assert_array_equal(flags.index, index)


def test_records_without_flags_decode_to_none():
    assert cell_flags({"key": "m|a", "status": "failed"}) is None


def test_wrong_count_and_bad_base64_are_results_errors():
    with pytest.raises(ResultsError, match="n=20"):
        decode_bools(encode_bools(np.ones(8, bool)), 20)
    with pytest.raises(ResultsError, match="base64"):
        decode_bools("not base64!", 8)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ResultsError, match="differ in length"):
        pack_flags(np.ones(3, bool), np.ones(4, bool), np.zeros(3), np.zeros(3))
    with pytest.raises(ResultsError, match=r"\[0, 255\]"):
        encode_exits([0, 300])
