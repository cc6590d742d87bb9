"""numba kernels of the cross-section (SCORING.md section 8): per date, the z-score of raw over the
issuers whose raw is known (or of its winsorised values or average ranks), and each row's percentile.

Dates are the rows ``date_ptr[d]:date_ptr[d + 1]`` of the date-major row space of
``engine.scoring.kernels``; chunks of dates run on threads (``engine.jit.run_chunks``). Plain-Python
twins live in ``engine.scoring.cross_section_reference``, under the same names.
"""

from __future__ import annotations

import math

import numpy as np

from engine.jit import frozen, inlined, kernel, run_chunks
from engine.kernels import argsort_radix, average_ranks


@inlined
def _quantile(sorted_values: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile of sorted values (NumPy's default method)."""
    h = (sorted_values.shape[0] - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, sorted_values.shape[0] - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


@inlined
def zscore_moments(values: np.ndarray, ddof: int) -> tuple[float, float]:
    """The mean and std a z-score divides by; std is NaN (every z is 0) when there are fewer than two
    values, all values are equal, or no degrees of freedom are left."""
    n = values.shape[0]
    low = high = total = values[0] if n else 0.0
    for j in range(1, n):
        low = min(low, values[j])
        high = max(high, values[j])
        total += values[j]
    if n < 2 or n - ddof < 1 or high == low:
        return np.nan, np.nan
    mean = total / n
    squares = 0.0
    for j in range(n):
        squares += (values[j] - mean) * (values[j] - mean)
    std = math.sqrt(squares / (n - ddof))
    return mean, (std if std > 0.0 else np.nan)


@inlined
def _zscore(values: np.ndarray, ddof: int) -> np.ndarray:
    """(v - mean) / std; all zeros when ``zscore_moments`` finds no spread."""
    mean, std = zscore_moments(values, ddof)
    z = np.empty(values.shape[0], dtype=np.float64)
    for j in range(values.shape[0]):
        z[j] = 0.0 if math.isnan(std) else (values[j] - mean) / std
    return z


@inlined
def _sparse_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks sorting only the non-zero values: zeros (most issuers on most dates) are one
    tie block between the negatives and the positives."""
    nonzero = np.empty(x.shape[0], dtype=np.int64)
    m = 0
    n_negative = 0
    for j in range(x.shape[0]):
        if x[j] != 0.0:
            nonzero[m] = j
            m += 1
            n_negative += x[j] < 0.0
    values = np.empty(m, dtype=np.float64)
    for q in range(m):
        values[q] = x[nonzero[q]]
    sub = average_ranks(values, argsort_radix(values))
    n_zero = x.shape[0] - m
    ranks = np.empty(x.shape[0], dtype=np.float64)
    for j in range(x.shape[0]):
        ranks[j] = n_negative + (n_zero + 1) / 2.0
    for q in range(m):
        ranks[nonzero[q]] = sub[q] + (n_zero if values[q] > 0.0 else 0)
    return ranks


@inlined
def scored_values(x: np.ndarray, winsorize: float, rank: bool) -> tuple[np.ndarray, np.ndarray]:
    """One date's non-null raw values (``x``, clipped in place) to the values its z-score is taken of (raw,
    raw clipped to its ``[winsorize, 1 - winsorize]`` quantiles, or their average ranks) and the ranks."""
    n = x.shape[0]
    if winsorize > 0.0:
        order = argsort_radix(x)
        sorted_x = np.empty(n, dtype=np.float64)
        for j in range(n):
            sorted_x[j] = x[order[j]]
        low = _quantile(sorted_x, winsorize)
        high = _quantile(sorted_x, 1.0 - winsorize)
        for j in range(n):
            x[j] = min(max(x[j], low), high)
        ranks = average_ranks(x, order)
    else:
        ranks = _sparse_ranks(x)
    return (ranks if rank else x), ranks


def cross_section(
    raw: np.ndarray, date_ptr: np.ndarray, ddof: int, winsorize: float, rank: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per date: ``insider`` (z-score of raw, optionally winsorised at quantile ``winsorize`` or of the
    average ranks) and ``pct`` (average rank / n of insider); NaN raw is left out and stays NaN."""
    insider = np.empty(raw.shape[0])
    pct = np.empty(raw.shape[0])
    options = (int(ddof), float(winsorize), bool(rank))
    args = (frozen(raw, np.float64), frozen(date_ptr, np.int64), *options, insider, pct)
    run_chunks(_cross_section, date_ptr.shape[0] - 1, *args)
    return insider, pct


@kernel
def _cross_section(
    raw: np.ndarray,
    date_ptr: np.ndarray,
    ddof: int,
    winsorize: float,
    rank: bool,
    insider: np.ndarray,
    pct: np.ndarray,
    first: int,
    last: int,
) -> None:
    """``cross_section`` for dates ``first:last``, into ``insider`` and ``pct``."""
    for d in range(first, last):
        rows = np.empty(date_ptr[d + 1] - date_ptr[d], dtype=np.int64)
        n = 0
        for r in range(date_ptr[d], date_ptr[d + 1]):
            if math.isnan(raw[r]):
                insider[r] = np.nan
                pct[r] = np.nan
            else:
                rows[n] = r
                n += 1
        if n == 0:
            continue
        x = np.empty(n, dtype=np.float64)
        for j in range(n):
            x[j] = raw[rows[j]]
        values, ranks = scored_values(x, winsorize, rank)
        z = _zscore(values, ddof)
        for j in range(n):
            insider[rows[j]] = z[j]
            pct[rows[j]] = ranks[j] / n


def warm_up() -> None:
    """Compile (or load from the cache) every kernel of this module, on a one-row input."""
    cross_section(np.ones(1), np.array([0, 1]), 0, 0.0, False)
