"""The two tests a change must pass before compare calls it a regression: size, then significance."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.stats import binomtest


def binomial_tolerance(p: float, n: int, *, k: float = 2.0) -> float:
    """``k`` binomial standard errors of an accuracy ``p`` measured on ``n`` samples.

    ``p`` is clipped to ``[1/n, 1 - 1/n]``: at 100 % accuracy the standard error is 0, and a single flipped
    sample would otherwise count as beyond tolerance.
    """
    lo = min(1.0 / max(n, 1), 0.5)
    p = min(max(p, lo), 1.0 - lo)
    return k * math.sqrt(p * (1.0 - p) / max(n, 1))


def mcnemar_p(correct_a: npt.NDArray[np.bool_], correct_b: npt.NDArray[np.bool_]) -> float:
    """Exact two-sided McNemar p-value for paired per-sample outcomes of the same images.

    Only the discordant pairs carry information: under "no change" a sample that flipped is equally likely
    to have flipped either way, so the count of A-right/B-wrong among them is Binomial(discordant, 1/2).
    """
    worse = int(np.count_nonzero(correct_a & ~correct_b))
    better = int(np.count_nonzero(~correct_a & correct_b))
    if worse + better == 0:
        return 1.0
    return float(binomtest(worse, worse + better, 0.5).pvalue)
