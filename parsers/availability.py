"""When a filing becomes known to the market (SCORING.md section 3): its ``available_date``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

MARKET_CLOSE_HOUR = 16
"""Acceptances from 16:00 New York time on become available the next calendar day."""

_ONE_DAY = timedelta(days=1)


def available_date(
    accepted_at: datetime | None, filing_date: date | None, signature_date: date | None
) -> date | None:
    """Acceptance date if accepted before 16:00 New York (``accepted_at`` is a naive New York wall-clock
    time), else the next day; unknown acceptance -> filing date + 1; neither -> signature date + 1."""
    if accepted_at is not None:
        day = accepted_at.date()
        return day if accepted_at.hour < MARKET_CLOSE_HOUR else day + _ONE_DAY
    if filing_date is not None:
        return filing_date + _ONE_DAY
    if signature_date is not None:
        return signature_date + _ONE_DAY
    return None
