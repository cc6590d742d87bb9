"""Plain-Python twins of ``engine.kernels``: the same names and contracts, written the obvious slow way.

The tests run both on random inputs and compare; nothing in the engine calls these.
"""

from __future__ import annotations

import math

import numpy as np


def argsort_radix(x: np.ndarray) -> np.ndarray:
    """Twin of ``kernels.argsort_radix``: a stable sort by value, then sign (-0.0 before 0.0)."""
    return np.array(
        sorted(range(len(x)), key=lambda i: (float(x[i]), math.copysign(1.0, x[i]))), dtype=np.int64
    )


def argsort_radix_int(x: np.ndarray) -> np.ndarray:
    """Twin of ``kernels.argsort_radix_int``."""
    return np.array(sorted(range(len(x)), key=lambda i: int(x[i])), dtype=np.int64)


def average_ranks(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Twin of ``kernels.average_ranks``: count the values below and equal (``order`` only speeds up the
    kernel, so the twin does not need it)."""
    return np.array(
        [sum(1 for w in values if w < v) + (sum(1 for w in values if w == v) + 1) / 2 for v in values],
        dtype=np.float64,
    )
