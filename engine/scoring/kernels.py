"""numba kernels of the score: pure functions of NumPy arrays over the whole universe at once.

Layout: events (trades, filings) are grouped per issuer in CSR form (``ptr[i]:ptr[i + 1]``) and sorted
by day within an issuer; days are integers (days since 1970-01-01); the score dates are one sorted
``grid``. Per-cell outputs go to a flat, date-major row space: ``pos[d, i]`` is the row of issuer ``i``
on date ``d``, or -1 when the issuer is not in that date's cross-section. Plain-Python twins of every
kernel live in ``engine.scoring.kernels_reference``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 128
"""Issuers per task of the per-issuer kernels: within a block, dates run in the outer loop so that
each date's rows are written as one contiguous run (the output is date-major)."""


@njit(cache=True)
def group_order(group: np.ndarray, day: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The permutation that sorts rows by group then day (stable), by two counting sorts, and the CSR
    offsets of the groups (``ptr[g]:ptr[g + 1]`` in sorted order)."""
    n = group.shape[0]
    ptr = np.zeros(n_groups + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    if n == 0:
        return order, ptr
    low = day.min()
    counts = np.zeros(day.max() - low + 2, dtype=np.int64)
    for i in range(n):
        counts[day[i] - low + 1] += 1
    for k in range(1, counts.shape[0]):
        counts[k] += counts[k - 1]
    by_day = np.empty(n, dtype=np.int64)
    for i in range(n):
        by_day[counts[day[i] - low]] = i
        counts[day[i] - low] += 1
    for i in range(n):
        ptr[group[i] + 1] += 1
    for g in range(n_groups):
        ptr[g + 1] += ptr[g]
    fill = ptr[:-1].copy()
    for j in range(n):
        i = by_day[j]
        order[fill[group[i]]] = i
        fill[group[i]] += 1
    return order, ptr


@njit(cache=True, parallel=True)
def sort_runs(order: np.ndarray, ptr: np.ndarray, day: np.ndarray, value: np.ndarray) -> None:
    """Within each group of ``order`` (``group_order``'s output), sort every run of rows of one day by
    ``value`` (NaN last), in place: a fixed order for same-day rows whatever order they came in. Runs are
    a few rows, so an insertion sort."""
    for g in prange(ptr.shape[0] - 1):
        k = ptr[g]
        while k < ptr[g + 1]:
            end = k + 1
            while end < ptr[g + 1] and day[order[end]] == day[order[k]]:
                end += 1
            for j in range(k + 1, end):
                row = order[j]
                v = value[row]
                i = j - 1
                while i >= k and (np.isnan(value[order[i]]) and not np.isnan(v) or value[order[i]] > v):
                    order[i + 1] = order[i]
                    i -= 1
                order[i + 1] = row
            k = end


@njit(cache=True, parallel=True)
def latest_filing(
    ptr: np.ndarray,
    day: np.ndarray,
    accepted: np.ndarray,
    tiebreak: np.ndarray,
    label: np.ndarray,
    grid: np.ndarray,
    lookback: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per date and issuer (``[d, i]``): the label of the most recent filing with ``day <= t`` (latest
    day, then largest ``accepted``, then largest ``tiebreak``; -1 if none) and whether a filing falls in
    ``[t - lookback, t]`` (the default universe of SCORING.md section 8)."""
    n_issuers = ptr.shape[0] - 1
    n_dates = grid.shape[0]
    labels = np.full((n_dates, n_issuers), -1, dtype=np.int32)
    member = np.zeros((n_dates, n_issuers), dtype=np.bool_)
    for block in prange((n_issuers + BLOCK - 1) // BLOCK):
        first = block * BLOCK
        last = min(first + BLOCK, n_issuers)
        p = ptr[first:last].copy()
        best = np.full(last - first, -1, dtype=np.int64)
        for d in range(n_dates):
            t = grid[d]
            for i in range(first, last):
                j = i - first
                k = p[j]
                b = best[j]
                while k < ptr[i + 1] and day[k] <= t:
                    if (
                        b < 0
                        or day[k] > day[b]
                        or accepted[k] > accepted[b]
                        or (accepted[k] == accepted[b] and tiebreak[k] > tiebreak[b])
                    ):
                        b = k
                    k += 1
                p[j] = k
                best[j] = b
                if b >= 0:
                    labels[d, i] = label[b]
                    member[d, i] = day[b] >= t - lookback
    return labels, member


@njit(cache=True, parallel=True)
def row_positions(member: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Date-major row numbers of the members: ``pos[d, i]`` (-1 outside), ``date_ptr`` (rows of date
    ``d`` are ``date_ptr[d]:date_ptr[d + 1]``, issuers in index order) and each row's issuer."""
    n_dates, n_issuers = member.shape
    counts = np.zeros(n_dates, dtype=np.int64)
    for d in prange(n_dates):
        c = 0
        for i in range(n_issuers):
            if member[d, i]:
                c += 1
        counts[d] = c
    date_ptr = np.zeros(n_dates + 1, dtype=np.int64)
    for d in range(n_dates):
        date_ptr[d + 1] = date_ptr[d] + counts[d]
    pos = np.full((n_dates, n_issuers), -1, dtype=np.int64)
    row_issuer = np.empty(date_ptr[n_dates], dtype=np.int32)
    for d in prange(n_dates):
        r = date_ptr[d]
        for i in range(n_issuers):
            if member[d, i]:
                pos[d, i] = r
                row_issuer[r] = i
                r += 1
    return pos, date_ptr, row_issuer


@njit(cache=True, parallel=True)
def row_values(matrix: np.ndarray, date_ptr: np.ndarray, row_issuer: np.ndarray) -> np.ndarray:
    """``matrix[d, i]`` for every row (date ``d``, issuer ``i``) of the date-major row space."""
    out = np.empty(row_issuer.shape[0], dtype=matrix.dtype)
    for d in prange(date_ptr.shape[0] - 1):
        for r in range(date_ptr[d], date_ptr[d + 1]):
            out[r] = matrix[d, row_issuer[r]]
    return out


@njit(cache=True, parallel=True)
def window_sums(
    ptr: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    term: np.ndarray,
    is_buy: np.ndarray,
    grid: np.ndarray,
    window: int,
    pos: np.ndarray,
    n_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flow-window sums per cell: an event counts on ``t`` when ``t - window < start <= t < end``
    (``end`` is exclusive: the day an amendment supersedes it, or later). A NaN ``term`` (no market cap)
    is counted in ``missing`` instead of the sums. Returns buys, sells, n_buys, n_sells, missing.

    An issuer's sums are kept from the last date they were added up and reused while no event has
    entered or left its window since (most dates: an issuer trades on few days), so a window is summed
    again only when it changed, always in the same order."""
    buys = np.zeros(n_rows, dtype=np.float64)
    sells = np.zeros(n_rows, dtype=np.float64)
    n_buys = np.zeros(n_rows, dtype=np.int32)
    n_sells = np.zeros(n_rows, dtype=np.int32)
    missing = np.zeros(n_rows, dtype=np.int32)
    n_issuers = ptr.shape[0] - 1
    for block in prange((n_issuers + BLOCK - 1) // BLOCK):
        first = block * BLOCK
        last = min(first + BLOCK, n_issuers)
        los = ptr[first:last].copy()
        his = ptr[first:last].copy()
        size = last - first
        kept_lo = np.full(size, -1, dtype=np.int64)
        kept_hi = np.full(size, -1, dtype=np.int64)
        kept_until = np.zeros(size, dtype=np.int64)
        kept_b = np.zeros(size, dtype=np.float64)
        kept_s = np.zeros(size, dtype=np.float64)
        kept_counts = np.zeros((size, 3), dtype=np.int32)
        for d in range(grid.shape[0]):
            t = grid[d]
            for i in range(first, last):
                j = i - first
                hi = his[j]
                while hi < ptr[i + 1] and start[hi] <= t:
                    hi += 1
                lo = los[j]
                while lo < hi and start[lo] <= t - window:
                    lo += 1
                his[j] = hi
                los[j] = lo
                row = pos[d, i]
                if row < 0 or lo == hi:
                    continue
                if lo != kept_lo[j] or hi != kept_hi[j] or t >= kept_until[j]:
                    b = 0.0
                    s = 0.0
                    nb = 0
                    ns = 0
                    m = 0
                    until = np.iinfo(np.int64).max
                    for e in range(lo, hi):
                        if t >= end[e]:
                            continue
                        until = min(until, end[e])
                        if is_buy[e]:
                            nb += 1
                        else:
                            ns += 1
                        if np.isnan(term[e]):
                            m += 1
                        elif is_buy[e]:
                            b += term[e]
                        else:
                            s += term[e]
                    kept_lo[j] = lo
                    kept_hi[j] = hi
                    kept_until[j] = until
                    kept_b[j] = b
                    kept_s[j] = s
                    kept_counts[j, 0] = nb
                    kept_counts[j, 1] = ns
                    kept_counts[j, 2] = m
                buys[row] = kept_b[j]
                sells[row] = kept_s[j]
                n_buys[row] = kept_counts[j, 0]
                n_sells[row] = kept_counts[j, 1]
                missing[row] = kept_counts[j, 2]
    return buys, sells, n_buys, n_sells, missing


@njit(cache=True, parallel=True)
def raw_scores(buys: np.ndarray, sells: np.ndarray, cluster: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``raw = (buys - sells) * (1 + ln(1 + cluster))`` per row, NaN where ``missing > 0`` (a trade in the
    window has no market cap). One parallel pass, the log read from a table of the cluster sizes."""
    n = buys.shape[0]
    scale = 1.0 + np.log(1.0 + np.arange(cluster.max() + 1 if n else 1))
    raw = np.empty(n, dtype=np.float64)
    for r in prange(n):
        raw[r] = np.nan if missing[r] > 0 else (buys[r] - sells[r]) * scale[cluster[r]]
    return raw


@njit(cache=True)
def _merged_intervals(start: np.ndarray, end: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted opens and closes of the union of ``[start, end)`` per key (one issuer's events sorted by
    start): at any day, the number of opens minus closes passed is the number of distinct active keys."""
    n = start.shape[0]
    order = np.argsort(key, kind="mergesort")
    opens = np.empty(n, dtype=np.int64)
    closes = np.empty(n, dtype=np.int64)
    m = 0
    j = 0
    while j < n:
        k = key[order[j]]
        lo = start[order[j]]
        hi = end[order[j]]
        j += 1
        while j < n and key[order[j]] == k:
            s = start[order[j]]
            e = end[order[j]]
            if s <= hi:
                hi = max(hi, e)
            else:
                if hi > lo:
                    opens[m] = lo
                    closes[m] = hi
                    m += 1
                lo = s
                hi = e
            j += 1
        if hi > lo:
            opens[m] = lo
            closes[m] = hi
            m += 1
    return np.sort(opens[:m]), np.sort(closes[:m])


@njit(cache=True, parallel=True)
def distinct_counts(
    ptr: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    key: np.ndarray,
    grid: np.ndarray,
    pos: np.ndarray,
    n_rows: int,
) -> np.ndarray:
    """Sliding distinct count per cell: the number of distinct ``key`` with an event active on ``t``
    (``start <= t < end``). Each key's intervals are merged first, so the count is a sweep over
    disjoint intervals, not a rescan of the window per date."""
    out = np.zeros(n_rows, dtype=np.int32)
    n_issuers = ptr.shape[0] - 1
    for block in prange((n_issuers + BLOCK - 1) // BLOCK):
        first = block * BLOCK
        last = min(first + BLOCK, n_issuers)
        opens = np.empty(ptr[last] - ptr[first], dtype=np.int64)
        closes = np.empty(ptr[last] - ptr[first], dtype=np.int64)
        bounds = np.zeros(last - first + 1, dtype=np.int64)
        for i in range(first, last):
            o, c = _merged_intervals(
                start[ptr[i] : ptr[i + 1]], end[ptr[i] : ptr[i + 1]], key[ptr[i] : ptr[i + 1]]
            )
            b = bounds[i - first]
            opens[b : b + o.shape[0]] = o
            closes[b : b + o.shape[0]] = c
            bounds[i - first + 1] = b + o.shape[0]
        po = bounds[:-1].copy()
        pc = bounds[:-1].copy()
        for d in range(grid.shape[0]):
            t = grid[d]
            for i in range(first, last):
                j = i - first
                while po[j] < bounds[j + 1] and opens[po[j]] <= t:
                    po[j] += 1
                while pc[j] < bounds[j + 1] and closes[pc[j]] <= t:
                    pc[j] += 1
                row = pos[d, i]
                if row >= 0:
                    out[row] = po[j] - pc[j]
    return out


@njit(cache=True)
def _average_ranks(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (sorted by ``order``), ties sharing their average rank."""
    n = values.shape[0]
    ranks = np.empty(n, dtype=np.float64)
    j = 0
    while j < n:
        k = j
        while k + 1 < n and values[order[k + 1]] == values[order[j]]:
            k += 1
        r = (j + k + 2) / 2.0
        for q in range(j, k + 1):
            ranks[order[q]] = r
        j = k + 1
    return ranks


@njit(cache=True)
def _quantile(sorted_values: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile of sorted values (NumPy's default method)."""
    h = (sorted_values.shape[0] - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, sorted_values.shape[0] - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


@njit(cache=True)
def zscore_moments(values: np.ndarray, ddof: int) -> tuple[float, float]:
    """The mean and std a z-score divides by; std is NaN (every z is 0) when there are fewer than two
    values, all values are equal, or no degrees of freedom are left."""
    n = values.shape[0]
    if n < 2 or n - ddof < 1 or values.max() == values.min():
        return np.nan, np.nan
    mean = values.sum() / n
    dev = values - mean
    std = np.sqrt((dev * dev).sum() / (n - ddof))
    return mean, std if std > 0.0 else np.nan


@njit(cache=True)
def _zscore(values: np.ndarray, ddof: int) -> np.ndarray:
    """(v - mean) / std; all zeros when ``zscore_moments`` finds no spread."""
    mean, std = zscore_moments(values, ddof)
    if np.isnan(std):
        return np.zeros(values.shape[0], dtype=np.float64)
    return (values - mean) / std


_SIGN = np.uint64(1 << 63)
_BYTE = np.uint64(255)


@njit(cache=True)
def argsort_radix(x: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of finite floats by an LSD radix sort of their bits (8 passes of one
    byte, skipping bytes all values share): several times faster than a comparison sort here."""
    n = x.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    bits = x.view(np.uint64)
    for i in range(n):
        k = bits[i]
        keys[i] = ~k if k & _SIGN else k | _SIGN
    order = np.arange(n)
    spare_keys = np.empty(n, dtype=np.uint64)
    spare_order = np.empty(n, dtype=np.int64)
    counts = np.empty(257, dtype=np.int64)
    for p in range(8):
        shift = np.uint64(8 * p)
        counts[:] = 0
        for i in range(n):
            counts[((keys[i] >> shift) & _BYTE) + 1] += 1
        if counts.max() == n:
            continue
        for b in range(256):
            counts[b + 1] += counts[b]
        for i in range(n):
            b = (keys[i] >> shift) & _BYTE
            at = counts[b]
            spare_keys[at] = keys[i]
            spare_order[at] = order[i]
            counts[b] = at + 1
        keys, spare_keys = spare_keys, keys
        order, spare_order = spare_order, order
    return order


@njit(cache=True)
def _sparse_ranks(x: np.ndarray) -> np.ndarray:
    """``_average_ranks`` sorting only the non-zero values: zeros (most issuers on most dates) are one
    tie block between the negatives and the positives."""
    nonzero = np.flatnonzero(x != 0.0)
    values = x[nonzero]
    sub = _average_ranks(values, argsort_radix(values))
    n_negative = 0
    for v in values:
        if v < 0.0:
            n_negative += 1
    n_zero = x.shape[0] - nonzero.shape[0]
    ranks = np.full(x.shape[0], n_negative + (n_zero + 1) / 2.0)
    for j in range(nonzero.shape[0]):
        ranks[nonzero[j]] = sub[j] + (n_zero if values[j] > 0.0 else 0)
    return ranks


@njit(cache=True)
def scored_values(x: np.ndarray, winsorize: float, rank: bool) -> tuple[np.ndarray, np.ndarray]:
    """One date's non-null raw values to the values its z-score is taken of (raw, raw clipped to its
    ``[winsorize, 1 - winsorize]`` quantiles, or their average ranks) and the average ranks."""
    if winsorize > 0.0:
        order = argsort_radix(x)
        xs = x[order]
        x = np.minimum(np.maximum(x, _quantile(xs, winsorize)), _quantile(xs, 1.0 - winsorize))
        ranks = _average_ranks(x, order)
    else:
        ranks = _sparse_ranks(x)
    return (ranks if rank else x), ranks


@njit(cache=True, parallel=True)
def cross_section(
    raw: np.ndarray, date_ptr: np.ndarray, ddof: int, winsorize: float, rank: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per date: ``insider`` (z-score of raw, optionally winsorised at quantile ``winsorize`` or of the
    average ranks) and ``pct`` (average rank / n of insider); NaN raw is left out and stays NaN."""
    insider = np.full(raw.shape[0], np.nan)
    pct = np.full(raw.shape[0], np.nan)
    for d in prange(date_ptr.shape[0] - 1):
        a = date_ptr[d]
        b = date_ptr[d + 1]
        seg = raw[a:b]
        rows = np.flatnonzero(~np.isnan(seg))
        n = rows.shape[0]
        if n == 0:
            continue
        values, ranks = scored_values(seg[rows].copy(), winsorize, rank)
        z = _zscore(values, ddof)
        for j in range(n):
            insider[a + rows[j]] = z[j]
            pct[a + rows[j]] = ranks[j] / n
    return insider, pct
