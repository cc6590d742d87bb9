"""parquet_tail: a file whose last row groups are replaced reads back as the kept rows then the tail,
in Polars and in pyarrow, and a footer the codec cannot reproduce is refused."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scoring import parquet_tail
from engine.scoring.parquet_tail import replace_tail

NULL_REASONS = pl.Enum(["no_market_cap", "non_finite_term"])


def panel(n: int, seed: int) -> pl.DataFrame:
    """A score-like frame: dates, ints, strings with nulls, floats with nulls, an Enum."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "date": pl.Series(np.sort(rng.integers(19000, 19100, n)).astype(np.int32)).cast(pl.Date),
            "issuer_cik": rng.integers(1, 10**7, n),
            "ticker": pl.Series([None if k % 5 == 0 else f"T{k % 13}" for k in range(n)], dtype=pl.String),
            "raw": pl.Series(np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)), nan_to_null=True),
            "n_buys": rng.integers(0, 5, n).astype(np.int32),
            "null_reason": pl.Series(
                [None, "no_market_cap"] * (n // 2) + [None] * (n % 2), dtype=NULL_REASONS
            ),
        }
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(1, 60), st.integers(0, 400), st.integers(1, 80), st.data())
def test_replaced_tail_reads_back_as_kept_rows_then_tail(
    tmp_path_factory, n, group_rows, tail_n, tail_groups, data
):
    path = tmp_path_factory.mktemp("tail") / "file.parquet"
    frame = panel(n, n)
    frame.write_parquet(path, row_group_size=group_rows, metadata={"k": "old"})
    groups = pq.ParquetFile(path).metadata.num_row_groups
    keep = data.draw(st.integers(1, groups))
    kept = sum(pq.ParquetFile(path).metadata.row_group(i).num_rows for i in range(keep))
    tail = panel(tail_n, tail_n + 1)
    temp = path.with_name("file.tmp")
    assert replace_tail(path, keep, tail, temp, row_group_size=tail_groups, metadata={"k": "new"})
    want = pl.concat([frame.head(kept), tail])
    assert pl.read_parquet(temp).equals(want)
    assert (
        pl.from_arrow(pq.read_table(temp)).select(pl.exclude("null_reason")).equals(want.drop("null_reason"))
    )
    assert pl.read_parquet_metadata(temp)["k"] == "new"
    assert (
        pq.ParquetFile(temp).metadata.num_row_groups
        == keep + pq.ParquetFile(temp).metadata.num_row_groups - keep
    )


def test_a_footer_that_does_not_round_trip_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "file.parquet"
    panel(50, 1).write_parquet(path, row_group_size=10)
    monkeypatch.setattr(parquet_tail, "_fields", lambda fields: b"not the footer")
    assert not replace_tail(path, 2, panel(5, 2), tmp_path / "file.tmp")
    assert not (tmp_path / "file.tmp").exists()


def test_keeping_no_row_group_is_left_to_a_whole_rewrite(tmp_path):
    path = tmp_path / "file.parquet"
    panel(50, 1).write_parquet(path, row_group_size=10)
    assert not replace_tail(path, 0, panel(5, 2), tmp_path / "file.tmp")


def test_not_parquet_is_an_error(tmp_path):
    path = tmp_path / "file.parquet"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a Parquet file"):
        replace_tail(path, 1, panel(5, 2), tmp_path / "file.tmp")
