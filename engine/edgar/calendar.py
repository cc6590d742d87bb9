"""EDGAR's calendar, defined once: calendar quarters as EDGAR numbers them, and "today" in New York.

EDGAR files by New York date (its ``QTR{q}`` folders, daily indexes and filing dates), so every "today"
of the engine is New York's, whatever the machine's time zone: discovery and download agree on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.errors import UserError

NEW_YORK = ZoneInfo("America/New_York")
FIRST_INDEX_DAY = date(1993, 1, 1)
"""EDGAR's indexes start with 1993 Q1: nothing is listed before it."""

Quarter = tuple[int, int]
"""``(year, quarter)`` with quarter 1-4; tuples order chronologically."""

_QUARTER = re.compile(r"(\d{4})\s*[qQ]\s*([1-4])")


def today_in_new_york(now: datetime | None = None) -> date:
    """EDGAR's calendar day at ``now`` (default: this instant); a naive ``now`` is taken as UTC."""
    instant = now or datetime.now(UTC)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(NEW_YORK).date()


def quarter_of(day: date) -> int:
    """Calendar quarter (1-4) of a date, as EDGAR's ``QTR{q}`` folders number them."""
    return (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """First and last day of a calendar quarter."""
    first = date(year, 3 * quarter - 2, 1)
    following_year, following_quarter = next_quarter((year, quarter))
    return first, date(following_year, 3 * following_quarter - 2, 1) - timedelta(days=1)


def next_quarter(quarter: Quarter) -> Quarter:
    """The quarter after ``quarter``."""
    year, number = quarter
    return (year + 1, 1) if number == 4 else (year, number + 1)


def quarter_chunks(start: date, end: date) -> Iterator[tuple[date, date]]:
    """The range cut at quarter boundaries: each piece lies in one quarter."""
    day = start
    while day <= end:
        _, last = quarter_bounds(day.year, quarter_of(day))
        yield day, min(last, end)
        day = last + timedelta(days=1)


def parse_quarter(text: str) -> Quarter:
    """``2024q3`` / ``2024Q3`` -> ``(2024, 3)``."""
    match = _QUARTER.fullmatch(text.strip())
    if not match:
        raise UserError(f"{text!r} is not a quarter", fix="write quarters as YYYYqN, e.g. 2024q3")
    return int(match.group(1)), int(match.group(2))


def quarter_range(first: Quarter, last: Quarter) -> list[Quarter]:
    """Every quarter from ``first`` to ``last`` inclusive."""
    if last < first:
        raise UserError(f"the last quarter {last[0]}q{last[1]} is before the first", fix="swap them")
    quarters = []
    quarter = first
    while quarter <= last:
        quarters.append(quarter)
        quarter = next_quarter(quarter)
    return quarters


def last_published_quarter(today: date) -> Quarter:
    """The latest quarter whose data set can exist: the one before ``today``'s quarter."""
    quarter = quarter_of(today)
    return (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)
