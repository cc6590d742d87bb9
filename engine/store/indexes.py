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

import numpy as np
import polars as pl

CONTENT_KEY_PREFIX = "sha1-"
"""Accessions of this form are content keys: the filing came with no accession number."""
COLUMNS: tuple[str, ...] = ("accession", "xml_sha256", "filing_year", "filing_month")
"""What the index reads of the stored filings."""


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

    def remove(self, accessions: list[str]) -> None:
        """Drop accessions from the index (filings replaced by another copy)."""
        series = pl.Series(accessions, dtype=pl.String)
        packed = _packed(series)
        self._numbers = self._numbers[~np.isin(self._numbers, packed.drop_nulls().to_numpy())]
        self._others.difference_update(series.filter(packed.is_null()).to_list())


def _packed(accessions: pl.Series) -> pl.Series:
    """``0000011544-20-000013`` -> 11544200000013 (int64); null for any other form of key."""
    column = pl.col(accessions.name)
    number = column.str.replace_all("-", "", literal=True).cast(pl.Int64, strict=False)
    standard = column.str.contains(r"^\d{10}-\d{2}-\d{6}$")
    return accessions.to_frame().select(pl.when(standard).then(number)).to_series()


def keyed_by_content(accession: str) -> bool:
    """Whether an accession is a content key (``sha1-...``) rather than an EDGAR accession number."""
    return accession.startswith(CONTENT_KEY_PREFIX)


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
        if keyed_by_content(accession):
            if earlier is None:
                first[digest] = accession
            else:
                resolution.drop.add(accession)
        elif earlier is None or keyed_by_content(earlier):
            if earlier is not None:
                resolution.drop.add(earlier)
            first[digest] = accession
    anonymous = [digest for digest, accession in first.items() if keyed_by_content(accession)]
    for digest, stored in zip(anonymous, index.stored(anonymous), strict=True):
        if stored:
            resolution.drop.add(first[digest])
    for digest, accession in first.items():
        replaced = None if keyed_by_content(accession) else index.content_keyed(digest)
        if replaced is not None:
            resolution.replace[replaced[0]] = replaced[1:]
    return resolution


def _prefixes(digests: pl.Series) -> np.ndarray:
    """The first 15 hex digits of each sha256 as an int64."""
    return digests.str.slice(0, 15).str.to_integer(base=16).to_numpy()
