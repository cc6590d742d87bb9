"""Plain-Python twins of ``engine.scoring.cross_section``: the same names and contracts, the obvious slow
way. The tests run both on random inputs and compare; nothing in the engine calls these.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels_reference import argsort_radix, average_ranks


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def zscore_moments(values, ddof):
    """Twin of ``cross_section.zscore_moments``."""
    n = len(values)
    if n < 2 or n - ddof < 1 or max(values) == min(values):
        return math.nan, math.nan
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - ddof))
    return mean, std if std > 0 else math.nan


def _zscore(values: list[float], ddof: int) -> list[float]:
    mean, std = zscore_moments(values, ddof)
    if math.isnan(std):
        return [0.0] * len(values)
    return [(v - mean) / std for v in values]


def scored_values(x, winsorize, rank):
    """Twin of ``cross_section.scored_values``."""
    x = [float(v) for v in x]
    if winsorize > 0:
        lo, hi = _quantile(x, winsorize), _quantile(x, 1 - winsorize)
        x = [min(max(v, lo), hi) for v in x]
    ranks = average_ranks(np.array(x), argsort_radix(np.array(x))).tolist()
    return (ranks if rank else x), ranks


def cross_section(raw, date_ptr, ddof, winsorize, rank):
    """Twin of ``cross_section.cross_section``."""
    insider = np.full(len(raw), np.nan)
    pct = np.full(len(raw), np.nan)
    for d in range(len(date_ptr) - 1):
        rows = [r for r in range(date_ptr[d], date_ptr[d + 1]) if not math.isnan(raw[r])]
        if not rows:
            continue
        values, ranks = scored_values([raw[r] for r in rows], winsorize, rank)
        z = _zscore(values, ddof)
        for j, r in enumerate(rows):
            insider[r] = z[j]
            pct[r] = ranks[j] / len(rows)
    return insider, pct
