"""Quality flags: a value the parsers could not read, or one too large to be true, recorded per row.

A flag is ``<column>:invalid`` (text was given but is not a value of its type: the date
``2023-02-30``, the number ``1e999``, ``yes`` for a boolean; the value is stored null) or
``<column>:implausible`` (read, but beyond ``PLAUSIBLE_MAX`` or not finite; the value is stored as
filed, for the user to judge). Flags sit in the ``quality`` list column of ``filings`` and
``transactions``, empty for a clean row (null where nothing was checked):
``pl.col("quality").list.len() > 0`` finds the flagged rows,
``pl.col("quality").list.contains("price:implausible")`` one kind.
"""

from __future__ import annotations

import polars as pl

INVALID = "invalid"
IMPLAUSIBLE = "implausible"
VALUE = "value"
"""The trade value of SCORING.md section 5, ``shares`` x ``price``: checked though it is not a column."""

PLAUSIBLE_MAX: dict[str, float] = {
    "price": 1e6,
    "conversion_or_exercise_price": 1e6,
    "shares": 1e12,
    "total_value": 1e12,
    VALUE: 1e12,
}
"""Largest plausible magnitude per transactions column: $1M a share (BRK-A, the dearest US share, has
always traded below it), a trillion shares (no issuer has as many), $1T of value."""


def invalid(column: str) -> str:
    """The flag of a ``column`` whose text could not be read as a value of its type."""
    return f"{column}:{INVALID}"


def flag_invalid(flags: list[str], column: str, text: str | None, value: object) -> None:
    """Add ``column:invalid`` to ``flags`` when non-blank ``text`` decoded to no ``value``."""
    if value is None and text and not text.isspace():
        flags.append(invalid(column))


def with_plausibility(quality: str = "quality") -> pl.Expr:
    """The ``quality`` list column (null counts as empty) plus ``<column>:implausible`` for each value of
    the row beyond ``PLAUSIBLE_MAX`` or not finite; null values are never flagged."""
    values = {
        column: pl.col("shares") * pl.col("price") if column == VALUE else pl.col(column)
        for column in PLAUSIBLE_MAX
    }
    flags = [
        pl.when(~(value.abs() <= PLAUSIBLE_MAX[column])).then(pl.lit(f"{column}:{IMPLAUSIBLE}"))
        for column, value in values.items()
    ]
    existing = pl.col(quality).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    return pl.concat_list(existing, *flags).list.drop_nulls().alias(quality)
