"""Scalar decoding of ownership-XML text: booleans, dates, numbers, CIKs and tickers.

Every function takes the raw element text (or None) and returns None for anything it cannot read:
an unknown value is never silently turned into ``False`` or ``0``.
"""

from __future__ import annotations

from datetime import date

_BOOLEANS: dict[str, bool] = {"1": True, "true": True, "0": False, "false": False}
_NO_TICKER: frozenset[str] = frozenset({"", "NONE", "N/A", "NA", "-"})
_NUMBER_JUNK = str.maketrans("", "", ",$ \t\r\n\u00a0")


def text_or_none(text: str | None) -> str | None:
    """The stripped text, or None when it is absent or blank."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def parse_bool(text: str | None) -> bool | None:
    """``1``/``true`` -> True, ``0``/``false`` -> False (any case, stripped); anything else -> None."""
    if text is None:
        return None
    return _BOOLEANS.get(text.strip().lower())


def parse_date(text: str | None) -> date | None:
    """An xs:date from its first 10 characters (so a time-zone suffix is ignored); None if unreadable."""
    if text is None:
        return None
    text = text.strip()
    if len(text) < 10:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_compact_date(text: str | None) -> date | None:
    """A ``YYYYMMDD`` date (SGML headers, daily index files); None if unreadable."""
    if text is None or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_number(text: str | None) -> float | None:
    """A decimal as float, tolerating stray commas, spaces and ``$``; None if blank or not finite."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        cleaned = text.translate(_NUMBER_JUNK)
        if not cleaned:
            return None
        try:
            value = float(cleaned)
        except ValueError:
            return None
    return value if value - value == 0.0 else None


def parse_cik(text: str | None) -> int | None:
    """A CIK (digits, leading zeros optional) as int; None when blank or not all digits."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def clean_ticker(text: str | None) -> str | None:
    """The ticker label of SCORING.md section 1: upper-cased, stripped; NONE, N/A, NA, -, empty -> None."""
    if text is None:
        return None
    ticker = text.strip().upper()
    return None if ticker in _NO_TICKER else ticker
