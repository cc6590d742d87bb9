"""Numba kernels of the factor tear sheet, on dense (date x security) panels.

Missing cells are NaN. Ranks are 1-based average ranks (``engine.kernels.average_ranks``: ties share
the mean of their positions), so a mostly-constant factor gets a well-defined rank correlation.
Plain-Python twins with the same names live in ``engine.evaluation.kernels_reference``.
"""

from __future__ import annotations

import math

import numpy as np

from engine.jit import frozen, inlined, kernel, run_chunks
from engine.kernels import argsort_radix, average_ranks

NO_BUCKET = -1


@inlined
def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of values without NaN."""
    return average_ranks(values, argsort_radix(values))


@inlined
def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    n = x.shape[0]
    mx = 0.0
    my = 0.0
    for i in range(n):
        mx += x[i]
        my += y[i]
    mx /= n
    my /= n
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
        return math.nan
    return sxy / math.sqrt(sxx * syy)


def rank_ic(factor: np.ndarray, returns: np.ndarray, min_names: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: Spearman correlation of factor and return over the cells where both are present.

    NaN where fewer than ``min_names`` cells or either side is constant. Returns ``(ic, n)``.
    """
    ic = np.full(factor.shape[0], np.nan)
    count = np.zeros(factor.shape[0], dtype=np.int64)
    args = (frozen(factor, np.float64), frozen(returns, np.float64), max(int(min_names), 2), ic, count)
    run_chunks(_rank_ic, factor.shape[0], *args)
    return ic, count


@kernel
def _rank_ic(
    factor: np.ndarray,
    returns: np.ndarray,
    min_names: int,
    ic: np.ndarray,
    count: np.ndarray,
    first: int,
    last: int,
) -> None:
    """``rank_ic`` for rows ``first:last``, into ``ic`` and ``count``."""
    width = factor.shape[1]
    x = np.empty(width, dtype=np.float64)
    y = np.empty(width, dtype=np.float64)
    for t in range(first, last):
        n = 0
        for j in range(width):
            if not (math.isnan(factor[t, j]) or math.isnan(returns[t, j])):
                x[n] = factor[t, j]
                y[n] = returns[t, j]
                n += 1
        count[t] = n
        if n >= min_names:
            ic[t] = _pearson(_ranks(x[:n]), _ranks(y[:n]))


def zero_aware_buckets(factor: np.ndarray, sign: np.ndarray, quantiles: int) -> np.ndarray:
    """Bucket codes per cell: ``0..q-1`` negatives (0 most negative), ``q`` zero, ``q+1..2q`` positives
    (2q most positive), -1 where the factor or its sign is missing.

    The sign of ``sign`` picks negative / zero / positive. Within each non-zero side, a name's strength
    is ``ceil(q * r / n)`` where r is its average rank by distance from zero among the side's n names:
    tied values share a bucket, and with fewer names than quantiles the extreme buckets fill first.
    """
    out = np.full(factor.shape, NO_BUCKET, dtype=np.int8)
    args = (frozen(factor, np.float64), frozen(sign, np.float64), int(quantiles), out)
    run_chunks(_zero_aware_buckets, factor.shape[0], *args)
    return out


@kernel
def _zero_aware_buckets(
    factor: np.ndarray, sign: np.ndarray, quantiles: int, out: np.ndarray, first: int, last: int
) -> None:
    """``zero_aware_buckets`` for rows ``first:last``, into ``out``."""
    width = factor.shape[1]
    idx = np.empty(width, dtype=np.int64)
    values = np.empty(width, dtype=np.float64)
    for t in range(first, last):
        for side in (-1, 1):
            n = 0
            for j in range(width):
                f = factor[t, j]
                s = sign[t, j]
                if math.isnan(f) or math.isnan(s):
                    continue
                if s == 0.0:
                    out[t, j] = quantiles
                elif (s < 0.0) == (side < 0):
                    idx[n] = j
                    values[n] = side * f
                    n += 1
            if n == 0:
                continue
            ranks = _ranks(values[:n])
            for m in range(n):
                q = min(max(math.ceil(quantiles * ranks[m] / n - 1e-12), 1), quantiles)
                out[t, idx[m]] = quantiles - q if side < 0 else quantiles + q


def bucket_means(buckets: np.ndarray, returns: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and bucket: mean return over the bucket's cells with a return, and their count (sums
    accumulate in row order, as a loop over the cells would)."""
    rows = buckets.shape[0]
    valid = (buckets >= 0) & ~np.isnan(returns)
    cell = (np.arange(rows)[:, None] * n_buckets + buckets)[valid]
    sums = np.bincount(cell, weights=returns[valid], minlength=rows * n_buckets).reshape(rows, n_buckets)
    counts = np.bincount(cell, minlength=rows * n_buckets).reshape(rows, n_buckets).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan), counts


def warm_up() -> None:
    """Compile (or load from the cache) every kernel of this module, on a one-row input."""
    rank_ic(np.ones((1, 2)), np.ones((1, 2)), 2)
    zero_aware_buckets(np.ones((1, 1)), np.ones((1, 1)), 1)
