"""Plain-Python twins of ``engine.scoring.kernels``: the same names and contracts, the obvious slow way.

The tests run both on random inputs and compare; nothing in the engine calls these.
"""

from __future__ import annotations

import math

import numpy as np


def group_order(group, day, n_groups):
    """Twin of ``kernels.group_order``: a stable sort by (group, day)."""
    order = np.array(sorted(range(len(group)), key=lambda i: (group[i], day[i])), dtype=np.int64)
    ptr = np.zeros(n_groups + 1, dtype=np.int64)
    for g in group:
        ptr[g + 1] += 1
    return order, np.cumsum(ptr)


def sort_runs(order, ptr, day, value):
    """Twin of ``kernels.sort_runs``: a stable sort of each group by (day, value), NaN values last."""
    out = np.array(order, dtype=np.int64)
    for g in range(len(ptr) - 1):
        rows = list(out[ptr[g] : ptr[g + 1]])
        rows.sort(key=lambda r: (day[r], math.isnan(value[r]), 0.0 if math.isnan(value[r]) else value[r]))
        out[ptr[g] : ptr[g + 1]] = rows
    return out


def latest_filing(ptr, day, accepted, tiebreak, label, grid, lookback):
    """Twin of ``kernels.latest_filing``: scan every filing of the issuer for every date."""
    n_issuers = len(ptr) - 1
    labels = np.full((len(grid), n_issuers), -1, dtype=np.int32)
    member = np.zeros((len(grid), n_issuers), dtype=bool)
    for i in range(n_issuers):
        for d, t in enumerate(grid):
            known = [p for p in range(ptr[i], ptr[i + 1]) if day[p] <= t]
            if known:
                last = max(known, key=lambda p: (day[p], accepted[p], tiebreak[p]))
                labels[d, i] = label[last]
                member[d, i] = any(t - lookback <= day[p] for p in known)
    return labels, member


def row_positions(member: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin of ``kernels.row_positions``."""
    n_dates, n_issuers = member.shape
    pos = np.full((n_dates, n_issuers), -1, dtype=np.int64)
    date_ptr = [0]
    row_issuer = []
    for d in range(n_dates):
        for i in range(n_issuers):
            if member[d, i]:
                pos[d, i] = len(row_issuer)
                row_issuer.append(i)
        date_ptr.append(len(row_issuer))
    return pos, np.array(date_ptr, dtype=np.int64), np.array(row_issuer, dtype=np.int32)


def row_values(matrix, date_ptr, row_issuer):
    """Twin of ``kernels.row_values``."""
    out = np.empty(len(row_issuer), dtype=matrix.dtype)
    for d in range(len(date_ptr) - 1):
        for r in range(date_ptr[d], date_ptr[d + 1]):
            out[r] = matrix[d, row_issuer[r]]
    return out


def window_sums(ptr, start, end, term, is_buy, grid, window, pos, n_rows):
    """Twin of ``kernels.window_sums``: for every cell, test every event of the issuer."""
    out = [np.zeros(n_rows), np.zeros(n_rows)] + [np.zeros(n_rows, dtype=np.int32) for _ in range(3)]
    buys, sells, n_buys, n_sells, missing = out
    for i in range(len(ptr) - 1):
        for d, t in enumerate(grid):
            row = pos[d, i]
            if row < 0:
                continue
            for e in range(ptr[i], ptr[i + 1]):
                if not (t - window < start[e] <= t < end[e]):
                    continue
                if is_buy[e]:
                    n_buys[row] += 1
                else:
                    n_sells[row] += 1
                if math.isnan(term[e]):
                    missing[row] += 1
                elif is_buy[e]:
                    buys[row] += term[e]
                else:
                    sells[row] += term[e]
    return buys, sells, n_buys, n_sells, missing


def raw_scores(buys, sells, cluster, missing):
    """Twin of ``kernels.raw_scores`` (null reasons 1: no market cap, 2: not finite)."""
    raw = np.empty(len(buys))
    reason = np.zeros(len(buys), dtype=np.int8)
    for r in range(len(buys)):
        value = (buys[r] - sells[r]) * (1 + math.log(1 + cluster[r]))
        if missing[r] > 0 or not math.isfinite(value):
            reason[r] = 1 if missing[r] > 0 else 2
            raw[r] = buys[r] = sells[r] = math.nan
        else:
            raw[r] = value
    return raw, reason


def distinct_counts(ptr, start, end, key, grid, pos, n_rows):
    """Twin of ``kernels.distinct_counts``: a set of active keys per cell."""
    out = np.zeros(n_rows, dtype=np.int32)
    for i in range(len(ptr) - 1):
        for d, t in enumerate(grid):
            if pos[d, i] >= 0:
                out[pos[d, i]] = len({key[e] for e in range(ptr[i], ptr[i + 1]) if start[e] <= t < end[e]})
    return out
