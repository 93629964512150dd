"""Per-sample flags stored in a cell record: compact base64 text, so compare can run paired tests later.

Why base64 of packed arrays: a 10k-sample cell keeps its four flag arrays in ~12 kB of JSON, small
enough for one atomic ``cells.jsonl`` line, yet exact enough for McNemar and per-sample worst cases.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rdibench.core.errors import ResultsError

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.integer[Any]]

_EXIT_DTYPE = np.dtype("u1")
_INDEX_DTYPE = np.dtype("<i4")


def encode_bools(values: npt.ArrayLike) -> str:
    """Pack a 1-D bool array into base64 text (8 samples per byte, ``numpy.packbits`` bit order)."""
    return base64.b64encode(np.packbits(np.asarray(values, dtype=bool).ravel()).tobytes()).decode("ascii")


def decode_bools(text: str, n: int) -> BoolArray:
    """Inverse of :func:`encode_bools`; ``n`` drops the padding bits of the last byte."""
    packed = np.frombuffer(_b64decode(text), dtype=np.uint8)
    if len(packed) != (n + 7) // 8:
        raise ResultsError(f"packed flags hold {8 * len(packed)} bits, the record says n={n}; the record is corrupt")
    return np.unpackbits(packed, count=n).astype(bool)


def encode_exits(exits: npt.ArrayLike) -> str:
    """Exit indices (0 = shallowest) as base64 uint8; more than 256 exits is refused rather than wrapped."""
    arr = np.asarray(exits).ravel()
    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(_EXIT_DTYPE).max):
        raise ResultsError(f"exit indices must lie in [0, 255], got [{arr.min()}, {arr.max()}]")
    return base64.b64encode(arr.astype(_EXIT_DTYPE).tobytes()).decode("ascii")


def decode_exits(text: str) -> IntArray:
    return np.frombuffer(_b64decode(text), dtype=_EXIT_DTYPE).copy()


def encode_index(index: npt.ArrayLike) -> str:
    """Canonical sample indices as base64 little-endian int32, so two runs can check they saw the same images."""
    return base64.b64encode(np.asarray(index).ravel().astype(_INDEX_DTYPE).tobytes()).decode("ascii")


def decode_index(text: str) -> IntArray:
    return np.frombuffer(_b64decode(text), dtype=_INDEX_DTYPE).astype(np.int64)


def pack_flags(
    clean_correct: npt.ArrayLike, adv_correct: npt.ArrayLike, exit_clean: npt.ArrayLike, exit_adv: npt.ArrayLike
) -> dict[str, Any]:
    """The ``flags`` field of a cell record (what the evaluation layer stores for every finished cell)."""
    n = len(np.asarray(clean_correct).ravel())
    lengths = {len(np.asarray(a).ravel()) for a in (adv_correct, exit_clean, exit_adv)}
    if lengths != {n}:
        raise ResultsError(f"per-sample flag arrays differ in length ({sorted(lengths | {n})}); they must cover n={n}")
    return {
        "clean_correct": encode_bools(clean_correct),
        "adv_correct": encode_bools(adv_correct),
        "exit_clean": encode_exits(exit_clean),
        "exit_adv": encode_exits(exit_adv),
        "n": n,
    }


@dataclass(frozen=True)
class CellFlags:
    """Decoded per-sample flags of one cell; all arrays have length ``n`` and follow ``index``."""

    clean_correct: BoolArray
    adv_correct: BoolArray
    exit_clean: IntArray
    exit_adv: IntArray
    index: IntArray

    @property
    def n(self) -> int:
        return len(self.index)


def cell_flags(record: Mapping[str, Any]) -> CellFlags | None:
    """Decode a record's flags and index, or ``None`` when the record carries none (failed cell)."""
    flags, index = record.get("flags"), record.get("index")
    if not flags or index is None:
        return None
    try:
        n = int(flags["n"])
        decoded = CellFlags(
            clean_correct=decode_bools(flags["clean_correct"], n),
            adv_correct=decode_bools(flags["adv_correct"], n),
            exit_clean=decode_exits(flags["exit_clean"]),
            exit_adv=decode_exits(flags["exit_adv"]),
            index=decode_index(index),
        )
    except KeyError as e:
        raise ResultsError(f"cell {record.get('key')!r}: flags lack field {e}; the record is corrupt") from None
    if {len(decoded.exit_clean), len(decoded.exit_adv), decoded.n} != {n}:
        raise ResultsError(f"cell {record.get('key')!r}: flag arrays and index do not all have n={n} samples")
    return decoded


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise ResultsError(f"per-sample flags are not valid base64 ({e}); the cell record is corrupt") from None
