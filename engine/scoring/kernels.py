"""numba kernels of the score: pure functions of NumPy arrays over the whole universe at once.

Layout: events (trades, filings) are grouped per issuer in CSR form (``ptr[i]:ptr[i + 1]``) and sorted
by day within an issuer; days are integers (days since 1970-01-01); the score dates are one sorted
``grid``. Per-cell outputs go to a flat, date-major row space: ``pos[d, i]`` is the row of issuer ``i``
on date ``d``, or -1 when the issuer is not in that date's cross-section. Plain-Python twins of every
kernel live in ``engine.scoring.kernels_reference``, under the same names; the cross-section over that
row space (section 8's z-score) is ``engine.scoring.cross_section``.

The per-issuer kernels are Python functions that run a compiled kernel over chunks of issuers on
threads (``engine.jit.run_chunks``), each chunk writing its own rows of the outputs.
"""

from __future__ import annotations

import math

import numpy as np

from engine.jit import frozen, inlined, kernel, run_chunks
from engine.kernels import argsort_radix_int

BLOCK = 128
"""Issuers per block of the per-issuer kernels: within a block, dates run in the outer loop so that
each date's rows are written as one contiguous run (the output is date-major)."""


def group_order(group: np.ndarray, day: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The permutation that sorts rows by group then day (stable), and the CSR offsets of the groups
    (``ptr[g]:ptr[g + 1]`` in sorted order): one radix sort of ``group * span + day``."""
    ptr = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))]).astype(np.int64)
    if group.size == 0:
        return np.empty(0, dtype=np.int64), ptr
    low = day.min()
    span = day.max() - low + 1
    return argsort_radix_int(frozen(group.astype(np.int64) * span + (day - low), np.int64)), ptr


def sort_runs(order: np.ndarray, ptr: np.ndarray, day: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``order`` (``group_order``'s output) with every run of one group's rows of one day sorted by
    ``value`` (NaN last): a fixed order for same-day rows whatever order they came in."""
    out = np.array(order, dtype=np.int64)
    run_chunks(
        _sort_runs, ptr.shape[0] - 1, out, frozen(ptr, np.int64), frozen(day, np.int64), frozen(value, float)
    )
    return out


@kernel
def _sort_runs(
    order: np.ndarray, ptr: np.ndarray, day: np.ndarray, value: np.ndarray, chunk_first: int, chunk_last: int
) -> None:
    """``sort_runs`` for groups ``chunk_first:chunk_last``: runs are a few rows, so an insertion sort."""
    for g in range(chunk_first, chunk_last):
        k = ptr[g]
        while k < ptr[g + 1]:
            end = k + 1
            while end < ptr[g + 1] and day[order[end]] == day[order[k]]:
                end += 1
            for j in range(k + 1, end):
                row = order[j]
                v = value[row]
                i = j - 1
                while i >= k and (math.isnan(value[order[i]]) and not math.isnan(v) or value[order[i]] > v):
                    order[i + 1] = order[i]
                    i -= 1
                order[i + 1] = row
            k = end


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
    labels = np.empty((grid.shape[0], n_issuers), dtype=np.int32)
    member = np.empty((grid.shape[0], n_issuers), dtype=np.bool_)
    inputs = (*(frozen(a, np.int64) for a in (ptr, day, accepted, tiebreak)), frozen(label, np.int32))
    args = (*inputs, frozen(grid, np.int64), int(lookback), labels, member)
    run_chunks(_latest_filing, n_issuers, *args, step=BLOCK)
    return labels, member


@kernel
def _latest_filing(
    ptr: np.ndarray,
    day: np.ndarray,
    accepted: np.ndarray,
    tiebreak: np.ndarray,
    label: np.ndarray,
    grid: np.ndarray,
    lookback: int,
    labels: np.ndarray,
    member: np.ndarray,
    chunk_first: int,
    chunk_last: int,
) -> None:
    """``latest_filing`` for issuers ``chunk_first:chunk_last``, into ``labels`` and ``member``."""
    for first in range(chunk_first, chunk_last, BLOCK):
        last = min(first + BLOCK, chunk_last)
        p = np.empty(last - first, dtype=np.int64)
        best = np.empty(last - first, dtype=np.int64)
        for i in range(first, last):
            p[i - first] = ptr[i]
            best[i - first] = -1
        for d in range(grid.shape[0]):
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
                labels[d, i] = label[b] if b >= 0 else -1
                member[d, i] = b >= 0 and day[b] >= t - lookback


def row_positions(member: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Date-major row numbers of the members: ``pos[d, i]`` (-1 outside), ``date_ptr`` (rows of date
    ``d`` are ``date_ptr[d]:date_ptr[d + 1]``, issuers in index order) and each row's issuer."""
    date_ptr = np.concatenate([[0], np.cumsum(member.sum(axis=1))]).astype(np.int64)
    flat = member.ravel()
    pos = np.cumsum(flat, dtype=np.int64)
    pos -= 1
    pos[~flat] = -1
    row_issuer = np.broadcast_to(np.arange(member.shape[1], dtype=np.int32), member.shape)[member]
    return pos.reshape(member.shape), date_ptr, row_issuer


def row_values(matrix: np.ndarray, date_ptr: np.ndarray, row_issuer: np.ndarray) -> np.ndarray:
    """``matrix[d, i]`` for every row (date ``d``, issuer ``i``) of the date-major row space."""
    out = np.empty(row_issuer.shape[0], dtype=matrix.dtype)
    _row_values(frozen(matrix, matrix.dtype), frozen(date_ptr, np.int64), frozen(row_issuer, np.int32), out)
    return out


@kernel
def _row_values(matrix: np.ndarray, date_ptr: np.ndarray, row_issuer: np.ndarray, out: np.ndarray) -> None:
    """``row_values`` into ``out``."""
    for d in range(date_ptr.shape[0] - 1):
        for r in range(date_ptr[d], date_ptr[d + 1]):
            out[r] = matrix[d, row_issuer[r]]


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
    out = (np.zeros(n_rows), np.zeros(n_rows), *(np.zeros(n_rows, dtype=np.int32) for _ in range(3)))
    events = (*(frozen(a, np.int64) for a in (ptr, start, end)), frozen(term, float), frozen(is_buy, bool))
    args = (*events, frozen(grid, np.int64), int(window), frozen(pos, np.int64), *out)
    run_chunks(_window_sums, ptr.shape[0] - 1, *args, step=BLOCK)
    return out


@kernel
def _window_sums(
    ptr: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    term: np.ndarray,
    is_buy: np.ndarray,
    grid: np.ndarray,
    window: int,
    pos: np.ndarray,
    buys: np.ndarray,
    sells: np.ndarray,
    n_buys: np.ndarray,
    n_sells: np.ndarray,
    missing: np.ndarray,
    chunk_first: int,
    chunk_last: int,
) -> None:
    """``window_sums`` for issuers ``chunk_first:chunk_last``, into the given outputs."""
    for first in range(chunk_first, chunk_last, BLOCK):
        last = min(first + BLOCK, chunk_last)
        size = last - first
        los = np.empty(size, dtype=np.int64)
        his = np.empty(size, dtype=np.int64)
        for i in range(first, last):
            los[i - first] = ptr[i]
            his[i - first] = ptr[i]
        kept_lo = np.full(size, -1, dtype=np.int64)
        kept_hi = np.full(size, -1, dtype=np.int64)
        kept_until = np.zeros(size, dtype=np.int64)
        kept_sums = np.zeros((size, 2), dtype=np.float64)
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
                        if math.isnan(term[e]):
                            m += 1
                        elif is_buy[e]:
                            b += term[e]
                        else:
                            s += term[e]
                    kept_lo[j] = lo
                    kept_hi[j] = hi
                    kept_until[j] = until
                    kept_sums[j, 0] = b
                    kept_sums[j, 1] = s
                    kept_counts[j, 0] = nb
                    kept_counts[j, 1] = ns
                    kept_counts[j, 2] = m
                buys[row] = kept_sums[j, 0]
                sells[row] = kept_sums[j, 1]
                n_buys[row] = kept_counts[j, 0]
                n_sells[row] = kept_counts[j, 1]
                missing[row] = kept_counts[j, 2]


NO_CAP = 1
"""``raw_scores``'s null reason of a row whose window holds a trade without a market cap."""
NON_FINITE = 2
"""``raw_scores``'s null reason of a row whose sums or raw are not finite (an absurd term overflowed)."""


def raw_scores(
    buys: np.ndarray, sells: np.ndarray, cluster: np.ndarray, missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``raw = (buys - sells) * (1 + ln(1 + cluster))`` per row, and why a row is null (int8: 0 not null,
    ``NO_CAP`` when ``missing > 0``, else ``NON_FINITE``). A null row's raw, buys and sells are NaN:
    ``buys`` and ``sells`` are set in place (they become the panel's columns, so no copy is made). The
    log is read from a table of the cluster sizes."""
    scale = 1.0 + np.log(1.0 + np.arange(cluster.max() + 1 if cluster.size else 1))
    raw = np.empty(buys.shape[0])
    reason = np.empty(buys.shape[0], dtype=np.int8)
    args = (buys, sells, frozen(cluster, np.int32), frozen(missing, np.int32), frozen(scale, np.float64))
    run_chunks(_raw_scores, buys.shape[0], *args, raw, reason)
    return raw, reason


@kernel
def _raw_scores(
    buys: np.ndarray,
    sells: np.ndarray,
    cluster: np.ndarray,
    missing: np.ndarray,
    scale: np.ndarray,
    raw: np.ndarray,
    reason: np.ndarray,
    first: int,
    last: int,
) -> None:
    """``raw_scores`` for rows ``first:last``."""
    for r in range(first, last):
        value = (buys[r] - sells[r]) * scale[cluster[r]]
        if missing[r] > 0:
            reason[r] = NO_CAP
        elif math.isfinite(value):
            reason[r] = 0
            raw[r] = value
            continue
        else:
            reason[r] = NON_FINITE
        raw[r] = np.nan
        buys[r] = np.nan
        sells[r] = np.nan


@inlined
def _merged_intervals(
    start: np.ndarray, end: np.ndarray, key: np.ndarray, opens: np.ndarray, closes: np.ndarray, at: int
) -> int:
    """Write the sorted opens and closes of the union of ``[start, end)`` per key (one issuer's events
    sorted by start) to ``opens[at:]`` and ``closes[at:]``; their number. At any day, the number of
    opens minus closes passed is the number of distinct active keys."""
    n = start.shape[0]
    order = argsort_radix_int(key)
    lows = np.empty(n, dtype=np.int64)
    highs = np.empty(n, dtype=np.int64)
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
                    lows[m] = lo
                    highs[m] = hi
                    m += 1
                lo = s
                hi = e
            j += 1
        if hi > lo:
            lows[m] = lo
            highs[m] = hi
            m += 1
    by_open = argsort_radix_int(lows[:m])
    by_close = argsort_radix_int(highs[:m])
    for q in range(m):
        opens[at + q] = lows[by_open[q]]
        closes[at + q] = highs[by_close[q]]
    return m


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
    args = (*(frozen(a, np.int64) for a in (ptr, start, end, key, grid, pos)), out)
    run_chunks(_distinct_counts, ptr.shape[0] - 1, *args, step=BLOCK)
    return out


@kernel
def _distinct_counts(
    ptr: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    key: np.ndarray,
    grid: np.ndarray,
    pos: np.ndarray,
    out: np.ndarray,
    chunk_first: int,
    chunk_last: int,
) -> None:
    """``distinct_counts`` for issuers ``chunk_first:chunk_last``, into ``out``."""
    for first in range(chunk_first, chunk_last, BLOCK):
        last = min(first + BLOCK, chunk_last)
        opens = np.empty(ptr[last] - ptr[first], dtype=np.int64)
        closes = np.empty(ptr[last] - ptr[first], dtype=np.int64)
        bounds = np.empty(last - first + 1, dtype=np.int64)
        po = np.empty(last - first, dtype=np.int64)
        pc = np.empty(last - first, dtype=np.int64)
        bounds[0] = 0
        for i in range(first, last):
            j = i - first
            lo, hi = ptr[i], ptr[i + 1]
            m = _merged_intervals(start[lo:hi], end[lo:hi], key[lo:hi], opens, closes, bounds[j])
            bounds[j + 1] = bounds[j] + m
            po[j] = bounds[j]
            pc[j] = bounds[j]
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


def warm_up() -> None:
    """Compile (or load from the cache) every kernel of this module, on a one-event input."""
    one, day, grid = np.array([0, 1]), np.array([0]), np.array([0])
    latest_filing(one, day, day, day, np.array([0], dtype=np.int32), grid, 1)
    window_sums(one, day, day + 1, np.ones(1), np.ones(1, dtype=bool), grid, 1, np.zeros((1, 1)), 1)
    distinct_counts(one, day, day + 1, day, grid, np.zeros((1, 1)), 1)
    group_order(day, day, 1)
    sort_runs(day, one, day, np.ones(1))
    row_values(np.zeros((1, 1), dtype=np.int32), one, np.zeros(1, dtype=np.int32))
    raw_scores(np.ones(1), np.ones(1), np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int32))
