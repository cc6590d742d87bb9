"""Files, directories and archives of EDGAR ownership filings -> the store, in batches, on every core.

The parent walks the inputs (directories recursively, ``.zip`` and ``.tar.gz``/``.tgz``/``.tar``
archives member by member, nested archives too) and reads the bytes; chunks of files are parsed by
``parsers.tables.TableBuilder``, in worker processes for large inputs, which send back Arrow IPC bytes;
the parent deduplicates and writes batches to the store. Nothing here raises on bad input: a file that
cannot be read or parsed, or an archive that is corrupt, becomes a quarantine row with its source
(``archive.zip!member/path`` inside archives), its accession when known and a one-line reason.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import multiprocessing
import os
import re
import stat
import tarfile
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import UserError
from parsers.schema import QUARANTINE_SCHEMA, STORE_TABLES
from parsers.submission import is_sgml
from parsers.tables import TableBuilder

if TYPE_CHECKING:
    from engine.store.datasets import Store

FILING_SUFFIXES: frozenset[str] = frozenset({".xml", ".txt", ".nc", ".sgml"})
"""Files inside directories and archives that are read as filings; other files are skipped (counted)."""
MAX_FILING_BYTES = 64 * 1024 * 1024
"""A larger file is no ownership filing: quarantined by path without reading it."""
MAX_ARCHIVE_DEPTH = 3
CHUNK_BYTES = 32 * 1024 * 1024
"""A parse task holds at most ``chunk_size`` files or about this many bytes, whichever comes first."""
BATCH_BYTES = 256 * 1024 * 1024
"""A store write happens every ``batch_size`` filings or once the pending tables hold this many bytes
(quarantined files keep their bytes, and a feed of non-ownership submissions can be large)."""

_ACCESSION = re.compile(r"(\d{10})-(\d{2})-(\d{6})")
_COMPACT_ACCESSION = re.compile(r"(\d{10})(\d{2})(\d{6})")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One input that was not stored: where it came from, its accession if known, and why."""

    source: str
    accession: str | None
    reason: str


@dataclass
class IngestReport:
    """What one ``ingest`` call did."""

    files: int = 0
    archives: int = 0
    skipped: int = 0
    filings: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORE_TABLES, 0))
    duplicates: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1


@dataclass(frozen=True, slots=True)
class _Input:
    source: str
    data: bytes
    accession: str | None


@dataclass(frozen=True, slots=True)
class _Failure:
    source: str
    reason: str
    data: bytes | None
    size: int | None


def accession_hint(name: str) -> str | None:
    """The accession number a file name carries (``0000011544-20-000013.txt``, ``000001154420000013.xml``)."""
    base = name.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
    found = _ACCESSION.search(base)
    if found:
        return "-".join(found.groups())
    compact = _COMPACT_ACCESSION.fullmatch(base.split(".", 1)[0])
    return "-".join(compact.groups()) if compact else None


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
                f"no such file or directory: {root}",
                fix="pass files, directories, .zip or .tar.gz archives of EDGAR ownership filings",
            )
    store.check_writable()
    now = datetime.now(UTC)
    report = IngestReport(workers=max(1, workers or os.cpu_count() or 1))
    writer = _BatchWriter(store, report, batch_size, now)
    chunks = _chunks(_walk(roots, report, writer.fail, store.root), chunk_size)
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
        self.failures: list[_Failure] = []
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

    def fail(self, failure: _Failure) -> None:
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
        for name, count in result.rows.items():
            self.report.rows[name] += count


def _walk(
    roots: Iterable[Path], report: IngestReport, fail: Callable[[_Failure], None], store_root: Path
) -> Iterator[_Input]:
    """Every filing under the roots, in a stable order; failures go to ``fail``, skips to the report.

    Hidden files and directories, and the store itself when it lies under a root, are not walked."""
    store_root = store_root.resolve()

    def unreadable(error: OSError) -> None:
        source = str(error.filename) if error.filename else "directory"
        fail(_Failure(source, f"cannot read directory: {_one_line(error)}", None, None))

    for root in roots:
        if root.is_dir():
            for directory, subdirectories, names in os.walk(root, onerror=unreadable):
                subdirectories[:] = sorted(
                    d
                    for d in subdirectories
                    if not d.startswith(".") and (Path(directory) / d).resolve() != store_root
                )
                for name in sorted(names):
                    if not name.startswith("."):
                        yield from _file(Path(directory) / name, report, fail, explicit=False)
        else:
            yield from _file(root, report, fail, explicit=True)


def _file(
    path: Path, report: IngestReport, fail: Callable[[_Failure], None], *, explicit: bool
) -> Iterator[_Input]:
    """One file: an archive walked member by member, or a filing read whole."""
    source = str(path)
    archive = _is_archive(path.name)
    if not archive and not explicit and path.suffix.lower() not in FILING_SUFFIXES:
        report.skipped += 1
        return
    if archive:
        report.archives += 1
    else:
        report.files += 1
    what = "archive" if archive else "file"
    try:
        status = path.stat()
    except OSError as exc:
        fail(_Failure(source, f"cannot read {what}: {_one_line(exc)}", None, None))
        return
    if not stat.S_ISREG(status.st_mode):
        fail(_Failure(source, "not a regular file (a pipe, socket or device?)", None, None))
        return
    if archive:
        try:
            with open(path, "rb") as handle:
                yield from _archive(handle, source, path.name, report, fail, depth=1)
        except OSError as exc:
            fail(_Failure(source, f"cannot read archive: {_one_line(exc)}", None, status.st_size))
        return
    if status.st_size > MAX_FILING_BYTES:
        reason = f"file of {status.st_size} bytes is too large to be an ownership filing"
        fail(_Failure(source, reason, None, status.st_size))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(_Failure(source, f"cannot read file: {_one_line(exc)}", None, status.st_size))
        return
    yield _Input(source, data, accession_hint(path.name))


def _archive(
    handle: IO[bytes],
    source: str,
    name: str,
    report: IngestReport,
    fail: Callable[[_Failure], None],
    depth: int,
) -> Iterator[_Input]:
    """The filings inside one archive; a corrupt archive keeps the members read before the damage."""
    kind = "zip" if name.lower().endswith(".zip") else "tar"
    members = _zip_members if kind == "zip" else _tar_members
    count = 0
    try:
        for member, read in members(handle):
            count += 1
            inner = f"{source}!{member}"
            if depth < MAX_ARCHIVE_DEPTH and _is_archive(member):
                try:
                    data = read()
                except Exception as exc:
                    fail(_Failure(inner, f"cannot read archive member: {_one_line(exc)}", None, None))
                    continue
                report.archives += 1
                yield from _archive(io.BytesIO(data), inner, member, report, fail, depth + 1)
                continue
            if member.lower()[member.rfind(".") :] not in FILING_SUFFIXES:
                report.skipped += 1
                continue
            report.files += 1
            try:
                data = read()
            except Exception as exc:
                fail(_Failure(inner, f"cannot read archive member: {_one_line(exc)}", None, None))
                continue
            yield _Input(inner, data, accession_hint(member))
    except Exception as exc:
        handle.seek(0)
        data = handle.read(MAX_FILING_BYTES + 1)
        kept = data if len(data) <= MAX_FILING_BYTES else None
        where = f" after {count} members" if count else ""
        fail(_Failure(source, f"corrupt {kind} archive{where}: {_one_line(exc)}", kept, None))


def _zip_members(handle: IO[bytes]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            if info.is_dir() or _hidden(info.filename):
                continue
            yield info.filename, lambda info=info: _read_limited(archive.open(info), info.file_size)


def _tar_members(handle: IO[bytes]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    with tarfile.open(fileobj=handle, mode="r:*") as archive:
        for info in archive:
            if not info.isfile() or _hidden(info.name):
                continue
            yield info.name, lambda info=info: _read_limited(archive.extractfile(info), info.size)


def _read_limited(stream: IO[bytes] | None, declared: int) -> bytes:
    if stream is None or declared > MAX_FILING_BYTES:
        raise ValueError(f"member of {declared} bytes is too large to be an ownership filing")
    with stream:
        data = stream.read(MAX_FILING_BYTES + 1)
    if len(data) > MAX_FILING_BYTES:
        raise ValueError("member expands beyond the size of any ownership filing")
    return data


def _parse_chunk(chunk: list[_Input], now: datetime) -> tuple[int, dict[str, bytes], int]:
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


def _parse_here(now: datetime) -> Callable[[list[_Input]], tuple[int, dict[str, bytes], int]]:
    return lambda chunk: _parse_chunk(chunk, now)


def _parse_in_pool(
    chunks: Iterator[list[_Input]], workers: int, now: datetime
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


def _failure_table(failures: list[_Failure], now: datetime) -> pa.Table:
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


def _chunks(items: Iterator[_Input], size: int) -> Iterator[list[_Input]]:
    chunk: list[_Input] = []
    total = 0
    for item in items:
        chunk.append(item)
        total += len(item.data)
        if len(chunk) == size or total >= CHUNK_BYTES:
            yield chunk
            chunk, total = [], 0
    if chunk:
        yield chunk


def _is_archive(name: str) -> bool:
    return name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def _hidden(member: str) -> bool:
    parts = [part for part in member.split("/") if part not in ("", ".", "..")]
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _one_line(exc: BaseException) -> str:
    message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = " ".join(message.split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
