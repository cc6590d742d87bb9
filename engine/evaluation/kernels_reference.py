"""Plain-Python twins of ``engine.evaluation.kernels``: the same names and contracts, the obvious slow way.

The tests run both on random inputs and compare; nothing in the engine calls these.
"""

from __future__ import annotations

import math

import numpy as np

from engine.evaluation.kernels import NO_BUCKET
from engine.kernels_reference import argsort_radix, average_ranks


def _ranks(values: list[float]) -> list[float]:
    x = np.array(values, dtype=np.float64)
    return average_ranks(x, argsort_radix(x)).tolist()


def rank_ic(factor: np.ndarray, returns: np.ndarray, min_names: int) -> tuple[list[float], list[int]]:
    """Twin of ``kernels.rank_ic``."""
    ics, counts = [], []
    for f_row, r_row in zip(factor.tolist(), returns.tolist(), strict=True):
        pairs = [(f, r) for f, r in zip(f_row, r_row, strict=True) if not (math.isnan(f) or math.isnan(r))]
        counts.append(len(pairs))
        if len(pairs) < max(min_names, 2):
            ics.append(math.nan)
            continue
        x = _ranks([p[0] for p in pairs])
        y = _ranks([p[1] for p in pairs])
        mx, my = sum(x) / len(x), sum(y) / len(y)
        sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
        sxx = sum((a - mx) ** 2 for a in x)
        syy = sum((b - my) ** 2 for b in y)
        ics.append(math.nan if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy))
    return ics, counts


def zero_aware_buckets(factor: np.ndarray, sign: np.ndarray, quantiles: int) -> list[list[int]]:
    """Twin of ``kernels.zero_aware_buckets``."""
    out = []
    for f_row, s_row in zip(factor.tolist(), sign.tolist(), strict=True):
        row = [NO_BUCKET] * len(f_row)
        for j, (f, s) in enumerate(zip(f_row, s_row, strict=True)):
            if not (math.isnan(f) or math.isnan(s)) and s == 0:
                row[j] = quantiles
        for side in (-1, 1):
            idx = [
                j
                for j, (f, s) in enumerate(zip(f_row, s_row, strict=True))
                if not (math.isnan(f) or math.isnan(s)) and (s < 0 if side < 0 else s > 0)
            ]
            ranks = _ranks([side * f_row[j] for j in idx])
            for j, r in zip(idx, ranks, strict=True):
                q = min(max(math.ceil(quantiles * r / len(idx) - 1e-12), 1), quantiles)
                row[j] = quantiles - q if side < 0 else quantiles + q
        out.append(row)
    return out


def bucket_means(buckets: np.ndarray, returns: np.ndarray, n_buckets: int) -> tuple[list, list]:
    """Twin of ``kernels.bucket_means``."""
    means, counts = [], []
    for b_row, r_row in zip(buckets.tolist(), returns.tolist(), strict=True):
        groups: list[list[float]] = [[] for _ in range(n_buckets)]
        for b, r in zip(b_row, r_row, strict=True):
            if b >= 0 and not math.isnan(r):
                groups[b].append(r)
        means.append([sum(g) / len(g) if g else math.nan for g in groups])
        counts.append([len(g) for g in groups])
    return means, counts
