"""Files, directories and archives of EDGAR ownership filings -> the store, in batches, on every core.

The parent walks the inputs and reads the bytes (``engine.store.inputs``); chunks of files are parsed by
``parsers.tables.TableBuilder``, in worker processes for large inputs, which send back Arrow IPC bytes;
the parent deduplicates and writes batches to the store. Nothing here raises on bad input: a file that
cannot be read or parsed, or an archive that is corrupt or nested too deep, becomes a quarantine row
with its source, its accession when known and a one-line reason.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import UserError
from engine.store.inputs import Failure, Input, accession_hint, shown_name, walk
from parsers.schema import QUARANTINE_SCHEMA, STORE_TABLES
from parsers.submission import is_sgml
from parsers.tables import TableBuilder

if TYPE_CHECKING:
    from engine.store.datasets import Store

CHUNK_BYTES = 32 * 1024 * 1024
"""A parse task holds at most ``chunk_size`` files or about this many bytes, whichever comes first."""
BATCH_BYTES = 256 * 1024 * 1024
"""A store write happens every ``batch_size`` filings or once the pending tables hold this many bytes
(quarantined files keep their bytes, and a feed of non-ownership submissions can be large)."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One input that was not stored: where it came from, its accession if known, and why."""

    source: str
    accession: str | None
    reason: str


@dataclass
class IngestReport:
    """What one ``ingest`` call did: ``skipped`` files that are no filings, ``links`` not followed,
    ``duplicates`` not stored again, ``replaced`` copies without an accession (``engine.store.indexes``)."""

    files: int = 0
    archives: int = 0
    skipped: int = 0
    links: int = 0
    filings: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORE_TABLES, 0))
    duplicates: int = 0
    replaced: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    store: Store,
    *,
    workers: int | None = None,
    batch_size: int = 5000,
    chunk_size: int = 256,
    parallel_threshold: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Parse every filing under ``paths`` into ``store``; ``workers`` defaults to the number of cores.

    Inputs of fewer than ``parallel_threshold`` files are parsed in this process (starting workers
    costs more than it saves); larger ones by a pool of ``workers`` processes, ``chunk_size`` files per
    task. The store is written every ``batch_size`` filings. ``progress`` gets each chunk's file count.
    The pool starts processes with ``forkserver`` (``spawn`` on Windows): a script calling this needs the
    ``if __name__ == "__main__":`` guard.
    """
    started = time.perf_counter()
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise UserError(
                f"no such file or directory: {shown_name(str(root))}",
                fix="pass files, directories, .zip or .tar.gz archives of EDGAR ownership filings",
            )
    store.check_writable()
    now = datetime.now(UTC)
    report = IngestReport(workers=max(1, workers or os.cpu_count() or 1))
    writer = _BatchWriter(store, report, batch_size, now)
    chunks = _chunks(walk(roots, report, writer.fail, store.root), chunk_size)
    head = list(itertools.islice(chunks, max(1, -(-parallel_threshold // chunk_size))))
    parallel = report.workers > 1 and sum(map(len, head)) >= parallel_threshold
    if not parallel:
        report.workers = 1
    everything = itertools.chain(head, chunks)
    results = (
        _parse_in_pool(everything, report.workers, now) if parallel else map(_parse_here(now), everything)
    )
    with writer:
        for size, encoded, duplicates in results:
            writer.add(_decode(encoded), duplicates)
            if progress is not None:
                progress(size)
        writer.flush()
    report.quarantined.sort(key=lambda item: item.source)
    report.seconds = time.perf_counter() - started
    return report


class _BatchWriter:
    """Collects chunk results, drops accessions repeated across the chunks of a batch (the store drops
    those stored by earlier batches), and writes every ``batch_size`` filings.

    A batch is written on a background thread (Parquet encoding and fsync release the GIL) while the
    next one is parsed; at most one write is in flight, and leaving the context waits for it.
    """

    def __init__(self, store: Store, report: IngestReport, batch_size: int, now: datetime) -> None:
        self.store = store
        self.report = report
        self.batch_size = batch_size
        self.now = now
        self.pending: list[dict[str, pa.Table]] = []
        self.failures: list[Failure] = []
        self.accessions: set[str] = set()
        self.filings = 0
        self.bytes = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._writing: Future | None = None

    def __enter__(self) -> _BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown()

    def fail(self, failure: Failure) -> None:
        self.failures.append(failure)
        self.bytes += len(failure.data or b"")
        if self.bytes >= BATCH_BYTES:
            self.flush()
        self.report.quarantined.append(
            Quarantined(failure.source, accession_hint(failure.source), failure.reason)
        )

    def add(self, tables: dict[str, pa.Table], duplicates: int) -> None:
        self.report.duplicates += duplicates
        accessions = tables["filings"].column("accession")
        repeated = pa.array(sorted(self.accessions.intersection(accessions.to_pylist())), pa.string())
        if len(repeated):
            self.report.duplicates += len(repeated)
            tables = {
                name: table
                if name == "quarantine"
                else table.filter(pc.invert(pc.is_in(table.column("accession"), value_set=repeated)))
                for name, table in tables.items()
            }
        self.accessions.update(accessions.to_pylist())
        quarantine = tables["quarantine"]
        self.report.quarantined.extend(
            Quarantined(*row)
            for row in zip(
                quarantine.column("source").to_pylist(),
                quarantine.column("accession").to_pylist(),
                quarantine.column("reason").to_pylist(),
                strict=True,
            )
        )
        self.pending.append(tables)
        self.filings += tables["filings"].num_rows
        self.bytes += sum(table.nbytes for table in tables.values())
        if self.filings >= self.batch_size or self.bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending and not self.failures:
            return
        failed = {name: schema.empty_table() for name, schema in STORE_TABLES.items()}
        failed["quarantine"] = _failure_table(self.failures, self.now)
        tables = {
            name: pa.concat_tables([batch[name] for batch in (*self.pending, failed)])
            for name in STORE_TABLES
        }
        self._wait()
        self._writing = self._thread.submit(self.store.write, tables)
        self.pending, self.failures, self.filings, self.bytes = [], [], 0, 0
        self.accessions.clear()

    def _wait(self) -> None:
        """Wait for the write in flight, and count what it stored."""
        if self._writing is None:
            return
        writing, self._writing = self._writing, None
        result = writing.result()
        self.report.filings += result.filings
        self.report.duplicates += result.duplicates
        self.report.replaced += result.replaced
        for name, count in result.rows.items():
            self.report.rows[name] += count


def _parse_chunk(chunk: list[Input], now: datetime) -> tuple[int, dict[str, bytes], int]:
    """Worker: parse one chunk; (inputs, Arrow IPC bytes per table, accessions repeated in the chunk)."""
    builder = TableBuilder(now)
    duplicates = 0
    for item in chunk:
        before = len(builder)
        hint = None if is_sgml(item.data) else item.accession
        stored = builder.add(item.data, source=item.source, accession=hint)
        if stored is not None and len(builder) == before:
            duplicates += 1
    return len(chunk), {name: _encode(table) for name, table in builder.build().items()}, duplicates


def _parse_here(now: datetime) -> Callable[[list[Input]], tuple[int, dict[str, bytes], int]]:
    return lambda chunk: _parse_chunk(chunk, now)


def _parse_in_pool(
    chunks: Iterator[list[Input]], workers: int, now: datetime
) -> Iterator[tuple[int, dict[str, bytes], int]]:
    """Chunk results in input order, with at most two chunks per worker in flight (bounded memory)."""
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            in_flight: deque[Future] = deque()
            for chunk in chunks:
                in_flight.append(pool.submit(_parse_chunk, chunk, now))
                if len(in_flight) >= 2 * workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
    except BrokenProcessPool as exc:
        raise UserError(
            f"a parser process died ({exc}); the batches written before it are kept",
            fix="rerun the same command (stored filings are skipped), with --workers 1 if it recurs",
        ) from exc


def _encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decode(encoded: dict[str, bytes]) -> dict[str, pa.Table]:
    return {name: pa.ipc.open_stream(data).read_all() for name, data in encoded.items()}


def _failure_table(failures: list[Failure], now: datetime) -> pa.Table:
    rows = [
        {
            "source": f.source,
            "accession": accession_hint(f.source),
            "reason": f.reason,
            "sha1": hashlib.sha1(f.data).hexdigest() if f.data is not None else None,
            "size": len(f.data) if f.data is not None else f.size,
            "content": f.data,
            "quarantined_at": now,
            "filing_year": now.year,
            "filing_month": now.month,
        }
        for f in failures
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def _chunks(items: Iterator[Input], size: int) -> Iterator[list[Input]]:
    chunk: list[Input] = []
    total = 0
    for item in items:
        chunk.append(item)
        total += len(item.data)
        if len(chunk) == size or total >= CHUNK_BYTES:
            yield chunk
            chunk, total = [], 0
    if chunk:
        yield chunk
