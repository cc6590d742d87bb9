"""The store's write-side indexes: stored accessions, and stored content hashes with the rule of
one filing, one row.

Filings are matched by accession and by the content hash of their XML, whatever their file name.

A filing that comes with no accession number is keyed ``sha1-<12 hex>`` of its XML; the same XML may
come again under its accession (EDGAR's ``wk-form4_1700000000.xml`` is the primary document of
``0000320121-23-000040``). ``filings.xml_sha256`` (``parsers.tables.content_hash``) names the content,
and a batch is resolved against the store and against itself:

- a copy with no accession whose XML is stored, or comes earlier in the batch, is a duplicate;
- a copy with an accession replaces a stored copy with none: its rows go, the accession's come (the
  accession and the submission header's filing date and acceptance time make the better record);
- two accessions with the same XML stay two filings: EDGAR accepted both.

Rows without a hash (the SEC data sets carry no XML) are matched by accession only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from engine.store.accessions import accession_keys
from parsers.accessions import CONTENT_KEY_PREFIX, is_content_key

COLUMNS: tuple[str, ...] = ("accession", "xml_sha256", "filing_year", "filing_month")
"""What the index reads of the stored filings."""


class AccessionIndex:
    """A set of accessions in little memory: their int64 keys (``engine.store.accessions``) in a sorted
    array, 8 bytes each (millions of filings fit in tens of MB); malformed ones, which have none, in a set.

    Keys added later go to a second, small sorted array, folded into the first only once it holds a
    sixteenth as many: adding a day's filings never copies the millions of stored keys (a transient
    second copy of the whole array). Removing keys (a replaced filing: rare) copies it. Safe to query
    from one thread while another adds: a query reads one snapshot of each array."""

    def __init__(self, accessions: pl.Series) -> None:
        keys = accession_keys(accessions)
        self._keys = np.sort(keys.drop_nulls().to_numpy())
        self._recent = np.empty(0, np.int64)
        self._others = set(accessions.filter(keys.is_null()).to_list())

    @classmethod
    def from_files(cls, paths: list[Path], column: str = "accession") -> AccessionIndex:
        """The index of one column of many Parquet files, read file by file into one preallocated array:
        the strings are never all in memory, so 6M stored filings cost their 48 MB of keys, not 0.6 GB
        of text."""
        index = cls(pl.Series(column, [], dtype=pl.String))
        keys = np.empty(sum(pq.read_metadata(path).num_rows for path in paths), np.int64)
        filled = 0
        for path in paths:
            accessions = pl.read_parquet(path, columns=[column]).to_series()
            found = accession_keys(accessions)
            known = found.drop_nulls().to_numpy()
            keys[filled : filled + len(known)] = known
            filled += len(known)
            index._others.update(accessions.filter(found.is_null()).to_list())
        index._keys = keys[:filled]
        index._keys.sort()
        return index

    def __len__(self) -> int:
        return len(self._keys) + len(self._recent) + len(self._others)

    def missing(self, accessions: list[str]) -> list[str]:
        """The given accessions that are not in the index, in their order."""
        stored, recent = self._keys, self._recent
        keys = accession_keys(pl.Series(accessions, dtype=pl.String))
        wanted = keys.fill_null(0).to_numpy()
        hits = _members(stored, wanted) | _members(recent, wanted)
        keyed = keys.is_not_null().to_numpy()
        return [
            accession
            for accession, has_key, hit in zip(accessions, keyed, hits, strict=True)
            if not (hit if has_key else accession in self._others)
        ]

    def add(self, accessions: list[str]) -> None:
        """Add accessions that are not in the index yet."""
        series = pl.Series(accessions, dtype=pl.String)
        keys = accession_keys(series)
        new = np.sort(keys.drop_nulls().to_numpy())
        recent = np.insert(self._recent, np.searchsorted(self._recent, new), new)
        if len(recent) > max(RECENT_KEYS, len(self._keys) // 16):
            self._keys = np.insert(self._keys, np.searchsorted(self._keys, recent), recent)
            recent = np.empty(0, np.int64)
        self._recent = recent
        self._others.update(series.filter(keys.is_null()).to_list())

    def remove(self, accessions: list[str]) -> None:
        """Drop accessions from the index (filings replaced by another copy)."""
        series = pl.Series(accessions, dtype=pl.String)
        keys = accession_keys(series)
        gone = keys.drop_nulls().to_numpy()
        if _members(self._keys, gone).any():
            self._keys = self._keys[~np.isin(self._keys, gone)]
        self._recent = self._recent[~np.isin(self._recent, gone)]
        self._others.difference_update(series.filter(keys.is_null()).to_list())


RECENT_KEYS = 65_536
"""Keys added since the index was read that stay apart from the main array (at least; see above)."""


def _members(stored: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each wanted key, whether it is in the sorted array ``stored``."""
    positions = np.searchsorted(stored, wanted)
    hits = positions < len(stored)
    hits[hits] = stored[positions[hits]] == wanted[hits]
    return hits


@dataclass
class Resolution:
    """What a batch does about content: accessions of the batch it drops as duplicates, and stored
    content-keyed filings it replaces, each with its ``(filing_year, filing_month)`` partition."""

    drop: set[str] = field(default_factory=set)
    replace: dict[str, tuple[int, int]] = field(default_factory=dict)


class ContentIndex:
    """The stored hashes in little memory: the few content-keyed filings in full, read when the index
    is made (Parquet statistics skip every file without one: ``sha1-`` sorts after any accession
    number), and the first 60 bits of every hash as a sorted int64 array (a false match needs a 60-bit
    collision of sha256), read only when a batch holds a content-keyed filing."""

    def __init__(self, filings: Callable[[], pl.LazyFrame]) -> None:
        """``filings``: a scan of the stored filings rows."""
        self._filings = filings
        self._prefixes: np.ndarray | None = None
        self._content_keyed: dict[str, tuple[str, int, int]] = {}
        keyed = filings().filter(pl.col("accession") >= CONTENT_KEY_PREFIX)
        self._keep_content_keyed(keyed.select(COLUMNS).collect())

    def add(self, filings: pl.DataFrame) -> None:
        """Index newly stored filings rows (``COLUMNS``)."""
        if self._prefixes is not None:
            prefixes = np.sort(_prefixes(filings["xml_sha256"].drop_nulls()))
            self._prefixes = np.insert(self._prefixes, np.searchsorted(self._prefixes, prefixes), prefixes)
        self._keep_content_keyed(filings)

    def _keep_content_keyed(self, filings: pl.DataFrame) -> None:
        keyed = filings.filter(
            pl.col("xml_sha256").is_not_null() & pl.col("accession").str.starts_with(CONTENT_KEY_PREFIX)
        )
        for accession, digest, year, month in keyed.select(COLUMNS).iter_rows():
            self._content_keyed[digest] = (accession, year, month)

    def stored(self, digests: list[str]) -> list[bool]:
        """Whether each hash is stored under any accession."""
        if not digests:
            return []
        if self._prefixes is None:
            stored = self._filings().select(pl.col("xml_sha256").drop_nulls()).collect().to_series()
            self._prefixes = np.sort(_prefixes(stored))
        prefixes = _prefixes(pl.Series(digests, dtype=pl.String))
        positions = np.searchsorted(self._prefixes, prefixes)
        hits = positions < len(self._prefixes)
        hits[hits] = self._prefixes[positions[hits]] == prefixes[hits]
        return hits.tolist()

    def content_keyed(self, digest: str) -> tuple[str, int, int] | None:
        """The stored content-keyed filing with this hash and its partition, if any."""
        return self._content_keyed.get(digest)

    def forget(self, accessions: Iterable[str]) -> None:
        """Drop replaced content-keyed filings (their hash stays stored, under the accession)."""
        gone = set(accessions)
        self._content_keyed = {d: row for d, row in self._content_keyed.items() if row[0] not in gone}


def resolve(batch: Iterable[tuple[str, str]], index: ContentIndex) -> Resolution:
    """Apply the rules of this module to a batch's new ``(accession, xml_sha256)`` pairs, in order."""
    resolution = Resolution()
    first: dict[str, str] = {}
    for accession, digest in batch:
        earlier = first.get(digest)
        if is_content_key(accession):
            if earlier is None:
                first[digest] = accession
            else:
                resolution.drop.add(accession)
        elif earlier is None or is_content_key(earlier):
            if earlier is not None:
                resolution.drop.add(earlier)
            first[digest] = accession
    anonymous = [digest for digest, accession in first.items() if is_content_key(accession)]
    for digest, stored in zip(anonymous, index.stored(anonymous), strict=True):
        if stored:
            resolution.drop.add(first[digest])
    for digest, accession in first.items():
        replaced = None if is_content_key(accession) else index.content_keyed(digest)
        if replaced is not None:
            resolution.replace[replaced[0]] = replaced[1:]
    return resolution


def _prefixes(digests: pl.Series) -> np.ndarray:
    """The first 15 hex digits of each sha256 as an int64."""
    return digests.str.slice(0, 15).str.to_integer(base=16).to_numpy()
