"""numba kernels shared by the score and the evaluation: a radix argsort and average ranks.

Plain-Python twins with the same names live in ``engine.kernels_reference``.
"""

from __future__ import annotations

import numpy as np

from engine.jit import inlined, kernel

_SIGN = np.uint64(1 << 63)
_BYTE = np.uint64(255)


@kernel
def _radix_order(keys: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of unsigned 64-bit keys (overwritten) by an LSD radix sort, 8 passes of
    one byte skipping bytes all keys share: several times faster than a comparison sort here, and one
    compiled sort for every key type."""
    n = keys.shape[0]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[i] = i
    spare_keys = np.empty(n, dtype=np.uint64)
    spare_order = np.empty(n, dtype=np.int64)
    counts = np.empty(257, dtype=np.int64)
    for p in range(8):
        shift = np.uint64(8 * p)
        for b in range(257):
            counts[b] = 0
        for i in range(n):
            counts[((keys[i] >> shift) & _BYTE) + 1] += 1
        one_byte_value = False
        for b in range(257):
            one_byte_value |= counts[b] == n
        if one_byte_value:
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


@inlined
def argsort_radix(x: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of floats without NaN (-0.0 before 0.0): their bits mapped to unsigned
    keys in the same order."""
    keys = np.empty(x.shape[0], dtype=np.uint64)
    bits = x.view(np.uint64)
    for i in range(x.shape[0]):
        k = bits[i]
        keys[i] = ~k if k & _SIGN else k | _SIGN
    return _radix_order(keys)


@inlined
def argsort_radix_int(x: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of 64-bit integers (the sign bit flipped makes them unsigned keys)."""
    keys = np.empty(x.shape[0], dtype=np.uint64)
    for i in range(x.shape[0]):
        keys[i] = np.uint64(x[i]) ^ _SIGN
    return _radix_order(keys)


@inlined
def average_ranks(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (``order`` sorts them ascending), ties sharing their average rank."""
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
