"""Compaction: a partition's data files rewritten as one, so that years of daily batches read like one.

Every store write adds one file per partition it touches to each table: a daily ``insider update`` adds
about 21 a month, 250 a year, to every table. :meth:`engine.store.datasets.Store.compact` (``insider
compact``) rewrites each partition holding more than one data file as a single file, rows sorted for the
engine's reads (``SORT_KEYS``: issuer, then available date, where the table has them) in the store's
row groups (``engine.store.atomic.ROW_GROUP_ROWS``). Every write also compacts, after it, the partitions
it touched that then hold more than ``threshold`` files (``DEFAULT_THRESHOLD``, or
``$INSIDER_COMPACT_THRESHOLD``; 0 turns automatic compaction off), and the month before each of them
once that holds more than one file: daily writes move on month by month, so every month they have left
is one file and the current one holds at most ``threshold``. The files of a table stay bounded by its
partitions, not by the days it was written on. Compacting twice changes nothing: a partition of one
file is left alone.

Atomic per partition, for crashes and for readers. The new file is written into a directory of its own
under ``ROOT/.compact/`` (outside every table: no glob or directory discovery of a table reaches it) and
fsynced; then that directory and the partition's are exchanged by one ``renameat2(RENAME_EXCHANGE)``.
A reader listing the partition finds all of the old files or the one new file, never both and never
neither, and a crash leaves one of them in place and the other under ``.compact/``, which the next
writer (or open) removes: whichever side of the exchange a crash falls on, what is left there is what
must go, so no journal is needed. A reader that listed the old files before the exchange and opens one
after it fails with "No such file or directory" and is simply run again; it never reads a row twice
nor misses one. Where the filesystem cannot exchange directories (not Linux, or a filesystem without
``RENAME_EXCHANGE``), the new file is published beside the old ones by the write path's journaled
rename and the old ones are then removed: a reader listing in between (the length of the removals)
sees both, and a crash in between is finished on the next open, as for replaced rows.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.errors import UserError
from engine.store.atomic import fsync_directory, write_parquet_temp
from parsers.schema import PARTITION_COLUMNS, STORE_TABLES

SORT_KEYS: dict[str, tuple[str, ...]] = {
    "filings": ("issuer_cik", "available_date", "accession"),
    "transactions": ("issuer_cik", "available_date", "accession", "is_derivative", "row_index"),
    "owners": ("accession", "owner_index"),
    "footnotes": ("accession", "footnote_id"),
    "quarantine": ("source", "sha1"),
}
"""Row order of a compacted file: issuer, then available date, where the table has them (the engine reads
per issuer through time); owners and footnotes by the accession they join on."""
DEFAULT_THRESHOLD = 8
"""A write compacts each partition it touched that then holds more than this many data files (and the
month before it, once that holds more than one)."""
THRESHOLD_ENV = "INSIDER_COMPACT_THRESHOLD"
STAGING_DIR = ".compact"
"""``ROOT/.compact/``: compacted files before they are exchanged in, old files after."""
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@dataclass(frozen=True)
class Footprint:
    """Data files and their bytes in one table, its partitions and the most files one of them holds."""

    files: int = 0
    bytes: int = 0
    partitions: int = 0
    most: int = 0


@dataclass(frozen=True)
class CompactionReport:
    """What a compaction did: each table's footprint before and after, and the partitions rewritten."""

    before: dict[str, Footprint] = field(default_factory=dict)
    after: dict[str, Footprint] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One human line per table."""
        return [
            f"{name}: {self.partitions.get(name, 0)} partitions compacted, files {before.files:,} -> "
            f"{self.after[name].files:,}, bytes {before.bytes:,} -> {self.after[name].bytes:,}"
            for name, before in self.before.items()
        ]


Publish = Callable[[list[tuple[str, Path, pa.Table]], list[Path]], None]
"""The write path's journaled publish: ``(table, path, rows)`` files in, then the listed files removed."""


def threshold_from_environment() -> int:
    """The automatic compaction threshold: ``$INSIDER_COMPACT_THRESHOLD`` if set, else the default."""
    text = os.environ.get(THRESHOLD_ENV, "").strip()
    if not text:
        return DEFAULT_THRESHOLD
    if not text.isdigit():
        raise UserError(
            f"${THRESHOLD_ENV} is {text!r}, not a whole number of files",
            fix=f"set it to e.g. {DEFAULT_THRESHOLD} (0 turns automatic compaction off) or unset it",
        )
    return int(text)


def data_files(directory: Path) -> list[Path]:
    """The data files of one partition directory, in name order."""
    return sorted(directory.glob("*.parquet"))


def partition_of(directory: Path) -> tuple[int, int]:
    """``(year, month)`` of a partition directory (``.../filing_year=2024/filing_month=3``)."""
    year, month = (int(part.split("=", 1)[1]) for part in directory.parts[-2:])
    return year, month


def footprint(directories: Iterable[Path]) -> Footprint:
    """Files, bytes and partitions of a table, from its partition directories."""
    counts, size = [], 0
    for directory in directories:
        files = data_files(directory)
        counts.append(len(files))
        size += sum(path.stat().st_size for path in files)
    return Footprint(sum(counts), size, sum(1 for count in counts if count), max(counts, default=0))


def conformed(table: pa.Table, name: str, year: int, month: int) -> pa.Table:
    """A stored file's rows as exactly the current schema: columns it lacks null, the partition added."""
    columns = []
    for column in STORE_TABLES[name]:
        if column.name in PARTITION_COLUMNS:
            value = year if column.name == PARTITION_COLUMNS[0] else month
            columns.append(pa.array([value] * table.num_rows, column.type))
        elif column.name in table.column_names:
            columns.append(table.column(column.name).cast(column.type))
        else:
            columns.append(pa.nulls(table.num_rows, column.type))
    return pa.Table.from_arrays(columns, schema=STORE_TABLES[name])


def merged(name: str, files: list[Path], year: int, month: int) -> pa.Table:
    """Every row of a partition's files as one table of the current schema without the partition
    columns (they live in the directory names), sorted by ``SORT_KEYS`` (nulls last)."""
    table = pa.concat_tables([conformed(pq.read_table(path), name, year, month) for path in files])
    order = pc.sort_indices(table, sort_keys=[(key, "ascending") for key in SORT_KEYS[name]])
    return table.take(order).drop_columns(list(PARTITION_COLUMNS))


def compacted_name(name: str, files: list[Path]) -> str:
    """The compacted file's name, from the names it replaces: reproducible, and none of theirs."""
    digest = hashlib.sha1(f"compacted {name}".encode())
    for path in files:
        digest.update(path.name.encode())
    return f"part-{digest.hexdigest()[:20]}.parquet"


def due_after_write(
    touched: set[tuple[str, Path]], threshold: int, partition_dir: Callable[[str, int, int], Path]
) -> list[tuple[str, Path]]:
    """The partitions a write compacts after it: of the ``(table, directory)`` it touched, those holding
    more than ``threshold`` files, and the month before each once it holds more than one (none when the
    threshold is 0). ``partition_dir(table, year, month)`` is the store's layout."""
    if threshold <= 0:
        return []
    due = {(name, directory) for name, directory in touched if len(data_files(directory)) > threshold}
    for name, directory in touched:
        year, month = partition_of(directory)
        before = partition_dir(name, *((year, month - 1) if month > 1 else (year - 1, 12)))
        if len(data_files(before)) > 1:
            due.add((name, before))
    return sorted(due, key=str)


def compact_partitions(root: Path, partitions: list[tuple[str, Path]], publish: Publish) -> dict[str, int]:
    """Compact each partition ``(table, directory)`` of the store at ``root`` that holds more than one
    data file (the caller holds the writer lock); the partitions compacted, per table. ``publish`` is the
    fallback where directories cannot be exchanged."""
    done: dict[str, int] = {}
    exchange: bool | None = None
    for name, directory in partitions:
        files = data_files(directory)
        if len(files) < 2:
            continue
        year, month = partition_of(directory)
        table, target = merged(name, files, year, month), directory / compacted_name(name, files)
        exchange = can_exchange(root) if exchange is None else exchange
        try:
            if exchange:
                swap_in(root, directory, target.name, table)
            else:
                publish([(name, target, table)], files)
        finally:
            sweep(root)
        done[name] = done.get(name, 0) + 1
    return done


def can_exchange(root: Path) -> bool:
    """Whether the store's filesystem exchanges two directories atomically (tried on two empty ones)."""
    probe = root / STAGING_DIR / "probe"
    (probe / "a").mkdir(parents=True, exist_ok=True)
    (probe / "b").mkdir(exist_ok=True)
    try:
        return _exchange(probe / "a", probe / "b")
    finally:
        shutil.rmtree(probe)


def swap_in(root: Path, directory: Path, file_name: str, table: pa.Table) -> None:
    """Replace the partition ``directory`` by one holding only ``table`` as ``file_name``, in one
    exchange; the old files are removed after it (module docstring). Needs :func:`can_exchange`."""
    staged = root / STAGING_DIR / "-".join(directory.parts[-3:])
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    temp = write_parquet_temp(staged / file_name, table)
    os.replace(temp, staged / file_name)
    fsync_directory(staged)
    if not _exchange(staged, directory):
        raise OSError(errno.EINVAL, "the filesystem stopped exchanging directories", str(directory))
    fsync_directory(directory.parent)
    fsync_directory(staged.parent)
    shutil.rmtree(staged)


def sweep(root: Path) -> None:
    """Remove what a compaction left under ``ROOT/.compact/`` (run under the writer lock)."""
    staging = root / STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
        fsync_directory(root)


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two paths atomically; False where the system or filesystem cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """Linux's ``renameat2`` from the C library (glibc 2.28+), or None."""
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
