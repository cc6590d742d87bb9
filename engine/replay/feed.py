"""EDGAR's current-filings Atom feed for the fake EDGAR, growing over a scripted day.

A :class:`CurrentFeed` holds filings published at set New York times on a :class:`ReplayClock` (scripted
time, possibly running many times faster than real time) and scripted faults: a feed ``outage`` (503),
``429`` and ``403-rate`` answers, and ``scroll`` (the feed reaches back only ``depth`` entries, as when
more filings arrived than its pages hold). Until its publication time a filing is in neither the feed
nor the archive, and a scripted day's daily index exists only from ``index_at`` (EDGAR builds it
nightly), so a watcher can be tested on gaps, outages and restarts offline.
"""

from __future__ import annotations

import re
import time as time_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from engine.replay.filings import ReplayFiling, synthetic_copies

FEED_PATH = "/cgi-bin/browse-edgar"
MAX_COUNT = 100
"""EDGAR serves at most 100 entries per feed page."""
NEW_YORK = ZoneInfo("America/New_York")
FEED_FAULTS = frozenset({"outage", "429", "403-rate", "scroll"})
INDEX_TIME = time(22, 0)
"""EDGAR builds the day's daily index from about 22:00 New York."""


FeedLine = tuple[datetime, ReplayFiling, int]
"""One feed entry: acceptance time, filing, and which of its CIKs it is listed under."""


class ReplayClock:
    """Scripted New York wall-clock time: ``start`` at real time ``origin`` (default now), then ``speed``
    scripted seconds per real second. Real time is ``time.time()``, so other processes can follow it."""

    def __init__(self, start: datetime, *, speed: float = 1.0, origin: float | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0: a clock that only moves when told)")
        self.start = start.replace(tzinfo=None) if start.tzinfo is None else _naive_new_york(start)
        self.speed = speed
        self.origin = time_module.time() if origin is None else origin

    def now(self) -> datetime:
        """The scripted time now, naive New York wall clock."""
        return self.start + timedelta(seconds=(time_module.time() - self.origin) * self.speed)

    def aware(self) -> datetime:
        """The scripted time now, timezone-aware (New York)."""
        return self.now().replace(tzinfo=NEW_YORK)

    def wall_time(self, at: datetime) -> float:
        """The real ``time.time()`` at which the scripted time ``at`` (naive New York) comes."""
        return self.origin + (at - self.start).total_seconds() / self.speed

    def move_to(self, at: datetime) -> None:
        """Jump to the scripted time ``at`` (naive New York) and run on from there at the same speed."""
        self.start, self.origin = at, time_module.time()


def _naive_new_york(moment: datetime) -> datetime:
    return moment.astimezone(NEW_YORK).replace(tzinfo=None)


@dataclass(frozen=True)
class Publication:
    """A filing that appears in the feed and the archive at ``at`` (naive New York wall clock)."""

    at: datetime
    filing: ReplayFiling


@dataclass(frozen=True)
class FeedFault:
    """A scripted fault of the feed from ``start`` to ``end`` (scripted time); ``depth`` for ``scroll``."""

    kind: str
    start: datetime
    end: datetime
    depth: int = 0
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FEED_FAULTS:
            raise ValueError(f"unknown feed fault {self.kind!r}; one of {sorted(FEED_FAULTS)}")


def restamp(filing: ReplayFiling, accepted_at: datetime) -> ReplayFiling:
    """The filing accepted at ``accepted_at`` (naive New York) instead: its header's acceptance time and
    dates rewritten, filed that day (Forms 3/4/5 accepted up to 22:00 are filed the same day)."""
    day = accepted_at.date()
    body = filing.body
    old, new = f"{filing.filing_date:%Y%m%d}".encode(), f"{day:%Y%m%d}".encode()
    body = body.replace(b": " + old, b": " + new)
    body = body.replace(b"FILED AS OF DATE:\t\t" + old, b"FILED AS OF DATE:\t\t" + new)
    start = body.find(b"<ACCEPTANCE-DATETIME>")
    if start < 0:
        raise ValueError(f"{filing.accession}: no <ACCEPTANCE-DATETIME> to rewrite")
    start += len(b"<ACCEPTANCE-DATETIME>")
    body = body[:start] + f"{accepted_at:%Y%m%d%H%M%S}".encode() + body[start + 14 :]
    return replace(filing, filing_date=day, body=body)


def scripted_day(
    filings: Sequence[ReplayFiling], times: Sequence[datetime], *, first: int = 0
) -> list[Publication]:
    """Copies of real filings (cycling over ``filings``) published at ``times`` under fresh accessions
    numbered from ``first``, each accepted at its publication time."""
    publications = []
    for moment, number in zip(times, range(first, first + len(times)), strict=True):
        (copy,) = synthetic_copies(
            [filings[(number - first) % len(filings)]], 1, start=moment.date(), first=number
        )
        publications.append(Publication(moment, restamp(copy, moment)))
    return publications


def as_owner(filing: ReplayFiling, cik: int, name: str) -> ReplayFiling:
    """The filing as if its (first) reporting owner were another insider: the owner's CIK and name
    rewritten in the header and the XML (several insiders of one issuer for cluster scripts)."""
    old_cik, old_name = next(owner for owner in filing.ciks[1:] or filing.ciks)
    new_cik = f"{cik:010d}".encode()
    body = re.sub(rb"(<rptOwnerCik>\s*)0*%d(\s*<)" % old_cik, rb"\g<1>" + new_cik + rb"\g<2>", filing.body)
    body = re.sub(rb"(CENTRAL INDEX KEY:\s*)0*%d\b" % old_cik, rb"\g<1>" + new_cik, body)
    body = body.replace(old_name.encode("latin-1"), name.encode("latin-1"))
    ciks = tuple((cik, name) if c == old_cik else (c, n) for c, n in filing.ciks)
    return replace(filing, ciks=ciks, body=body)


def evenly(start: datetime, count: int, seconds: float) -> list[datetime]:
    """``count`` times from ``start`` spread evenly over ``seconds`` (whole seconds, as EDGAR stamps)."""
    step = seconds / max(count, 1)
    return [(start + timedelta(seconds=i * step)).replace(microsecond=0) for i in range(count)]


class CurrentFeed:
    """The current-filings feed over scripted publications, as EDGAR's ``browse-edgar?action=getcurrent``."""

    def __init__(
        self,
        publications: Iterable[Publication],
        clock: ReplayClock,
        *,
        faults: Iterable[FeedFault] = (),
        index_at: time = INDEX_TIME,
    ) -> None:
        self.publications = sorted(publications, key=lambda p: (p.at, p.filing.accession))
        self.clock = clock
        self.faults = list(faults)
        self.index_at = index_at
        self._at = {p.filing.accession: p.at for p in self.publications}
        self.days = {p.filing.filing_date for p in self.publications}

    @property
    def filings(self) -> list[ReplayFiling]:
        """Every scripted filing, published or not."""
        return [p.filing for p in self.publications]

    def published(self, accession: str) -> bool:
        """Whether a filing is public yet (filings the script does not hold always are)."""
        at = self._at.get(accession)
        return at is None or at <= self.clock.now()

    def indexed(self, day: date) -> bool:
        """Whether the daily index of ``day`` exists yet (days the script does not hold always do)."""
        return day not in self.days or self.clock.now() >= datetime.combine(day, self.index_at)

    def active_fault(self) -> FeedFault | None:
        """The scripted fault in force now, if any (the first listed when several overlap)."""
        now = self.clock.now()
        return next((f for f in self.faults if f.start <= now < f.end), None)

    def page(self, query: Mapping[str, str], base_url: str = "") -> tuple[int, bytes]:
        """``(status, body)`` of a feed request with EDGAR's query parameters."""
        if query.get("action") != "getcurrent" or query.get("output", "atom") != "atom":
            return 400, b"only action=getcurrent&output=atom is replayed"
        try:
            count = min(max(int(query.get("count", "40")), 1), MAX_COUNT)
            start = max(int(query.get("start", "0")), 0)
        except ValueError:
            return 400, b"count and start must be whole numbers"
        now = self.clock.now()
        entries = self._entries(query.get("type", "").strip().upper(), query.get("owner", "include"), now)
        fault = self.active_fault()
        if fault is not None and fault.kind == "scroll":
            entries = entries[: fault.depth]
        return 200, render_feed(entries[start : start + count], now, base_url)

    def _entries(self, form_prefix: str, owner: str, now: datetime) -> list[FeedLine]:
        """Feed lines, newest first: per filing the issuer's line, then each reporting owner's."""
        lines = []
        for publication in reversed(self.publications):
            filing = publication.filing
            if publication.at > now or not filing.form_type.startswith(form_prefix) or owner == "exclude":
                continue
            first = 1 if owner == "only" else 0
            lines.extend((publication.at, filing, i) for i in range(first, len(filing.ciks)))
        return lines


def render_feed(entries: Sequence[FeedLine], now: datetime, base_url: str) -> bytes:
    """An Atom document in EDGAR's layout; each entry is ``(accepted_at, filing, index into ciks)``."""
    stamp = now.replace(tzinfo=NEW_YORK, microsecond=0)
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>Latest Filings - {stamp:%a, %d %b %Y %H:%M:%S %Z}</title>",
        '<link rel="alternate" href="/cgi-bin/browse-edgar?action=getcurrent"/>',
        '<link rel="self" href="/cgi-bin/browse-edgar?action=getcurrent"/>',
        "<id>https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent</id>",
        "<author><name>Webmaster</name><email>webmaster@sec.gov</email></author>",
        f"<updated>{stamp.isoformat()}</updated>",
    ]
    for accepted_at, filing, position in entries:
        cik, name = filing.ciks[position]
        role = "Issuer" if position == 0 else "Reporting"
        folder = filing.accession.replace("-", "")
        link = f"{base_url}Archives/edgar/data/{cik}/{folder}/{filing.accession}-index.htm"
        summary = (
            f" <b>Filed:</b> {filing.filing_date.isoformat()} <b>AccNo:</b> {filing.accession} "
            f"<b>Size:</b> {max(1, len(filing.body) // 1024)} KB"
        )
        lines += [
            "<entry>",
            f"<title>{escape(filing.form_type)} - {escape(name)} ({cik:010d}) ({role})</title>",
            f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>',
            f'<summary type="html">{escape(summary)}</summary>',
            f"<updated>{accepted_at.replace(tzinfo=NEW_YORK).isoformat()}</updated>",
            f'<category scheme="https://www.sec.gov/" label="form type" term={quoteattr(filing.form_type)}/>',
            f"<id>urn:tag:sec.gov,2008:accession-number={filing.accession}</id>",
            "</entry>",
        ]
    lines.append("</feed>")
    return ("\n".join(lines) + "\n").encode("latin-1", "xmlcharrefreplace")
