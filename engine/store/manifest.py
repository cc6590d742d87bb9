"""The _manifest dataset, written and read here only: the downloader's record of every accession it dealt
with, ``<store>/_manifest/part-NNNNNNNN-*.parquet``.

One part per batch, appended after the batch's rows are in the store (so a crash between the two only
means the batch is fetched again, and the store skips what it already has). Each part appears by an
atomic rename of a fsynced temp file. The latest record of an accession wins: a ``failed`` accession is
retried by the next run, a ``stored`` or ``quarantined`` one never is. Index files that could not be
read are kept in ``_manifest/index_gaps.json`` until a run over their day reads them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.store.atomic import replace_bytes, replace_parquet, replace_parquet_in_pieces
from engine.store.datasets import MANIFEST, Store

INDEX_GAPS = "index_gaps.json"
STATUSES = ("stored", "quarantined", "failed")

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("accession", pa.string(), nullable=False),
        ("cik", pa.int64()),
        ("form_type", pa.string()),
        ("filing_date", pa.date32()),
        ("status", pa.string()),
        ("reason", pa.string()),
    ]
)
"""One row per accession per attempt batch; ``reason`` says why a filing failed or was quarantined."""

_SCHEMA = pl.Schema(MANIFEST_SCHEMA)
PIECE_ROWS = 32_768
"""Records read (and, in a folded part, written as a row group) at a time: a few MB whatever the
manifest's size."""
_PART = re.compile(r"part-(\d{8})-[0-9a-f]{8}\.parquet")


@dataclass(frozen=True)
class ManifestRecord:
    """What happened to one accession in one run."""

    accession: str
    cik: int | None
    form_type: str | None
    filing_date: date | None
    status: str
    reason: str | None = None


class Manifest:
    """Reads and appends the manifest parts of one store."""

    def __init__(self, store: Store) -> None:
        self.directory = store.dataset_dir(MANIFEST)

    def _parts(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = ((_PART.fullmatch(p.name), p) for p in self.directory.iterdir())
        return sorted((int(m.group(1)), p) for m, p in found if m)

    def frame(self) -> pl.DataFrame:
        """The latest record of every accession (the whole manifest in memory: for tests and audits)."""
        parts = list(self._each_part())
        if not parts:
            return _empty()
        latest = pl.concat(parts).sort("_row").unique("accession", keep="last", maintain_order=True)
        return latest.drop("_row")

    def done(self) -> set[str]:
        """Accessions stored or quarantined: never fetched again."""
        frame = self.frame().filter(pl.col("status") != "failed")
        return set(frame.get_column("accession").to_list())

    def quarantined(self) -> pl.Series:
        """Accessions whose latest record is ``quarantined`` (never fetched again)."""
        return self.latest_with("quarantined").get_column("accession")

    def failures(self) -> dict[str, str]:
        """Accessions whose latest attempt failed, with the reason."""
        frame = self.latest_with("failed")
        return dict(
            zip(frame.get_column("accession").to_list(), frame.get_column("reason").to_list(), strict=True)
        )

    def latest_with(self, status: str) -> pl.DataFrame:
        """The latest record of each accession whose latest record has ``status``, read in pieces: memory
        holds one piece and the records with that status (few: failures, quarantined filings)."""
        latest: dict[str, dict] = {}
        for part in self._each_part():
            touched = part.filter(pl.col("status") == status).get_column("accession").to_list()
            for record in part.filter(pl.col("accession").is_in([*latest, *touched])).iter_rows(named=True):
                if record["status"] == status:
                    latest[record["accession"]] = record
                else:
                    latest.pop(record["accession"], None)
        if not latest:
            return _empty()
        return pl.DataFrame(list(latest.values()), schema=_SCHEMA | {"_row": pl.UInt32}).drop("_row")

    def last_filing_date(self) -> date | None:
        """The latest filing date the manifest has seen (None when empty): from the parts' Parquet
        statistics, without reading a record."""
        days = []
        for _, path in self._parts():
            metadata = pq.read_metadata(path)
            column = metadata.schema.names.index("filing_date")
            for group in range(metadata.num_row_groups):
                statistics = metadata.row_group(group).column(column).statistics
                if statistics is None or not statistics.has_min_max:
                    days.append(pl.read_parquet(path, columns=["filing_date"])["filing_date"].max())
                    break
                days.append(statistics.max)
        return max((day for day in days if day is not None), default=None)  # type: ignore[type-var]

    def index_gaps(self) -> dict[str, date]:
        """Index files (url -> first day they cover) that a run could not read and that no later run over
        that day has read since: ``insider update`` starts no later than the earliest of them."""
        path = self.directory / INDEX_GAPS
        if not path.exists():
            return {}
        return {url: date.fromisoformat(day) for url, day in json.loads(path.read_bytes()).items()}

    def record_index_gaps(self, start: date, end: date, failed: Mapping[str, date]) -> None:
        """After a run that read the indexes of ``start..end``: its failures replace the gaps it covered."""
        gaps = {url: day for url, day in self.index_gaps().items() if not start <= day <= end}
        gaps.update(failed)
        path = self.directory / INDEX_GAPS
        if not gaps:
            path.unlink(missing_ok=True)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        replace_bytes(path, json.dumps({url: day.isoformat() for url, day in sorted(gaps.items())}).encode())

    def append(self, records: Iterable[ManifestRecord]) -> Path | None:
        """Write one part atomically; returns its path (None when there is nothing to record)."""
        rows = list(records)
        if not rows:
            return None
        for row in rows:
            if row.status not in STATUSES:
                raise ValueError(f"unknown manifest status {row.status!r}")
        return self._write_part(pa.Table.from_pylist([row.__dict__ for row in rows], schema=MANIFEST_SCHEMA))

    def compact(self, *, threshold: int = 64) -> bool:
        """Fold the parts into one once there are more than ``threshold`` (one per batch adds up over years).

        Read and written in pieces, so memory stays flat however many records the manifest holds: an
        accession that ever failed keeps its latest record only; the others keep theirs as written (one
        each, since the downloader never fetches a stored or quarantined filing again). The folded part
        is written first, under the next sequence number, and only then are the older parts removed: a
        crash in between leaves duplicates that the newest part already overrides."""
        parts = self._parts()
        if len(parts) <= threshold:
            return False
        retried = self._ever_failed()

        def folded() -> Iterator[pa.Table]:
            again: list[pl.DataFrame] = []
            for part in self._each_part():
                mine = pl.col("accession").is_in(retried)
                again.append(part.filter(mine))
                yield part.filter(~mine).drop("_row").to_arrow()
            if again:
                latest = pl.concat(again).sort("_row").unique("accession", keep="last", maintain_order=True)
                yield latest.drop("_row").to_arrow()

        self._write_part(folded())
        for _, path in parts:
            path.unlink()
        return True

    def _ever_failed(self) -> list[str]:
        """Accessions with a failed record (few): the fold keeps only their latest record."""
        failed: set[str] = set()
        for part in self._each_part():
            failed.update(part.filter(pl.col("status") == "failed").get_column("accession").to_list())
        return sorted(failed)

    def _each_part(self) -> Iterator[pl.DataFrame]:
        """The records in the order written, a part (or a row group of a large, folded part) at a time,
        ``_row`` numbering them across parts."""
        offset = 0
        for _, path in self._parts():
            part = pl.scan_parquet(path, schema=_SCHEMA)
            for start in range(0, part.select(pl.len()).collect().item(), PIECE_ROWS):
                chunk = part.slice(start, PIECE_ROWS).collect().with_row_index("_row", offset=offset)
                offset += chunk.height
                yield chunk

    def _write_part(self, rows: pa.Table | Iterator[pa.Table]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        parts = self._parts()
        sequence = parts[-1][0] + 1 if parts else 0
        path = self.directory / f"part-{sequence:08d}-{uuid.uuid4().hex[:8]}.parquet"
        if isinstance(rows, pa.Table):
            replace_parquet(path, rows)
        else:
            replace_parquet_in_pieces(path, MANIFEST_SCHEMA, rows, rows_per_group=PIECE_ROWS)
        return path


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_SCHEMA)
