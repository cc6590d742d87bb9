"""Accession numbers as exact int64 keys, so joins, de-duplication and tie-breaks avoid string hashing.

``0001234567-24-000001`` becomes 1234567240000001 (its 18 digits, so numeric order is text order);
the store's ``sha1-<12 hex>`` accessions (filings without an accession number) become the negative
``-1 - int(hex, 16)``: every accession maps to its own key and the two kinds never collide.
"""

from __future__ import annotations

import polars as pl

from engine.errors import UserError

KEY = "acc_key"


def accession_key(column: str = "accession") -> pl.Expr:
    """The int64 key of an accession column (null for a malformed accession)."""
    text = pl.col(column)
    standard = (text.str.len_bytes() == 20) & (text.str.slice(10, 1) == "-") & (text.str.slice(13, 1) == "-")
    hashed = text.str.starts_with("sha1-") & (text.str.len_bytes() == 17)
    return (
        pl.when(standard)
        .then(text.str.replace_all("-", "", literal=True).cast(pl.Int64, strict=False))
        .when(hashed)
        .then(-1 - text.str.slice(5).str.to_integer(base=16, strict=False))
        .alias(KEY)
    )


def check_keys(frame: pl.DataFrame, table: str) -> None:
    """Refuse rows whose accession is neither form: they could not be joined to their filing."""
    bad = frame.filter(pl.col(KEY).is_null())
    if bad.height:
        raise UserError(
            f"{table}: {bad.height} row(s) with a malformed accession, e.g. {bad['accession'][0]!r}",
            fix="accessions are 0000000000-00-000000 or sha1-<12 hex>; re-ingest the filings",
        )
