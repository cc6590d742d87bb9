"""The shares_outstanding dataset: written and scanned here only.

Each XBRL frame is one Parquet file ``<store>/shares_outstanding/frame=CY{YYYY}Q{q}I.parquet``, written
atomically and replaced when fetched again (the SEC revises frames as late filers arrive); the
partitioned tables of ``engine.store.datasets`` are not touched.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from engine.store.atomic import replace_parquet
from engine.store.datasets import SHARES_OUTSTANDING, Store
from parsers.schema import SHARES_OUTSTANDING_SCHEMA


def write_frame(store: Store, frame: str, table: pa.Table) -> Path:
    """Replace one frame's file atomically (temp file, fsync, rename)."""
    directory = store.dataset_dir(SHARES_OUTSTANDING)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"frame={frame}.parquet"
    replace_parquet(path, table)
    return path


def frame_files(store: Store) -> list[Path]:
    """The stored frames' files, oldest frame first (empty when none was fetched)."""
    return sorted(store.dataset_dir(SHARES_OUTSTANDING).glob("frame=*.parquet"))


def scan_shares_outstanding(store: Store) -> pl.LazyFrame:
    """Every stored fact; point in time at ``t`` means using only facts with ``filed <= t``."""
    schema = pl.from_arrow(SHARES_OUTSTANDING_SCHEMA.empty_table()).schema  # type: ignore[union-attr]
    files = frame_files(store)
    if not files:
        return pl.LazyFrame(schema=schema)
    return pl.scan_parquet(files, schema=schema)
