"""The Parquet store: one hive-partitioned dataset per table of ``parsers.schema.STORE_TABLES``.

Layout: ``ROOT/<table>/filing_year=YYYY/filing_month=M/part-<hash>.parquet``; partition columns live in
the directory names, not in the files. Beside the tables live the side datasets, each in its own
directory with its own layout: ``_manifest`` (``engine.store.manifest``) and ``shares_outstanding``
(``engine.store.shares``). Every path inside a store is built in ``engine.store``: others ask a
``Store`` for a dataset's directory or scan. Readers only ever match ``*.parquet`` and every file appears by
``os.replace`` of a fully written, fsynced temp file, so a reader never sees half a file.

A write is one batch of filings, published at once. Every file of a batch is first written under a
hidden staging name next to its place (``.part-<hash>.parquet.tmp``: a leading dot and no
``.parquet`` suffix, so that no Parquet reader, glob or directory discovery, sees it) and fsynced;
then the journal (``ROOT/_journal.json``) turns from "staging" to "publish", and the staged files are
renamed into place, child tables (owners, transactions, footnotes, quarantine) before ``filings/``:
an accession counts as stored only once its filings row is. Opening a store whose journal survived
a crash rolls a staging batch back (its staged files are removed: no reader ever saw them) and
finishes a publishing one (the rest of its files renamed into place, or, should one be missing after
a power loss, the whole batch removed), so that a retry stores each row exactly once. A batch that
replaces stored filings (one filing, one row: ``engine.store.indexes``) stages rewrites of the files
that hold their rows and removes those files once the rewrites are published.

Many daily writes leave many small files in a partition: ``engine.store.compaction`` rewrites a
partition as one file, on demand (``Store.compact``) and after writes (the partitions they leave past
the threshold, and the month they have moved on from).

One process writes at a time: each write holds an exclusive lock on ``ROOT/.lock`` (``filelock``: an
OS lock on Linux, macOS and Windows, released by the OS if the process dies) and bumps a generation
number kept with the writer's pid in ``ROOT/.writer``. An instance keeps the stored accessions in
memory (packed, and only for the accession years it was asked about: ``indexes.StoredAccessions``) and
reloads them only when the generation shows that another instance or process wrote since.
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

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from engine.errors import UserError
from engine.store.atomic import TMP_SUFFIX, fsync_directory, replace_bytes, with_retries, write_parquet_temp
from engine.store.compaction import (
    STAGING_DIR,
    CompactionReport,
    Footprint,
    compact_partitions,
    conformed,
    data_files,
    due_after_write,
    footprint,
    partition_of,
    sweep,
    threshold_from_environment,
)
from engine.store.indexes import COLUMNS, ContentIndex, Resolution, StoredAccessions, resolve
from engine.store.journal import JOURNAL, PUBLISH, STAGING, finish_or_undo, hidden, leftover_temps, publish
from parsers.schema import PARTITION_COLUMNS, STORE_TABLES

FILINGS = "filings"
QUARANTINE = "quarantine"
CHILD_TABLES: tuple[str, ...] = tuple(name for name in STORE_TABLES if name not in (FILINGS, QUARANTINE))
WRITE_ORDER: tuple[str, ...] = (*CHILD_TABLES, QUARANTINE, FILINGS)
"""Child tables first, ``filings/`` last: the filings row is what marks an accession as stored."""

MANIFEST = "_manifest"
"""The downloader's record of every accession it dealt with (``engine.store.manifest``)."""
SHARES_OUTSTANDING = "shares_outstanding"
"""Cover-page shares outstanding, one file per XBRL frame (``engine.store.shares``)."""
PRICES = "prices"
"""Daily prices, one file per series (``engine.evaluation.price_store``)."""
COMPANY_TICKERS = "company_tickers"
"""The SEC's current ticker map, as last fetched (``engine.scoring.tickers``)."""
SIDE_DATASETS: tuple[str, ...] = (MANIFEST, SHARES_OUTSTANDING, PRICES, COMPANY_TICKERS)
"""Datasets kept beside the filing batches (each written by the module named)."""

LOCK = ".lock"
WRITER = ".writer"
"""``generation pid`` of the last write: the generation tells instances their indexes are stale, the pid
names the holder when the lock is busy."""
LOCK_POLL_SECONDS = 0.05
IO_THREADS = 8
"""Files of a batch written and fsynced concurrently (Parquet encoding and fsync release the GIL)."""

_POLARS_SCHEMAS: dict[str, pl.Schema] = {  # (schema.empty_table() would import pandas: 48 MB)
    name: pl.from_arrow(pa.Table.from_batches([], schema)).schema for name, schema in STORE_TABLES.items()
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
    replaced: int = 0
    """Stored filings without an accession that a copy with one replaced (``engine.store.indexes``)."""
    compacted: int = 0
    """Partitions the write left with more files than the threshold, compacted after it."""


class Store:
    """A directory of hive-partitioned Parquet datasets, read as Polars lazy scans, written in batches."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        lock_timeout: float = 60.0,
        compact_threshold: int | None = None,
    ) -> None:
        """``compact_threshold``: files a partition may hold before a write compacts it (None: the
        default or ``$INSIDER_COMPACT_THRESHOLD``; 0: never, ``insider compact`` still does)."""
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self.compact_threshold: int = (
            threshold_from_environment() if compact_threshold is None else compact_threshold
        )
        self._generation: int | None = None
        self._swept = False
        self._accessions: StoredAccessions | None = None
        self._contents: ContentIndex | None = None
        self._quarantine_keys: set[tuple[str | None, str | None]] | None = None
        if self.root.is_dir() and os.access(self.root, os.W_OK) and self._needs_recovery():
            with contextlib.suppress(UserError), self._locked(timeout=0.0):
                pass

    @classmethod
    def existing(cls, root: str | os.PathLike[str], *, holding: str = FILINGS) -> Store:
        """The store at ``root``, refused with a ``UserError`` when it has no ``holding`` table yet."""
        store = cls(root)
        if not store.dataset_dir(holding).is_dir():
            raise UserError(
                f"no store at {store.root} (no {holding}/ directory)", fix="run `insider ingest` first"
            )
        return store

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def dataset_dir(self, name: str) -> Path:
        """The directory of one dataset: a table of ``STORE_TABLES`` or one of ``SIDE_DATASETS``."""
        if name not in STORE_TABLES and name not in SIDE_DATASETS:
            known = ", ".join((*STORE_TABLES, *SIDE_DATASETS))
            raise ValueError(f"unknown store dataset {name!r}; the datasets are {known}")
        return self.root / name

    # reading

    def scan(self, name: str) -> pl.LazyFrame:
        """Lazy scan of one dataset, typed exactly per its schema; empty frame of the schema if empty.

        Files written before a column was added to the schema scan with that column null, and columns
        a file has beyond the schema are ignored, so that a store outlives schema changes."""
        schema = _polars_schema(name)
        directory = self.dataset_dir(name)
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

    def missing(self, accessions: list[str]) -> list[str]:
        """The given accessions not stored yet, in order: answered from the packed index that writes keep
        current, which reads the stored accessions of a year when first asked about it."""
        return with_retries(lambda: self._accession_index().missing(accessions))

    def last_filing_date(self) -> date | None:
        """The latest ``filing_date`` of any stored filing, or None for an empty store: read from the newest
        partition holding one (a filing lies in the month of its filing date, when it has one)."""
        for directory in reversed(self._partition_directories(FILINGS)):
            files = data_files(directory)
            newest = pl.scan_parquet(files).select(pl.col("filing_date").max()) if files else None
            latest = with_retries(newest.collect).item() if newest is not None else None
            if latest is not None:
                return latest
        return None

    def side_directory(self, name: str) -> Path:
        """A directory of the store for state kept beside the datasets (``_watch``), created if missing;
        its name starts with ``_`` so that no dataset scan ever reads it."""
        if not name.startswith("_") or "/" in name:
            raise ValueError(f"a side directory is named _name, got {name!r}")
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def summary(self) -> dict[str, int]:
        """Row count of every dataset."""
        return {name: self.scan(name).select(pl.len()).collect().item() for name in STORE_TABLES}

    def footprint(self) -> dict[str, Footprint]:
        """Data files and bytes of every dataset."""
        return {name: footprint(self._partition_directories(name)) for name in STORE_TABLES}

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

    def compact(self, table: str | None = None) -> CompactionReport:
        """Rewrite every partition holding more than one data file as one (of every dataset, or of
        ``table``): atomic per partition and for readers, idempotent (``engine.store.compaction``)."""
        names = list(STORE_TABLES) if table is None else [table]
        for name in names:
            _polars_schema(name)
        with self._locked(timeout=self.lock_timeout):
            before = {name: footprint_ for name, footprint_ in self.footprint().items() if name in names}
            partitions = self._compact([(n, d) for n in names for d in self._partition_directories(n)])
            after = {name: footprint_ for name, footprint_ in self.footprint().items() if name in names}
        return CompactionReport(before, after, partitions)

    def check_writable(self) -> None:
        """Raise ``UserError`` now, before any work, if this store cannot be created or locked."""
        with self._locked(timeout=self.lock_timeout):
            pass

    def _write_batch(self, batch: dict[str, pa.Table], accessions: list[str]) -> WriteResult:
        index = self._accession_index()
        fresh = index.missing(accessions)
        hashed = _hashes(batch[FILINGS], fresh)
        resolution = resolve(hashed, self._content_index()) if hashed else Resolution()
        fresh = [accession for accession in fresh if accession not in resolution.drop]
        keep = pa.array(fresh, pa.string())
        written = {
            name: batch[name].filter(pc.is_in(batch[name].column("accession"), value_set=keep))
            for name in (*CHILD_TABLES, FILINGS)
        }
        quarantine, quarantine_duplicates = self._fresh_quarantine(batch[QUARANTINE])
        written[QUARANTINE] = quarantine
        obsolete, rewritten = self._without(resolution)
        files = [
            (name, path, table)
            for name in WRITE_ORDER
            for path, table in [*self._partition_files(name, written[name]), *rewritten.get(name, [])]
        ]
        if files or obsolete:
            try:
                self._write_files(files, obsolete)
            except BaseException:
                self._recover()
                raise
        index.add(fresh)
        if resolution.replace:
            index.remove(list(resolution.replace))
        if self._contents is not None:
            self._contents.add(pl.from_arrow(written[FILINGS].select(list(COLUMNS))))
            self._contents.forget(resolution.replace)
        self._quarantine_index().update(_quarantine_keys(quarantine))
        touched = {(name, path.parent) for name, path, _ in files}
        compacted = self._compact(due_after_write(touched, self.compact_threshold, self._partition_dir))
        return WriteResult(
            filings=len(fresh),
            rows={name: written[name].num_rows for name in STORE_TABLES},
            duplicates=len(accessions) - len(fresh),
            quarantined=quarantine.num_rows,
            quarantine_duplicates=quarantine_duplicates,
            files=len(files),
            replaced=len(resolution.replace),
            compacted=sum(compacted.values()),
        )

    # internals

    def _partition_directories(self, name: str) -> list[Path]:
        """A dataset's partition directories, oldest month first."""
        pattern = f"{PARTITION_COLUMNS[0]}=*/{PARTITION_COLUMNS[1]}=*"
        found = [path for path in self.dataset_dir(name).glob(pattern) if path.is_dir()]
        return sorted(found, key=partition_of)

    def _data_files(self, name: str) -> list[Path]:
        return [path for directory in self._partition_directories(name) for path in data_files(directory)]

    def _compact(self, partitions: list[tuple[str, Path]]) -> dict[str, int]:
        """Compact each ``(table, directory)`` holding more than one file (writer lock held)."""
        return compact_partitions(self.root, partitions, self._write_files)

    def _accession_index(self) -> StoredAccessions:
        if self._accessions is None:
            self._accessions = StoredAccessions(lambda: self._data_files(FILINGS))
        return self._accessions

    def _content_index(self) -> ContentIndex:
        if self._contents is None:
            self._contents = ContentIndex(lambda: self.scan(FILINGS))
        return self._contents

    def _without(self, resolution: Resolution) -> tuple[list[Path], dict[str, list[tuple[Path, pa.Table]]]]:
        """The stored files holding rows of the filings a batch replaces, and their rewrites without them.

        A filing's rows all lie in its own partition, in every table but quarantine."""
        obsolete: list[Path] = []
        rewritten: dict[str, list[tuple[Path, pa.Table]]] = {}
        gone = pa.array(sorted(resolution.replace), pa.string())
        for name in (*CHILD_TABLES, FILINGS):
            for year, month in sorted(set(resolution.replace.values())):
                for path in data_files(self._partition_dir(name, year, month)):
                    held = pq.read_table(path, columns=["accession"]).column("accession")
                    if not pc.any(pc.is_in(held, value_set=gone)).as_py():
                        continue
                    table = conformed(pq.read_table(path), name, year, month)
                    kept = table.filter(pc.invert(pc.is_in(table.column("accession"), value_set=gone)))
                    obsolete.append(path)
                    rewritten.setdefault(name, []).extend(self._partition_files(name, kept))
        return obsolete, rewritten

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
            directory = self._partition_dir(name, *parts[start])
            file_name = f"part-{digest.hexdigest()[:20]}.parquet"
            yield directory / file_name, rows.select(_FILE_SCHEMAS[name].names)
            start = end

    def _partition_dir(self, name: str, year: int, month: int) -> Path:
        return self.dataset_dir(name) / f"{PARTITION_COLUMNS[0]}={year}" / f"{PARTITION_COLUMNS[1]}={month}"

    def _write_files(self, files: list[tuple[str, Path, pa.Table]], obsolete: list[Path]) -> None:
        """Journal the batch, stage every file, mark the journal publishing, publish (renames, then the
        removal of the ``obsolete`` files that replaced rows lived in), drop the journal."""
        journal = self.root / JOURNAL
        entry = {
            "files": [str(path.relative_to(self.root)) for _, path, _ in files],
            "obsolete": [str(path.relative_to(self.root)) for path in obsolete],
        }
        replace_bytes(journal, json.dumps({"state": STAGING, **entry}).encode())
        with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="store-io") as pool:
            for _, path, _ in files:
                path.parent.mkdir(parents=True, exist_ok=True)
            list(pool.map(lambda item: write_parquet_temp(hidden(item[1]), item[2]), files))
            replace_bytes(journal, json.dumps({"state": PUBLISH, **entry}).encode())
            publish([path for _, path, _ in files], obsolete, pool)
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
            self._contents = None
            self._quarantine_keys = None
            self._generation = generation

    def _needs_recovery(self) -> bool:
        journal = (self.root / JOURNAL).exists() or (self.root / STAGING_DIR).exists()
        return journal or any(self._leftover_temps())

    def _leftover_temps(self) -> Iterator[Path]:
        places = [self.dataset_dir(name) for name in (*STORE_TABLES, *SIDE_DATASETS)]
        return leftover_temps(
            self.root, (JOURNAL, WRITER), places + [p for p in self.root.glob("_*") if p.is_dir()]
        )

    def _recover(self) -> None:
        """Finish or undo the batch named by a surviving journal, then remove leftover temp files.

        Temp files outside the root only exist while a journal does, so the tree is swept for them
        once per instance and whenever a journal survived.
        """
        journal = self.root / JOURNAL
        journal.with_name(JOURNAL + TMP_SUFFIX).unlink(missing_ok=True)
        survived = journal.exists()
        if survived:
            finish_or_undo(self.root, json.loads(journal.read_bytes()))
            journal.unlink()
            fsync_directory(self.root)
        if survived or not self._swept:
            sweep(self.root)
            for temp in list(self._leftover_temps()):
                temp.unlink()
            self._swept = True


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


def _hashes(filings: pa.Table, fresh: list[str]) -> list[tuple[str, str]]:
    """``(accession, xml_sha256)`` of the batch's hashed filings rows whose accession is not stored, in
    order (rows from the SEC data sets have no hash)."""
    if filings.column("xml_sha256").null_count == filings.num_rows:
        return []
    new = set(fresh)
    pairs = zip(
        filings.column("accession").to_pylist(), filings.column("xml_sha256").to_pylist(), strict=True
    )
    return [pair for pair in pairs if pair[0] in new and pair[1] is not None]
