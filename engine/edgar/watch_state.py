"""What ``insider watch`` is told and what it keeps: its settings, the poll interval rule, the state that
survives a restart (``<store>/_watch/state.json``) and the session's counters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.scoring.market_caps import MarketSource
from engine.scoring.watch_rules import WatchRules

NEW_YORK = ZoneInfo("America/New_York")
FILING_HOURS = (clock_time(6, 0), clock_time(22, 0))
"""EDGAR accepts filings Monday to Friday, 06:00-22:00 New York."""
POLL_SHARE = 0.5
"""Feed polls may use at most this share of the rate budget; the rest is for fetching filings."""
WATCH_DIR = "_watch"
STATE = "state.json"


@dataclass(frozen=True)
class WatchSettings:
    """How to watch: forms, intervals (seconds), paging, and what to score and raise."""

    forms: frozenset[str] = frozenset({"4", "4/A"})
    interval: float = 10.0
    night_interval: float = 120.0
    max_pages: int = 20
    overlap: timedelta = timedelta(seconds=60)
    index_retry: float = 900.0
    market_caps: MarketSource | None = None
    score_config: ScoreConfig = field(default_factory=ScoreConfig)
    rules: WatchRules = field(default_factory=WatchRules)

    @property
    def feed_types(self) -> list[str]:
        """Feed ``type=`` values: EDGAR matches a prefix, so ``4`` lists 4 and 4/A (one request a poll)."""
        return sorted({form.split("/")[0] for form in self.forms})


def poll_interval(now: datetime, settings: WatchSettings, rate: float | None) -> float:
    """Seconds to the next poll: ``interval`` in filing hours, ``night_interval`` otherwise, never below
    what keeps the feed polls within ``POLL_SHARE`` of the rate budget."""
    local = now.astimezone(NEW_YORK)
    open_now = local.weekday() < 5 and FILING_HOURS[0] <= local.time() < FILING_HOURS[1]
    base = settings.interval if open_now else settings.night_interval
    floor = len(settings.feed_types) / (rate * POLL_SHARE) if rate else 0.0
    return max(base, floor)


@dataclass
class WatchState:
    """What survives a restart (``_watch/state.json``)."""

    high_water: datetime | None = None
    days: dict[date, str] = field(default_factory=dict)
    """Days to settle from their daily index: ``watched`` or ``gap``."""
    pending: list[str] = field(default_factory=list)
    """Accessions handed to the downloader whose events are not raised yet."""

    @classmethod
    def load(cls, path: Path) -> WatchState:
        """The saved state, or a fresh one; an unreadable file is a clear error, never silently reset."""
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_bytes())
            return cls(
                high_water=datetime.fromisoformat(data["high_water"]) if data.get("high_water") else None,
                days={date.fromisoformat(d): kind for d, kind in data.get("days", {}).items()},
                pending=list(data.get("pending", [])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"{path} is not a watch state file ({exc})", fix=f"remove {path} to start watching afresh"
            ) from exc

    def encode(self) -> bytes:
        """The state as the JSON bytes of its file."""
        data = {
            "high_water": self.high_water.isoformat() if self.high_water else None,
            "days": {d.isoformat(): kind for d, kind in sorted(self.days.items())},
            "pending": sorted(self.pending),
        }
        return json.dumps(data, indent=1).encode()


@dataclass
class WatchReport:
    """Counters of a watch session."""

    polls: int = 0
    feed_errors: int = 0
    new_filings: int = 0
    stored: int = 0
    failed: int = 0
    events: int = 0
    gaps: int = 0
    days_settled: int = 0
    last_error: str | None = None

    def summary(self) -> str:
        """One line."""
        return (
            f"{self.polls} polls ({self.feed_errors} failed), {self.new_filings} new filings, {self.stored} "
            f"stored, {self.failed} failed, {self.events} events, {self.gaps} gaps, "
            f"{self.days_settled} days settled from the daily index"
        )
