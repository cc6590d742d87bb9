"""The numba kernels against their plain-Python twins, on hand cases and random inputs."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import kernels as shared
from engine import kernels_reference as shared_twin
from engine.scoring import cross_section, kernels
from engine.scoring import cross_section_reference as cross_twin
from engine.scoring import kernels_reference as twin


@st.composite
def issuer_events(draw, max_issuers: int = 4, max_events: int = 12):
    """Random CSR events: per issuer sorted start days, exclusive ends, terms (some NaN), keys."""
    n_issuers = draw(st.integers(1, max_issuers))
    counts = draw(st.lists(st.integers(0, max_events), min_size=n_issuers, max_size=n_issuers))
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(ptr[-1])
    starts = []
    for c in counts:
        starts += sorted(draw(st.lists(st.integers(0, 60), min_size=c, max_size=c)))
    start = np.array(starts, dtype=np.int64)
    end = start + np.array(draw(st.lists(st.integers(1, 50), min_size=n, max_size=n)), dtype=np.int64)
    term = np.array(
        draw(st.lists(st.one_of(st.floats(0, 5), st.just(np.nan)), min_size=n, max_size=n)), dtype=float
    )
    is_buy = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    key = np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)), dtype=np.int64)
    grid = np.array(sorted(set(draw(st.lists(st.integers(0, 80), min_size=1, max_size=15)))), dtype=np.int64)
    member = np.array(
        draw(st.lists(st.booleans(), min_size=n_issuers * len(grid), max_size=n_issuers * len(grid)))
    ).reshape(len(grid), n_issuers)
    return ptr, start, end, term, is_buy, key, grid, member


@settings(max_examples=150, deadline=None)
@given(issuer_events(), st.integers(1, 40))
def test_window_sums_and_distinct_counts_match_twins(events, window):
    ptr, start, end, term, is_buy, key, grid, member = events
    pos, date_ptr, row_issuer = kernels.row_positions(member)
    for fast, slow in zip((pos, date_ptr, row_issuer), twin.row_positions(member), strict=True):
        np.testing.assert_array_equal(fast, slow)
    matrix = np.arange(member.size, dtype=np.int32).reshape(member.shape)
    np.testing.assert_array_equal(
        kernels.row_values(matrix, date_ptr, row_issuer), twin.row_values(matrix, date_ptr, row_issuer)
    )
    n_rows = int(date_ptr[-1])
    fast = kernels.window_sums(ptr, start, end, term, is_buy, grid, window, pos, n_rows)
    slow = twin.window_sums(ptr, start, end, term, is_buy, grid, window, pos, n_rows)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    cluster_end = np.minimum(end, start + window)
    np.testing.assert_array_equal(
        kernels.distinct_counts(ptr, start, cluster_end, key, grid, pos, n_rows),
        twin.distinct_counts(ptr, start, cluster_end, key, grid, pos, n_rows),
    )


@settings(max_examples=100, deadline=None)
@given(issuer_events())
def test_latest_filing_matches_twin(events):
    ptr, start, _, _, _, key, grid, _ = events
    label = np.arange(key.size, dtype=np.int32)
    accepted = (key % 2).astype(np.int64)
    for lookback in (0, 5, 364):
        fast = kernels.latest_filing(ptr, start, accepted, key, label, grid, lookback)
        slow = twin.latest_filing(ptr, start, accepted, key, label, grid, lookback)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_array_equal(fast[1], slow[1])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, 1.0, np.nan])), max_size=12),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([0.0, 0.1, 0.25]),
    st.booleans(),
    st.sampled_from([0, 1]),
)
def test_cross_section_matches_twin(segments, winsorize, rank, ddof):
    raw = np.array([v for seg in segments for v in seg], dtype=float)
    date_ptr = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
    fast = cross_section.cross_section(raw, date_ptr, ddof, winsorize, rank)
    slow = cross_twin.cross_section(raw, date_ptr, ddof, winsorize, rank)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_window_edges_day_89_in_day_90_out():
    ptr = np.array([0, 1], dtype=np.int64)
    start = np.array([100], dtype=np.int64)
    end = np.array([10**9], dtype=np.int64)
    grid = np.array([99, 100, 189, 190], dtype=np.int64)
    pos, _, _ = kernels.row_positions(np.ones((4, 1), dtype=bool))
    buys, *_ = kernels.window_sums(ptr, start, end, np.array([2.0]), np.array([True]), grid, 90, pos, 4)
    assert buys.tolist() == [0.0, 2.0, 2.0, 0.0]


def test_distinct_counts_counts_an_insider_once_and_stops_at_its_end():
    ptr = np.array([0, 3], dtype=np.int64)
    start = np.array([0, 5, 10], dtype=np.int64)
    end = np.array([30, 35, 12], dtype=np.int64)
    key = np.array([7, 7, 8], dtype=np.int64)
    grid = np.array([0, 10, 11, 12, 34, 35], dtype=np.int64)
    pos, _, _ = kernels.row_positions(np.ones((6, 1), dtype=bool))
    assert kernels.distinct_counts(ptr, start, end, key, grid, pos, 6).tolist() == [1, 2, 2, 1, 1, 0]


@pytest.mark.parametrize("values", [[3.0, 3.0, 3.0], [0.1, 0.1, 0.1], [5.0]])
def test_no_spread_gives_zero(values):
    insider, pct = cross_section.cross_section(np.array(values), np.array([0, len(values)]), 0, 0.0, False)
    assert insider.tolist() == [0.0] * len(values)
    assert pct.tolist() == [(len(values) + 1) / 2 / len(values)] * len(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False), max_size=300))
def test_radix_argsort_is_a_stable_sort(values):
    x = np.array(values, dtype=float)
    np.testing.assert_array_equal(shared.argsort_radix(x), shared_twin.argsort_radix(x))
    np.testing.assert_array_equal(x[shared.argsort_radix(x)], np.sort(x))
    nonzero = x[x != 0]
    np.testing.assert_array_equal(shared.argsort_radix(nonzero), np.argsort(nonzero, kind="stable"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300))
def test_integer_radix_argsort_is_a_stable_sort(values):
    x = np.array(values, dtype=np.int64)
    np.testing.assert_array_equal(shared.argsort_radix_int(x), shared_twin.argsort_radix_int(x))
    np.testing.assert_array_equal(shared.argsort_radix_int(x), np.argsort(x, kind="stable"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, 1.0, -2.5])), max_size=60))
def test_average_ranks_match_twin(values):
    x = np.array(values, dtype=float)
    fast = shared.average_ranks(x, shared.argsort_radix(x))
    np.testing.assert_array_equal(fast, shared_twin.average_ranks(x, shared_twin.argsort_radix(x)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(-50, 50)), max_size=60))
def test_group_order_is_a_stable_sort_by_group_then_day(rows):
    group = np.array([g for g, _ in rows], dtype=np.int64)
    day = np.array([d for _, d in rows], dtype=np.int64)
    fast = kernels.group_order(group, day, 6)
    slow = twin.group_order(group, day, 6)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 4), st.one_of(st.floats(-5, 5), st.just(np.nan))),
        max_size=60,
    )
)
def test_sort_runs_orders_each_groups_same_day_rows_by_value(rows):
    group = np.array([g for g, _, _ in rows], dtype=np.int64)
    day = np.array([d for _, d, _ in rows], dtype=np.int64)
    value = np.array([v for _, _, v in rows], dtype=float)
    grouped, ptr = kernels.group_order(group, day, 6)
    order = kernels.sort_runs(grouped, ptr, day, value)
    np.testing.assert_array_equal(order, twin.sort_runs(grouped, ptr, day, value))
    shuffled = np.random.default_rng(len(rows)).permutation(len(rows))
    again = kernels.sort_runs(
        kernels.group_order(group[shuffled], day[shuffled], 6)[0], ptr, day[shuffled], value[shuffled]
    )
    np.testing.assert_array_equal(value[shuffled][again], value[order])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e3), st.floats(0, 1e3), st.integers(0, 40), st.integers(0, 2))))
def test_raw_scores_match_twin(cells):
    buys = np.array([c[0] for c in cells], dtype=float)
    sells = np.array([c[1] for c in cells], dtype=float)
    cluster = np.array([c[2] for c in cells], dtype=np.int32)
    missing = np.array([c[3] for c in cells], dtype=np.int32)
    fast, reason = kernels.raw_scores(buys.copy(), sells.copy(), cluster, missing)
    slow, slow_reason = twin.raw_scores(buys.copy(), sells.copy(), cluster, missing)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(reason, slow_reason)
    assert np.isnan(fast).tolist() == (missing > 0).tolist()
    assert reason.tolist() == [kernels.NO_CAP if m > 0 else 0 for m in missing]


def test_raw_scores_null_a_row_without_a_cap_or_with_an_overflow_and_its_sums():
    buys = np.array([2.0, 1e308, np.inf, 0.5, 3.0])
    sells = np.array([1.0, -1e308, np.inf, 0.0, 0.0])
    cluster = np.array([0, 0, 1, 0, 2], dtype=np.int32)
    missing = np.array([0, 0, 0, 1, 0], dtype=np.int32)
    raw, reason = kernels.raw_scores(buys, sells, cluster, missing)
    # 1e308 - (-1e308) overflows to inf; inf - inf is NaN; a row without a cap is null whatever its sums.
    assert reason.tolist() == [0, kernels.NON_FINITE, kernels.NON_FINITE, kernels.NO_CAP, 0]
    np.testing.assert_allclose(raw[[0, 4]], [1.0, 3.0 * (1 + np.log(3.0))], rtol=1e-15)
    assert np.isnan(raw[1:4]).all() and np.isnan(buys[1:4]).all() and np.isnan(sells[1:4]).all()
    assert buys[[0, 4]].tolist() == [2.0, 3.0] and sells[[0, 4]].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    "module",
    ["engine.kernels", "engine.scoring.kernels", "engine.scoring.cross_section", "engine.evaluation.kernels"],
)
def test_every_public_kernel_has_a_plain_python_twin(module):
    fast = importlib.import_module(module)
    slow = importlib.import_module(f"{module}_reference")
    public = {
        name
        for name, value in vars(fast).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(getattr(value, "py_func", value), "__module__", None) == module
    }
    assert public - {"warm_up"} <= set(vars(slow)), sorted(public - {"warm_up"} - set(vars(slow)))
