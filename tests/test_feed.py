"""EDGAR's current-filings Atom feed: the parser (bytes -> entries) and the replay that serves it."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.edgar.urls import EdgarUrls
from engine.replay import load_filings
from engine.replay.feed import CurrentFeed, FeedFault, ReplayClock, evenly, render_feed, scripted_day
from parsers.feed import FeedFormatError, parse_feed
from parsers.submission import split_submission

FEED = Path(__file__).parent / "fixtures" / "feed" / "getcurrent-type4.atom"
EDT = timezone(timedelta(hours=-4))


@pytest.fixture(scope="module")
def filings(filings_dir: Path):
    return load_filings(filings_dir)


def test_a_feed_page_gives_one_entry_per_filing_and_cik_with_its_acceptance_time() -> None:
    page = parse_feed(FEED.read_bytes())
    assert [(e.accession, e.cik, e.role) for e in page.entries[:2]] == [
        ("0001209191-20-017244", 1333986, "Issuer"),
        ("0001209191-20-017244", 1705476, "Reporting"),
    ]
    first = page.entries[0]
    assert first.form_type == "4" and first.company == "Equitable Holdings, Inc."
    assert first.filing_date == date(2020, 3, 9)
    assert first.updated == datetime(2020, 3, 9, 16, 15, 15, tzinfo=EDT)
    assert first.link.endswith("/0001209191-20-017244-index.htm")
    # the acceptance time of the feed is the one of the submission's header
    header = split_submission((FEED.parents[1] / "filings" / "0001209191-20-017244.txt").read_bytes())
    assert first.updated.replace(tzinfo=None) == header.accepted_at


def test_escaped_names_amendments_and_other_forms_are_read_as_filed() -> None:
    entries = {e.accession: e for e in parse_feed(FEED.read_bytes()).entries}
    assert entries["0000092230-20-000031"].company == "BB&T CORP"
    assert entries["0000092230-20-000031"].form_type == "4/A"
    assert entries["0001213900-20-005931"].form_type == "424B2"  # type=4 is a prefix: the caller filters
    assert entries["0001494730-20-000001"].updated.utcoffset() == timedelta(hours=-5)


def test_an_entry_without_an_accession_is_reported_never_guessed() -> None:
    page = parse_feed(FEED.read_bytes())
    assert len(page.entries) == 5
    assert page.skipped == [
        "entry 5: no accession number in the summary, id or link of "
        + repr("4 - Broken Entry Inc (0000000001) (Issuer)")
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head></html>",
        b"",
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "boom">]><feed>&x;</feed>',
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>4 - A (1',
    ],
)
def test_what_is_not_an_atom_feed_is_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(FeedFormatError, match="not an Atom feed"):
        parse_feed(body)


def test_the_feed_url_is_edgars_getcurrent_query() -> None:
    url = EdgarUrls("http://127.0.0.1:9/").current_feed("4", start=200, count=100)
    parts = urlsplit(url)
    assert parts.path == "/cgi-bin/browse-edgar"
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert query == {
        "action": "getcurrent",
        "type": "4",
        "company": "",
        "dateb": "",
        "owner": "include",
        "start": "200",
        "count": "100",
        "output": "atom",
    }


def test_the_replayed_feed_reads_back_as_published(filings) -> None:
    start = datetime(2030, 1, 2, 9, 0)
    published = scripted_day(filings[:12], evenly(start, 12, 3600))
    clock = ReplayClock(start + timedelta(hours=2), speed=0)
    feed = CurrentFeed(published, clock)
    status, body = feed.page({"action": "getcurrent", "type": "", "count": "100"}, "http://127.0.0.1:9/")
    assert status == 200
    entries = parse_feed(body).entries
    expected = [
        (p.filing.accession, cik, "Issuer" if i == 0 else "Reporting", p.at)
        for p in reversed(published)
        for i, (cik, _) in enumerate(p.filing.ciks)
    ]
    assert [(e.accession, e.cik, e.role, e.updated.replace(tzinfo=None)) for e in entries] == expected
    for publication in published:
        header = split_submission(publication.filing.body)
        assert header.accepted_at == publication.at and header.filing_date == start.date()


def test_the_replayed_feed_grows_pages_and_filters_like_edgars(filings) -> None:
    start = datetime(2030, 1, 2, 9, 0)
    published = scripted_day(filings[:60], evenly(start, 60, 600))
    clock = ReplayClock(start + timedelta(seconds=299), speed=0)
    feed = CurrentFeed(published, clock)

    def lines(**query: str) -> list[tuple[str, int]]:
        status, body = feed.page({"action": "getcurrent", **query})
        assert status == 200
        return [(e.accession, e.cik) for e in parse_feed(body).entries]

    visible = [p for p in published if p.at <= clock.now()]
    every = lines(count="100")
    assert len(every) == sum(len(p.filing.ciks) for p in visible) and len(visible) == 30
    assert lines(count="10", start="10") == every[10:20]
    assert len(lines()) == 40  # EDGAR's default page
    assert len(lines(count="500")) == min(100, len(every))
    fours = {a for a, _ in lines(type="4", count="100")}
    assert fours == {p.filing.accession for p in visible if p.filing.form_type.startswith("4")}
    owners_only = lines(owner="only", count="100")
    assert len(owners_only) == sum(len(p.filing.ciks) - 1 for p in visible)
    assert lines(owner="exclude") == []
    assert feed.page({"action": "getcompany"})[0] == 400
    assert not feed.published(published[-1].filing.accession) and feed.published(visible[-1].filing.accession)
    assert not feed.indexed(start.date()) and feed.indexed(date(2030, 1, 1))
    clock.move_to(datetime(2030, 1, 2, 22, 0))
    assert feed.indexed(start.date()) and len(lines(count="100")) == 100


def test_a_scrolled_feed_reaches_back_only_its_depth(filings) -> None:
    start = datetime(2030, 1, 2, 9, 0)
    published = scripted_day(filings[:20], evenly(start, 20, 600))
    clock = ReplayClock(start + timedelta(minutes=20), speed=0)
    scroll = FeedFault("scroll", start + timedelta(minutes=15), start + timedelta(minutes=30), depth=3)
    feed = CurrentFeed(published, clock, faults=[scroll])
    status, body = feed.page({"action": "getcurrent", "count": "100"})
    assert len(parse_feed(body).entries) == 3
    assert parse_feed(feed.page({"action": "getcurrent", "start": "3"})[1]).entries == []
    clock.move_to(start + timedelta(minutes=30))
    assert feed.active_fault() is None
    assert len(parse_feed(feed.page({"action": "getcurrent", "count": "100"})[1]).entries) > 3
    with pytest.raises(ValueError, match="unknown feed fault"):
        FeedFault("flood", start, start)


def test_render_escapes_names_and_encodes_latin1(filings) -> None:
    filing = filings[0]
    odd = type(filing)(filing.accession, "4", filing.filing_date, ((1, "AT&T <Inc> Ünïcode ✓"),), filing.body)
    body = render_feed([(datetime(2030, 1, 2, 9, 0), odd, 0)], datetime(2030, 1, 2, 9, 1), "")
    (entry,) = parse_feed(body).entries
    assert entry.company == "AT&T <Inc> Ünïcode ✓"
