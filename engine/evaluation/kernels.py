"""Numba kernels of the factor tear sheet, on dense (date x security) panels, each with a plain-Python twin.

Missing cells are NaN. Ranks are 1-based average ranks (ties share the mean of their positions), so a
mostly-constant factor gets a well-defined rank correlation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NO_BUCKET = -1


@njit(cache=True)
def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, ties given the average of the positions they span."""
    n = len(values)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = 0.5 * (i + j) + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


@njit(cache=True)
def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    mx = x.sum() / n
    my = y.sum() / n
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(n):
        dx = x[i] - mx
        dy = y[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx == 0.0 or syy == 0.0:
        return np.nan
    return sxy / math.sqrt(sxx * syy)


@njit(cache=True)
def rank_ic(factor: np.ndarray, returns: np.ndarray, min_names: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: Spearman correlation of factor and return over the cells where both are present.

    NaN where fewer than ``min_names`` cells or either side is constant. Returns ``(ic, n)``.
    """
    rows = factor.shape[0]
    ic = np.full(rows, np.nan)
    count = np.zeros(rows, dtype=np.int64)
    for t in range(rows):
        mask = ~np.isnan(factor[t]) & ~np.isnan(returns[t])
        n = int(mask.sum())
        count[t] = n
        if n < max(min_names, 2):
            continue
        ic[t] = _pearson(average_ranks(factor[t][mask]), average_ranks(returns[t][mask]))
    return ic, count


@njit(cache=True)
def zero_aware_buckets(factor: np.ndarray, sign: np.ndarray, quantiles: int) -> np.ndarray:
    """Bucket codes per cell: ``0..q-1`` negatives (0 most negative), ``q`` zero, ``q+1..2q`` positives
    (2q most positive), -1 where the factor or its sign is missing.

    The sign of ``sign`` picks negative / zero / positive. Within each non-zero side, a name's strength
    is ``ceil(q * r / n)`` where r is its average rank by distance from zero among the side's n names:
    tied values share a bucket, and with fewer names than quantiles the extreme buckets fill first.
    """
    out = np.full(factor.shape, NO_BUCKET, dtype=np.int8)
    for t in range(factor.shape[0]):
        present = ~np.isnan(factor[t]) & ~np.isnan(sign[t])
        for j in range(factor.shape[1]):
            if present[j] and sign[t, j] == 0.0:
                out[t, j] = quantiles
        for side in (-1, 1):
            idx = np.nonzero(present & ((sign[t] < 0.0) if side < 0 else (sign[t] > 0.0)))[0]
            n = len(idx)
            if n == 0:
                continue
            ranks = average_ranks(side * factor[t][idx])
            for m in range(n):
                q = min(max(math.ceil(quantiles * ranks[m] / n - 1e-12), 1), quantiles)
                out[t, idx[m]] = quantiles - q if side < 0 else quantiles + q
    return out


@njit(cache=True)
def bucket_means(buckets: np.ndarray, returns: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and bucket: mean return over the bucket's cells with a return, and their count."""
    rows = buckets.shape[0]
    sums = np.zeros((rows, n_buckets))
    counts = np.zeros((rows, n_buckets), dtype=np.int64)
    for t in range(rows):
        for j in range(buckets.shape[1]):
            b = buckets[t, j]
            r = returns[t, j]
            if b >= 0 and not np.isnan(r):
                sums[t, b] += r
                counts[t, b] += 1
    means = np.full((rows, n_buckets), np.nan)
    for t in range(rows):
        for b in range(n_buckets):
            if counts[t, b] > 0:
                means[t, b] = sums[t, b] / counts[t, b]
    return means, counts


def average_ranks_py(values: list[float]) -> list[float]:
    """Plain-Python twin of ``average_ranks``."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_ic_py(factor: np.ndarray, returns: np.ndarray, min_names: int) -> tuple[list[float], list[int]]:
    """Plain-Python twin of ``rank_ic``."""
    ics, counts = [], []
    for f_row, r_row in zip(factor.tolist(), returns.tolist(), strict=True):
        pairs = [(f, r) for f, r in zip(f_row, r_row, strict=True) if not (math.isnan(f) or math.isnan(r))]
        counts.append(len(pairs))
        if len(pairs) < max(min_names, 2):
            ics.append(math.nan)
            continue
        x = average_ranks_py([p[0] for p in pairs])
        y = average_ranks_py([p[1] for p in pairs])
        mx, my = sum(x) / len(x), sum(y) / len(y)
        sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
        sxx = sum((a - mx) ** 2 for a in x)
        syy = sum((b - my) ** 2 for b in y)
        ics.append(math.nan if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy))
    return ics, counts


def zero_aware_buckets_py(factor: np.ndarray, sign: np.ndarray, quantiles: int) -> list[list[int]]:
    """Plain-Python twin of ``zero_aware_buckets``."""
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
            ranks = average_ranks_py([side * f_row[j] for j in idx])
            for j, r in zip(idx, ranks, strict=True):
                q = min(max(math.ceil(quantiles * r / len(idx) - 1e-12), 1), quantiles)
                row[j] = quantiles - q if side < 0 else quantiles + q
        out.append(row)
    return out


def bucket_means_py(buckets: np.ndarray, returns: np.ndarray, n_buckets: int) -> tuple[list, list]:
    """Plain-Python twin of ``bucket_means``."""
    means, counts = [], []
    for b_row, r_row in zip(buckets.tolist(), returns.tolist(), strict=True):
        groups: list[list[float]] = [[] for _ in range(n_buckets)]
        for b, r in zip(b_row, r_row, strict=True):
            if b >= 0 and not math.isnan(r):
                groups[b].append(r)
        means.append([sum(g) / len(g) if g else math.nan for g in groups])
        counts.append([len(g) for g in groups])
    return means, counts
