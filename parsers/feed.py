"""EDGAR's current-filings Atom feed (``browse-edgar?action=getcurrent&output=atom``) -> entries.

One entry per filing per CIK involved: ``<title>4 - Apple Inc. (0000320193) (Issuer)</title>`` (or
``(Reporting)`` for each owner), a link to the filing index page, ``<updated>`` (the acceptance time,
with its New York offset), a summary ``<b>Filed:</b> 2024-02-06 <b>AccNo:</b> 0000320193-24-000012
<b>Size:</b> 5 KB`` and ``<category term="4">``. Pure: bytes in, entries out, through the hardened
parser of :mod:`parsers.xml_safety`; an entry that cannot be read is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from parsers.xml_safety import MalformedXMLError, UnsafeXMLError, parse_xml

_TITLE = re.compile(
    r"^\s*(?P<form>\S+)\s+-\s+(?P<name>.*?)\s*\((?P<cik>\d{1,10})\)\s*\((?P<role>[^()]*)\)\s*$"
)
_ACCESSION = re.compile(r"\d{10}-\d{2}-\d{6}")
_TAG = re.compile(r"<[^>]*>")
_FILED = re.compile(r"Filed:\s*(\d{4}-\d{2}-\d{2})")
_ACC_NO = re.compile(r"AccNo:\s*(\d{10}-\d{2}-\d{6})")


class FeedFormatError(ValueError):
    """The bytes are not an Atom feed (an HTML error page, an empty or cut-off answer)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One line of the feed: a filing as listed under one of its CIKs."""

    accession: str
    form_type: str
    company: str
    cik: int
    role: str | None
    """``Issuer``, ``Reporting`` or ``Filer``, as the title gives it."""
    filing_date: date | None
    updated: datetime | None
    """The acceptance time, timezone-aware (EDGAR gives New York time with its offset)."""
    link: str | None


@dataclass(frozen=True)
class FeedPage:
    """The readable entries of one feed page, in feed order (newest first), and one line per entry
    that could not be read."""

    entries: list[FeedEntry]
    skipped: list[str] = field(default_factory=list)


def _child_text(entry: etree._Element, name: str) -> str:
    found = entry.find(f"{{*}}{name}")
    return "" if found is None else "".join(found.itertext()).strip()


def _first_accession(*texts: str) -> str | None:
    for text in texts:
        found = _ACCESSION.search(text)
        if found:
            return found.group(0)
    return None


def _parse_entry(entry: etree._Element) -> FeedEntry:
    """One ``<entry>``; raises ValueError naming what is missing."""
    title = _child_text(entry, "title")
    head = _TITLE.match(title)
    if head is None:
        raise ValueError(f"title {title[:80]!r} is not 'FORM - NAME (CIK) (ROLE)'")
    summary = " ".join(_TAG.sub(" ", _child_text(entry, "summary")).split())
    link = entry.find("{*}link")
    href = link.get("href") if link is not None else None
    numbered = _ACC_NO.search(summary)
    accession = numbered.group(1) if numbered else _first_accession(_child_text(entry, "id"), href or "")
    if accession is None:
        raise ValueError(f"no accession number in the summary, id or link of {title[:80]!r}")
    category = entry.find("{*}category")
    form = (category.get("term") if category is not None else None) or head["form"]
    filed = _FILED.search(summary)
    updated_text = _child_text(entry, "updated")
    try:
        updated = datetime.fromisoformat(updated_text) if updated_text else None
        filing_date = date.fromisoformat(filed.group(1)) if filed else None
    except ValueError as exc:
        raise ValueError(f"unreadable date in {title[:80]!r}: {exc}") from exc
    return FeedEntry(
        accession=accession,
        form_type=form.strip().upper(),
        company=head["name"],
        cik=int(head["cik"]),
        role=head["role"].strip() or None,
        filing_date=filing_date,
        updated=updated,
        link=href,
    )


def parse_feed(data: bytes) -> FeedPage:
    """The entries of one page of the current-filings feed; raises FeedFormatError for a non-feed or a
    page that is not well-formed (never read in recover mode: a cut-off page would end the paging early)."""
    try:
        root, recovered = parse_xml(data)
    except (MalformedXMLError, UnsafeXMLError) as exc:
        raise FeedFormatError(f"not an Atom feed: {exc}") from exc
    if recovered:  # a cut-off page read in recover mode would look like the end of the feed
        raise FeedFormatError("not an Atom feed: not well-formed (cut off?)")
    if etree.QName(root).localname != "feed":
        raise FeedFormatError(f"not an Atom feed: the document is <{etree.QName(root).localname}>")
    entries: list[FeedEntry] = []
    skipped: list[str] = []
    for number, entry in enumerate(root.iterfind("{*}entry"), start=1):
        try:
            entries.append(_parse_entry(entry))
        except ValueError as exc:
            skipped.append(f"entry {number}: {exc}")
    return FeedPage(entries, skipped)
