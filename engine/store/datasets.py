"""The Parquet store: one hive-partitioned dataset per table of ``parsers.schema.STORE_TABLES``.

Layout: ``ROOT/<table>/filing_year=YYYY/filing_month=M/part-<hash>.parquet``; partition columns live in
the directory names, not in the files. Readers only ever match ``*.parquet`` and every file appears by
``os.replace`` of a fully written, fsynced temp file, so a reader never sees half a file.

A write is one batch of filings. Its child tables (owners, transactions, footnotes, quarantine) are
written before ``filings/``: an accession counts as stored only once its filings row is, and the
filings rows are the last thing a batch writes. Before writing any file, the batch's file list goes to
a journal (``ROOT/_journal.json``); the journal is removed once the batch is complete. Opening a store
whose journal survived a crash finishes that batch when all its files made it to disk and otherwise
removes every file of it, so that a retry stores each row exactly once.

One process writes at a time: each write holds an exclusive lock on ``ROOT/.lock`` (``filelock``: an
OS lock on Linux, macOS and Windows, released by the OS if the process dies) and bumps a generation
number kept with the writer's pid in ``ROOT/.writer``. An instance keeps the set of stored accessions
in memory and reloads it only when the generation shows that another instance or process wrote since.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock, Timeout

from engine.errors import UserError
from engine.store.atomic import TMP_SUFFIX, fsync_directory, replace_bytes, write_parquet_temp
from parsers.schema import PARTITION_COLUMNS, STORE_TABLES

FILINGS = "filings"
QUARANTINE = "quarantine"
CHILD_TABLES: tuple[str, ...] = tuple(name for name in STORE_TABLES if name not in (FILINGS, QUARANTINE))
WRITE_ORDER: tuple[str, ...] = (*CHILD_TABLES, QUARANTINE, FILINGS)
"""Child tables first, ``filings/`` last: the filings row is what marks an accession as stored."""

JOURNAL = "_journal.json"
LOCK = ".lock"
WRITER = ".writer"
"""``generation pid`` of the last write: the generation tells instances their indexes are stale, the pid
names the holder when the lock is busy."""
LOCK_POLL_SECONDS = 0.05
IO_THREADS = 8
"""Files of a batch written and fsynced concurrently (Parquet encoding and fsync release the GIL)."""

_POLARS_SCHEMAS: dict[str, pl.Schema] = {
    name: pl.from_arrow(schema.empty_table()).schema for name, schema in STORE_TABLES.items()
}
_FILE_SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema([f for f in schema if f.name not in PARTITION_COLUMNS])
    for name, schema in STORE_TABLES.items()
}


@dataclass(frozen=True)
class WriteResult:
    """What one ``Store.write`` did: new filings and rows per table, and what it skipped."""

    filings: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    quarantined: int = 0
    quarantine_duplicates: int = 0
    files: int = 0


class AccessionIndex:
    """A set of accessions in little memory: EDGAR numbers (``0000011544-20-000013``) packed into a
    sorted int64 array, 8 bytes each (millions of filings fit in tens of MB); other keys in a set."""

    def __init__(self, accessions: pl.Series) -> None:
        packed = _packed(accessions)
        self._numbers = np.sort(packed.drop_nulls().to_numpy())
        self._others = set(accessions.filter(packed.is_null()).to_list())

    def __len__(self) -> int:
        return len(self._numbers) + len(self._others)

    def missing(self, accessions: list[str]) -> list[str]:
        """The given accessions that are not in the index, in their order."""
        packed = _packed(pl.Series(accessions, dtype=pl.String))
        numbers = packed.fill_null(-1).to_numpy()
        positions = np.searchsorted(self._numbers, numbers)
        hits = positions < len(self._numbers)
        hits[hits] = self._numbers[positions[hits]] == numbers[hits]
        standard = packed.is_not_null().to_numpy()
        return [
            accession
            for accession, is_standard, hit in zip(accessions, standard, hits, strict=True)
            if not (hit if is_standard else accession in self._others)
        ]

    def add(self, accessions: list[str]) -> None:
        """Add accessions that are not in the index yet."""
        series = pl.Series(accessions, dtype=pl.String)
        packed = _packed(series)
        numbers = np.sort(packed.drop_nulls().to_numpy())
        self._numbers = np.insert(self._numbers, np.searchsorted(self._numbers, numbers), numbers)
        self._others.update(series.filter(packed.is_null()).to_list())


def _packed(accessions: pl.Series) -> pl.Series:
    """``0000011544-20-000013`` -> 11544200000013 (int64); null for any other form of key."""
    column = pl.col(accessions.name)
    number = column.str.replace_all("-", "", literal=True).cast(pl.Int64, strict=False)
    standard = column.str.contains(r"^\d{10}-\d{2}-\d{6}$")
    return accessions.to_frame().select(pl.when(standard).then(number)).to_series()


class Store:
    """A directory of hive-partitioned Parquet datasets, read as Polars lazy scans, written in batches."""

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self._generation: int | None = None
        self._swept = False
        self._accessions: AccessionIndex | None = None
        self._quarantine_keys: set[tuple[str | None, str | None]] | None = None
        if self.root.is_dir() and os.access(self.root, os.W_OK) and self._needs_recovery():
            with contextlib.suppress(UserError), self._locked(timeout=0.0):
                pass

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # reading

    def scan(self, name: str) -> pl.LazyFrame:
        """Lazy scan of one dataset, typed exactly per its schema; empty frame of the schema if empty.

        Files written before a column was added to the schema scan with that column null, and columns
        a file has beyond the schema are ignored, so that a store outlives schema changes."""
        schema = _polars_schema(name)
        directory = self.root / name
        if not any(directory.glob("filing_year=*/filing_month=*/*.parquet")):
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(
            directory / "**" / "*.parquet",
            hive_partitioning=True,
            hive_schema={column: schema[column] for column in PARTITION_COLUMNS},
            schema={column: dtype for column, dtype in schema.items() if column not in PARTITION_COLUMNS},
            missing_columns="insert",
            extra_columns="ignore",
        )

    def accessions(self) -> set[str]:
        """Every stored accession, read from disk (the write path keeps its own index)."""
        return set(self.scan(FILINGS).select("accession").collect().to_series().to_list())

    def last_filing_date(self) -> date | None:
        """The latest ``filing_date`` of any stored filing, or None for an empty store."""
        return self.scan(FILINGS).select(pl.col("filing_date").max()).collect().item()

    def summary(self) -> dict[str, int]:
        """Row count of every dataset."""
        return {name: self.scan(name).select(pl.len()).collect().item() for name in STORE_TABLES}

    # writing

    def write(self, tables: Mapping[str, pa.Table]) -> WriteResult:
        """Store one batch atomically, dropping accessions already stored (counted as duplicates).

        ``tables`` is keyed by ``STORE_TABLES`` names, each table exactly its schema; a missing table
        is empty. One accession may appear at most once in a batch's ``filings`` table.
        """
        batch = _validated(tables)
        filings = batch[FILINGS]
        accessions = filings.column("accession").to_pylist()
        if len(set(accessions)) != len(accessions):
            repeated = sorted({a for a in accessions if accessions.count(a) > 1})
            raise ValueError(f"a batch holds accessions more than once: {repeated[:5]}")
        known = pa.array(accessions, pa.string())
        for name in CHILD_TABLES:
            column = batch[name].column("accession")
            orphans = pc.unique(column.filter(pc.invert(pc.is_in(column, value_set=known))))
            if len(orphans):
                raise ValueError(f"{name}: rows of accessions with no filings row: {orphans.to_pylist()[:5]}")
        with self._locked(timeout=self.lock_timeout):
            return self._write_batch(batch, accessions)

    def check_writable(self) -> None:
        """Raise ``UserError`` now, before any work, if this store cannot be created or locked."""
        with self._locked(timeout=self.lock_timeout):
            pass

    def _write_batch(self, batch: dict[str, pa.Table], accessions: list[str]) -> WriteResult:
        index = self._accession_index()
        fresh = index.missing(accessions)
        keep = pa.array(fresh, pa.string())
        written = {
            name: batch[name].filter(pc.is_in(batch[name].column("accession"), value_set=keep))
            for name in (*CHILD_TABLES, FILINGS)
        }
        quarantine, quarantine_duplicates = self._fresh_quarantine(batch[QUARANTINE])
        written[QUARANTINE] = quarantine
        files = [
            (name, path, table)
            for name in WRITE_ORDER
            for path, table in self._partition_files(name, written[name])
        ]
        if files:
            try:
                self._write_files(files)
            except BaseException:
                self._recover()
                raise
        index.add(fresh)
        self._quarantine_index().update(_quarantine_keys(quarantine))
        return WriteResult(
            filings=len(fresh),
            rows={name: written[name].num_rows for name in STORE_TABLES},
            duplicates=len(accessions) - len(fresh),
            quarantined=quarantine.num_rows,
            quarantine_duplicates=quarantine_duplicates,
            files=len(files),
        )

    # internals

    def _accession_index(self) -> AccessionIndex:
        if self._accessions is None:
            self._accessions = AccessionIndex(self.scan(FILINGS).select("accession").collect().to_series())
        return self._accessions

    def _quarantine_index(self) -> set[tuple[str | None, str | None]]:
        if self._quarantine_keys is None:
            frame = self.scan(QUARANTINE).select("source", "sha1").collect()
            self._quarantine_keys = set(frame.iter_rows())
        return self._quarantine_keys

    def _fresh_quarantine(self, table: pa.Table) -> tuple[pa.Table, int]:
        """Quarantine rows whose (source, sha1) is not stored yet nor repeated earlier in the batch."""
        seen = set(self._quarantine_index())
        mask = []
        for key in _quarantine_keys(table):
            mask.append(key not in seen)
            seen.add(key)
        fresh = table.filter(pa.array(mask, pa.bool_())) if table.num_rows else table
        return fresh, table.num_rows - fresh.num_rows

    def _partition_files(self, name: str, table: pa.Table) -> Iterable[tuple[Path, pa.Table]]:
        """One table per partition, sorted by key and named by a hash of its keys: a batch is reproducible."""
        if table.num_rows == 0:
            return
        year, month = PARTITION_COLUMNS
        if table.column(year).null_count or table.column(month).null_count:
            raise ValueError(f"{name}: rows without {year}/{month}")
        keys = ["source", "sha1"] if name == QUARANTINE else ["accession"]
        table = table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in (year, month, *keys)]))
        parts = list(zip(table.column(year).to_pylist(), table.column(month).to_pylist(), strict=True))
        start = 0
        for end in range(1, len(parts) + 1):
            if end < len(parts) and parts[end] == parts[start]:
                continue
            rows = table.slice(start, end - start)
            digest = hashlib.sha1(name.encode())
            for key in zip(*(rows.column(k).to_pylist() for k in keys), strict=True):
                digest.update(repr(key).encode())
            directory = self.root / name / f"{year}={parts[start][0]}" / f"{month}={parts[start][1]}"
            file_name = f"part-{digest.hexdigest()[:20]}.parquet"
            yield directory / file_name, rows.select(_FILE_SCHEMAS[name].names)
            start = end

    def _write_files(self, files: list[tuple[str, Path, pa.Table]]) -> None:
        """Journal the batch, write the child files, then the filings files, then drop the journal."""
        journal = self.root / JOURNAL
        replace_bytes(journal, json.dumps([str(p.relative_to(self.root)) for _, p, _ in files]).encode())
        with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="store-io") as pool:
            for stage in (False, True):
                _write_stage(
                    [(path, table) for name, path, table in files if (name == FILINGS) is stage], pool
                )
        journal.unlink()
        fsync_directory(self.root)

    @contextlib.contextmanager
    def _locked(self, *, timeout: float) -> Iterator[None]:
        """Hold the writer lock: repair a crashed batch, bump the generation, reload stale indexes."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.root / LOCK)
            lock.acquire(timeout=timeout, poll_interval=LOCK_POLL_SECONDS)
        except Timeout:
            holder = _read_writer(self.root / WRITER)[1]
            raise UserError(
                f"the store {self.root} is being written by another process (pid {holder})",
                fix="wait for the other ingest or update to finish, or use another --store",
            ) from None
        except OSError as exc:
            raise UserError(
                f"cannot write to the store {self.root}: {exc.strerror or exc}",
                fix="pass a --store directory you can write to",
            ) from exc
        try:
            generation = _read_writer(self.root / WRITER)[0]
            self._forget_if_changed(generation)
            self._recover()
            self._generation = (generation or 0) + 1
            replace_bytes(self.root / WRITER, f"{self._generation} {os.getpid()}\n".encode())
            yield
        finally:
            lock.release()

    def _forget_if_changed(self, generation: int | None) -> None:
        """Drop the in-memory indexes when another writer has changed the store since they were loaded."""
        if generation is None or generation != self._generation:
            self._accessions = None
            self._quarantine_keys = None
            self._generation = generation

    def _needs_recovery(self) -> bool:
        return (self.root / JOURNAL).exists() or any(self.root.rglob(f"*{TMP_SUFFIX}"))

    def _recover(self) -> None:
        """Remove temp files and finish or undo the batch named by a surviving journal.

        Temp files outside the root only exist while a journal does, so the tree is swept for them
        once per instance and whenever a journal survived.
        """
        journal = self.root / JOURNAL
        journal.with_name(JOURNAL + TMP_SUFFIX).unlink(missing_ok=True)
        if journal.exists() or not self._swept:
            for temp in self.root.rglob(f"*{TMP_SUFFIX}"):
                temp.unlink()
            self._swept = True
        if not journal.exists():
            return
        paths = [self.root / p for p in json.loads(journal.read_bytes())]
        if not all(p.exists() for p in paths):
            for path in paths:
                path.unlink(missing_ok=True)
            for directory in {path.parent for path in paths if path.parent.exists()}:
                fsync_directory(directory)
        journal.unlink()
        fsync_directory(self.root)


def _polars_schema(name: str) -> pl.Schema:
    if name not in _POLARS_SCHEMAS:
        raise ValueError(f"unknown store table {name!r}; the tables are {', '.join(STORE_TABLES)}")
    return _POLARS_SCHEMAS[name]


def _validated(tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    unknown = set(tables) - set(STORE_TABLES)
    if unknown:
        raise ValueError(f"unknown store tables {sorted(unknown)}; the tables are {', '.join(STORE_TABLES)}")
    batch = {}
    for name, schema in STORE_TABLES.items():
        table = tables.get(name)
        if table is None:
            table = schema.empty_table()
        elif not table.schema.equals(schema):
            raise ValueError(f"table {name!r} does not match its schema in parsers.schema:\n{table.schema}")
        batch[name] = table
    return batch


def _quarantine_keys(table: pa.Table) -> list[tuple[str | None, str | None]]:
    return list(zip(table.column("source").to_pylist(), table.column("sha1").to_pylist(), strict=True))


def _read_writer(path: Path) -> tuple[int | None, str]:
    """The generation and the pid of the last writer (None, "unknown" if absent or unreadable)."""
    try:
        generation, pid = path.read_text().split()
        return int(generation), pid
    except (OSError, ValueError):
        return None, "unknown"


def _write_stage(files: list[tuple[Path, pa.Table]], pool: ThreadPoolExecutor) -> None:
    """Write files durably: temp files written and fsynced concurrently (the file system commits
    concurrent fsyncs together), then renamed into place, then their directories fsynced."""
    for path, _ in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    temps = list(pool.map(write_parquet_temp, *zip(*files, strict=True))) if files else []
    for temp, (path, _) in zip(temps, files, strict=True):
        os.replace(temp, path)
    directories = {
        d for path, _ in files for d in (path.parent, path.parent.parent, path.parent.parent.parent)
    }
    list(pool.map(fsync_directory, sorted(directories)))
