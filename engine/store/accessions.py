"""The accession codec: accessions as exact int64 keys, so joins, de-duplication and tie-breaks avoid
string hashing, and the store's index of accessions fits in 8 bytes each.

``0001234567-24-000001`` becomes 1234567240000001 (its 18 digits, so numeric order is text order);
a content key ``sha1-<12 hex>`` (a filing without an accession number) becomes the negative
``-1 - int(hex, 16)``: every accession maps to its own key and the two kinds never collide. Anything
else (neither pattern of ``parsers.accessions``) has no key (null).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.errors import UserError
from parsers.accessions import ACCESSION_PATTERN, CONTENT_KEY_PATTERN

KEY = "acc_key"
CONTENT_YEAR = -1
"""``key_years`` of a content key, which has no year."""


def accession_key(column: str = "accession") -> pl.Expr:
    """The int64 key of an accession column, named ``KEY`` (null for a malformed accession)."""
    text = pl.col(column)
    return (
        pl.when(text.str.contains(f"^{ACCESSION_PATTERN}$"))
        .then(text.str.replace_all("-", "", literal=True).cast(pl.Int64, strict=False))
        .when(text.str.contains(f"^{CONTENT_KEY_PATTERN}$"))
        .then(-1 - text.str.slice(5).str.to_integer(base=16, strict=False))
        .alias(KEY)
    )


def accession_keys(accessions: pl.Series) -> pl.Series:
    """``accession_key`` of a Series of accessions, in its order."""
    return accessions.rename("accession").to_frame().select(accession_key()).to_series()


def key_years(keys: np.ndarray) -> np.ndarray:
    """The two-digit year of each key's accession number (``0001234567-24-000001`` -> 24: the year EDGAR
    assigned it, nearly always the filing year), ``CONTENT_YEAR`` for a content key."""
    return np.where(keys >= 0, keys // 1_000_000 % 100, CONTENT_YEAR)


def check_keys(frame: pl.DataFrame, table: str, *, rows: str = "row(s)") -> None:
    """Refuse rows whose ``KEY`` is null (a malformed accession): they could not be joined to their filing."""
    bad = frame[KEY].null_count()
    if bad:
        example = ""
        if "accession" in frame.columns:
            example = f", e.g. {frame.filter(pl.col(KEY).is_null())['accession'][0]!r}"
        raise UserError(
            f"{table}: {bad} {rows} with a malformed accession{example}",
            fix="accessions are 0000000000-00-000000 or sha1-<12 hex>; re-ingest the filings",
        )
