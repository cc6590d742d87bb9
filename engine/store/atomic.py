"""Durable file replacement: a reader sees the old file or the whole new one, never half of one.

A file is written under a temporary name next to its destination, fsynced, renamed over it with
``os.replace``, and the directory is fsynced so that the rename survives a crash. Readers ignore
``*.tmp``; the store removes leftovers when it opens.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

T = TypeVar("T")
TMP_SUFFIX = ".tmp"
ROW_GROUP_ROWS = 128 * 1024
"""Rows per Parquet row group of every file the store writes: a month of transactions (~45,000 rows)
is one group, and bigger files split into groups readers can take in parallel and skip by statistics."""


def fsync_directory(directory: Path) -> None:
    """Make the renames inside ``directory`` durable (Windows cannot open a directory to fsync it; NTFS
    journals the rename itself)."""
    if os.name == "nt":
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_parquet_temp(
    path: Path, table: pa.Table, compression: str = "snappy", row_group_size: int = ROW_GROUP_ROWS
) -> Path:
    """Write ``table`` next to ``path`` under a temp name, fsynced; returns the temp path to rename."""
    temp = path.with_name(path.name + TMP_SUFFIX)
    with open(temp, "wb") as handle:
        pq.write_table(table, handle, compression=compression, row_group_size=row_group_size)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def replace_parquet_in_pieces(
    path: Path,
    schema: pa.Schema,
    pieces: Iterable[pa.Table],
    compression: str = "zstd",
    rows_per_group: int = ROW_GROUP_ROWS,
) -> None:
    """Replace ``path`` with the concatenation of ``pieces`` as Parquet, atomically and durably, holding
    about one row group in memory (pieces are gathered up to ``rows_per_group`` rows, then written)."""
    temp = path.with_name(path.name + TMP_SUFFIX)
    with open(temp, "wb") as handle, pq.ParquetWriter(handle, schema, compression=compression) as writer:
        gathered: list[pa.Table] = []
        for piece in pieces:
            gathered.append(piece.cast(schema))
            if sum(table.num_rows for table in gathered) >= rows_per_group:
                writer.write_table(pa.concat_tables(gathered), row_group_size=rows_per_group)
                gathered = []
        if gathered:
            writer.write_table(pa.concat_tables(gathered), row_group_size=rows_per_group)
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_directory(path.parent)


def replace_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    temp = path.with_name(path.name + TMP_SUFFIX)
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_directory(path.parent)


def replace_parquet(path: Path, table: pa.Table, compression: str = "zstd") -> None:
    """Replace ``path`` with ``table`` as Parquet, atomically and durably."""
    os.replace(write_parquet_temp(path, table, compression), path)
    fsync_directory(path.parent)


def with_retries(read: Callable[[], T], attempts: int = 3) -> T:
    """Run a read of store files again when one vanished under it: a reader outside the writer lock can
    list a partition just before another process compacts or rewrites it."""
    for _ in range(attempts - 1):
        with contextlib.suppress(FileNotFoundError):
            return read()
    return read()
