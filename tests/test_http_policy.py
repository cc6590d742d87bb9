"""The polite client's rules one by one: what it sends, what each answer means, how long it waits, what
its errors say. Decoding and waiting are checked without a server (waits on a virtual clock); what goes
over the wire against a small local server that records it."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from virtual_clock import Clock, install

import engine.edgar.http as http
import engine.edgar.rate_limit as rate_limit
from engine.cli.main import build_parser
from engine.cli.options import client_from_args
from engine.edgar.http import (
    EdgarBlocked,
    EdgarClient,
    FetchError,
    PoliteClient,
    _Retryable,
    check_user_agent,
    decode_body,
    is_html_page,
    is_rate_page,
    is_refusal,
    retry_after_seconds,
)
from engine.errors import UserError
from engine.replay import RATE_PAGE, FakeEdgar, load_filings

AGENT = "Insider Engine tests tests@example.com"
FIX = 'pass --user-agent "Your Name or Company you@example.com"'
NEW_YORK = ZoneInfo("America/New_York")
BODY = b"<SEC-DOCUMENT>whole</SEC-DOCUMENT>\n" * 40


@pytest.fixture(scope="module")
def filings(filings_dir: Path):
    return load_filings(filings_dir)[:3]


def filing_url(server: FakeEdgar) -> str:
    filing = server.filings[0]
    return f"{server.base_url}Archives/edgar/data/{filing.ciks[-1][0]}/{filing.accession}.txt"


@contextlib.asynccontextmanager
async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """A local HTTP server answering every path with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def ok(request: web.Request) -> web.Response:
    return web.Response(body=b"ok")


# Errors and what they say ----------------------------------------------------------------------------


def test_a_fetch_error_keeps_its_url_and_reason() -> None:
    error = FetchError("https://x.example/a", "HTTP 500 (gave up after 6 attempts)")
    assert (error.url, error.reason) == ("https://x.example/a", "HTTP 500 (gave up after 6 attempts)")
    assert str(error) == "https://x.example/a: HTTP 500 (gave up after 6 attempts)"
    assert error.status is None
    assert FetchError("https://x.example/b", "HTTP 404", 404).status == 404


def test_a_block_says_when_to_run_again_in_new_york_time() -> None:
    before = datetime.now(NEW_YORK) + timedelta(hours=2)
    blocked = EdgarBlocked("https://www.sec.gov/x", 429, 7200.0, 3600.0)
    after = datetime.now(NEW_YORK) + timedelta(hours=2)
    assert str(blocked).startswith(
        "EDGAR answered HTTP 429 to https://www.sec.gov/x with Retry-After 7200 s, longer than the 3600 s a "
        "run waits: stopped, after storing what was already fetched"
    )
    assert blocked.fix in {
        f"run the same command again after {when:%Y-%m-%d %H:%M} New York time: it fetches only what is not "
        "stored yet"
        for when in (before, after)
    }


def test_a_block_of_a_billion_seconds_or_more_says_later() -> None:
    assert EdgarBlocked("u", 429, 1e9, 3600).fix == (
        "run the same command again later: it fetches only what is not stored yet"
    )
    year = (datetime.now(NEW_YORK) + timedelta(seconds=1e9 - 1)).year
    assert f"again after {year}-" in (EdgarBlocked("u", 429, 1e9 - 1, 3600).fix or "")


def test_a_missing_agent_is_refused_with_the_fix() -> None:
    with pytest.raises(UserError) as error:
        check_user_agent(None)
    assert str(error.value) == (
        f"the User-Agent '' does not contain an e-mail address; the SEC blocks undeclared tools\n  fix: {FIX}"
    )


def test_an_agent_with_a_line_break_is_refused_with_the_fix() -> None:
    with pytest.raises(UserError) as error:
        check_user_agent("Jane\njane@example.com")
    assert str(error.value) == (
        "the User-Agent 'Jane\\njane@example.com' contains a line break or another control character; it is "
        f"sent as one HTTP header line\n  fix: {FIX}"
    )


def test_an_agent_of_256_characters_is_accepted_and_of_257_refused() -> None:
    agent = "a@example.com " + "x" * 242
    assert check_user_agent(agent) == agent
    with pytest.raises(UserError) as error:
        check_user_agent(agent + "x")
    assert str(error.value) == f"the User-Agent is 257 characters long, over 256\n  fix: {FIX}"


@pytest.mark.parametrize(
    ("name", "value"), [("pause_seconds", -1.0), ("timeout", 0.0), ("max_wait", float("nan"))]
)
def test_a_wait_that_is_not_a_finite_positive_number_is_refused_by_name(name: str, value: float) -> None:
    with pytest.raises(UserError) as error:
        EdgarClient(AGENT, **{name: value})
    assert str(error.value) == f"{name} must be a finite positive number of seconds, got {value}"


def test_a_rate_of_exactly_the_sec_limit_is_one_budget_for_every_host() -> None:
    client = EdgarClient(AGENT, rate=10.0)
    assert client.limiter_for("https://www.sec.gov/x") is client.limiter_for("http://127.0.0.1:9/x")


def test_the_library_defaults_are_the_command_lines() -> None:
    """``EdgarClient(agent)`` behaves as ``insider download`` with no options (except its worker count)."""
    options = ["--user-agent", AGENT, "--start", "2024-01-01", "--store", "s"]
    args = build_parser().parse_args(["download", *options])
    cli, library = client_from_args(args), EdgarClient(AGENT)
    for name in ("retries", "timeout", "pause_seconds"):
        assert getattr(library, name) == getattr(cli, name), name
    assert library.limiter.rate == cli.limiter.rate == 10.0


# Answers: which are refusals, pages, missing files --------------------------------------------------


def test_a_rate_page_is_recognised_through_bytes_that_are_not_utf8() -> None:
    assert is_rate_page(b"\xff\xfe" + RATE_PAGE)


def test_a_plain_polite_client_is_refused_only_by_a_429_and_waits_as_asked_or_its_own_pause() -> None:
    """The client other servers get (a price source): the SEC's block page is an ordinary answer to it, and
    after a refusal it waits the Retry-After given, else its ``pause_seconds``, with no SEC minimum, even
    for an SEC address."""
    client = PoliteClient("any agent", rate=None, pause_seconds=5.0)
    assert client.refused(429, b"") is True
    assert [client.refused(status, RATE_PAGE) for status in (200, 403, 503)] == [False, False, False]
    assert client.wait_after_refusal("https://api.example/x", {"Retry-After": "7"}) == 7.0
    assert client.wait_after_refusal("https://api.example/x", {"Retry-After": "0"}) == 0.0
    assert client.wait_after_refusal("https://api.example/x", {"Retry-After": "soon"}) == 5.0
    assert client.wait_after_refusal("https://api.example/x", {}) == 5.0
    assert client.wait_after_refusal("https://www.sec.gov/x", {}) == 5.0


def test_html_pages_are_told_by_their_start_in_any_case_after_blank_space() -> None:
    assert is_html_page(b" \r\n\t<!DOCTYPE html><html></html>")
    assert is_html_page(b"<HTML><BODY>x</BODY></HTML>")
    assert not is_html_page(b"<SEC-DOCUMENT><html>")


@pytest.mark.parametrize(
    ("status", "body", "refused"),
    [
        (429, b"", True),
        (403, RATE_PAGE, True),
        (200, RATE_PAGE, True),
        (403, b"<html><h1>403 Forbidden</h1></html>", False),
        (200, b"request rate threshold exceeded (a filing quoting the page)", False),
        (404, RATE_PAGE, False),
        (500, RATE_PAGE, False),
        (503, RATE_PAGE, False),
    ],
    ids=["429", "403-page", "200-page", "403-plain", "200-text", "404-page", "500-page", "503-page"],
)
def test_only_a_429_or_the_sec_block_page_as_403_or_200_is_a_refusal(status, body, refused) -> None:
    assert is_refusal(status, body) is refused


# Bodies under their Content-Encoding ------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "identity", " Identity "])
def test_an_identity_body_is_returned_as_is(encoding: str | None) -> None:
    assert decode_body(b"\x1f\x8b not decoded", encoding) == b"\x1f\x8b not decoded"


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", " GZIP "])
def test_gzip_bodies_are_inflated_under_either_name(encoding: str) -> None:
    assert decode_body(gzip.compress(BODY), encoding) == BODY


def test_a_gzip_body_of_several_members_is_inflated_whole() -> None:
    assert decode_body(gzip.compress(b"first part, ") + gzip.compress(b"second part"), "gzip") == (
        b"first part, second part"
    )


def test_deflate_bodies_are_inflated_with_or_without_the_zlib_wrapper() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode_body(zlib.compress(BODY), "deflate") == BODY
    assert decode_body(raw.compress(BODY) + raw.flush(), "Deflate") == BODY


@pytest.mark.parametrize(
    ("body", "encoding", "reason"),
    [
        (b"abc", "br", "unsupported Content-Encoding 'br'"),
        (gzip.compress(BODY)[:40], "gzip", "gzip stream cut short after 40 bytes"),
        (zlib.compress(BODY)[:30], "deflate", "deflate stream cut short after 30 bytes"),
        (b"not compressed at all", "gzip", "corrupt gzip stream: "),
        (zlib.compress(BODY), "gzip", "corrupt gzip stream: "),
    ],
    ids=["unsupported", "gzip-cut", "deflate-cut", "not-gzip", "zlib-as-gzip"],
)
def test_a_body_that_cannot_be_decoded_is_a_transient_failure(body, encoding, reason) -> None:
    with pytest.raises(_Retryable) as failure:
        decode_body(body, encoding)
    assert str(failure.value).startswith(reason)
    assert reason.endswith(": ") or str(failure.value) == reason


# Retry-After -----------------------------------------------------------------------------------------


def test_retry_after_dates_without_a_zone_are_utc_and_past_ones_are_zero() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 05 Jan 2026 12:00:30 -0000", now=now) == 30.0
    assert retry_after_seconds("Mon, 05 Jan 2026 11:00:00 GMT", now=now) == 0.0


def test_retry_after_dates_are_counted_from_the_current_time() -> None:
    in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    assert 3590 <= (retry_after_seconds(in_an_hour) or 0) <= 3600


# Waiting: pauses and backoff on a virtual clock --------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    install(monkeypatch, http, clock)
    install(monkeypatch, rate_limit, clock)
    return clock


def test_pauses_are_counted_once_extended_never_shortened(clock: Clock, caplog) -> None:
    client = EdgarClient(AGENT, rate=None)
    with caplog.at_level(logging.WARNING, logger="engine.edgar.http"):
        client.pause(5, "first")  # 1000 .. 1005
        clock.now = 1002.0
        client.pause(5, "extends it")  # .. 1007: the same pause, 2 s longer
        clock.now = 1003.0
        client.pause(1, "inside it")  # ends before 1007: nothing changes
        clock.now = 1004.0
        client.pause(3, "ends with it")  # ends at 1007 too: nothing changes
        assert client.paused
        clock.now = 1007.0
        assert not client.paused
        client.pause(2, "the next one")  # 1007 .. 1009: a new pause, starting as the first ends
    assert (client.stats.pauses, client.stats.paused_seconds) == (2, 9.0)
    assert [record.getMessage() for record in caplog.records] == [
        "EDGAR refused a request (first): pausing every task for 5 s",
        "EDGAR refused a request (extends it): pausing every task for 5 s",
        "EDGAR refused a request (the next one): pausing every task for 2 s",
    ]


def test_a_paused_task_takes_a_rate_slot_only_once_the_pause_is_over(clock: Clock) -> None:
    client = EdgarClient(AGENT, rate=5.0)
    client.pause(0.6, "test")
    assert clock.run(client._turn(client.limiter)) == [0]
    assert clock.now == pytest.approx(1000.6)


def test_backoff_doubles_from_half_a_second_to_a_minute_drawn_from_the_upper_half() -> None:
    """2,000 draws per attempt: all within [ceiling / 2, ceiling], reaching within 5 % of both ends."""
    client = EdgarClient(AGENT)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (12, 60.0)]:
        delays = [client._backoff_delay(attempt) for _ in range(2000)]
        assert ceiling / 2 <= min(delays) <= ceiling * 0.525, attempt
        assert ceiling * 0.975 <= max(delays) <= ceiling, attempt


# What goes over the wire -----------------------------------------------------------------------------


def test_exactly_the_declared_headers_are_sent() -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"ok")

    async def main() -> None:
        async with serve(handler) as base, EdgarClient(AGENT, rate=None) as client:
            await client.get(base + "x")

    asyncio.run(main())
    assert seen[0].keys() == {"Host", "User-Agent", "Accept-Encoding", "Accept"}
    assert (seen[0]["User-Agent"], seen[0]["Accept-Encoding"]) == (AGENT, "gzip, deflate")


def test_a_header_the_caller_passes_replaces_the_default_of_that_name() -> None:
    """Sent once, with the caller's value: an HTTP header given twice is two values (or a rejected
    request), not an override."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(list(request.raw_headers))
        return web.Response(body=b"ok")

    async def main() -> None:
        mine = {"User-Agent": "Other Agent other@example.com", "Accept-Encoding": "identity"}
        async with serve(handler) as base, PoliteClient(AGENT, rate=None, headers=mine) as client:
            await client.get(base + "x")

    asyncio.run(main())
    sent = [(name.decode().lower(), value.decode()) for name, value in seen[0]]
    assert [value for name, value in sent if name == "user-agent"] == ["Other Agent other@example.com"]
    assert [value for name, value in sent if name == "accept-encoding"] == ["identity"]


def test_a_block_by_another_server_is_named_after_that_server() -> None:
    """A price source asking for a longer wait than a run sits through ends the run in its own name, not
    EDGAR's; every later request ends the same way without reaching the server."""
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=429, headers={"Retry-After": "7200"}, body=b"slow down")

    class Prices(PoliteClient):
        service = "the price source"

    async def main() -> None:
        async with serve(handler) as base, Prices(AGENT, rate=None, max_wait=60.0) as client:
            for path in ("a", "b"):
                with pytest.raises(EdgarBlocked) as blocked:
                    await client.get(base + path)
                assert str(blocked.value).startswith(
                    f"the price source answered HTTP 429 to {base}a with Retry-After 7200 s, longer than the "
                    "60 s a run waits"
                )

    asyncio.run(main())
    assert hits == ["/a"]


def test_statuses_missing_refused_and_permanent() -> None:
    """403, 404 and 410 are a missing file when the caller allows it; any other 4xx but 408 and 429 fails
    at once, naming its URL and status."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=int(request.path.strip("/")), body=b"answer")

    async def main() -> None:
        async with serve(handler) as base, EdgarClient(AGENT, rate=None, retries=3) as client:
            for status in (403, 404, 410):
                assert await client.get(f"{base}{status}", missing_ok=True) is None
            for status, missing_ok in [(403, False), (404, False), (410, False), (401, True), (451, True)]:
                with pytest.raises(FetchError) as error:
                    await client.get(f"{base}{status}", missing_ok=missing_ok)
                assert (error.value.url, error.value.reason, error.value.status) == (
                    f"{base}{status}",
                    f"HTTP {status}",
                    status,
                )
            assert client.stats.requests == 8 and client.stats.retries == 0

    asyncio.run(main())


def test_requests_and_bytes_are_counted() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.path.strip("/")))

    async def main() -> None:
        async with serve(handler) as base, EdgarClient(AGENT, rate=None) as client:
            for size in (10, 200, 3000):
                await client.get(f"{base}{size}")
            assert (client.stats.requests, client.stats.bytes) == (3, 3210)

    asyncio.run(main())


def test_the_client_works_only_inside_async_with() -> None:
    async def main() -> None:
        client = EdgarClient(AGENT, rate=None)
        message = r"^EdgarClient must be used inside 'async with'$"
        with pytest.raises(RuntimeError, match=message):
            await client.get("http://127.0.0.1:9/x")
        async with serve(ok) as base:
            async with client:
                assert await client.get(base) == b"ok"
            with pytest.raises(RuntimeError, match=message):
                await client.get(base)

    asyncio.run(main())


def test_concurrent_requests_are_bounded_by_connections_default_ten() -> None:
    """Every request the server holds open until no more arrive: at most ``connections`` are in flight,
    beyond aiohttp's own pool of 100 too."""

    async def in_flight(connections: int | None, requests: int) -> int:
        state = {"now": 0, "most": 0}
        arrived = asyncio.Event()

        async def handler(request: web.Request) -> web.Response:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            arrived.set()
            while True:  # hold the answer while other requests keep arriving
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), timeout=1.0)
                except TimeoutError:
                    break
            state["now"] -= 1
            return web.Response(body=b"ok")

        options = {} if connections is None else {"connections": connections}
        async with serve(handler) as base, EdgarClient(AGENT, rate=None, **options) as client:
            await asyncio.gather(*(client.get(f"{base}{i}") for i in range(requests)))
        return state["most"]

    assert asyncio.run(in_flight(None, 12)) == 10
    assert asyncio.run(in_flight(120, 120)) == 120


def test_a_request_counts_against_the_rate_from_when_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate slot is granted before the connection is ready; the start the limiter keeps is the
    moment the request's headers were written, after the client began to send it."""
    began: list[float] = []

    async def main() -> None:
        async with serve(ok) as base, EdgarClient(AGENT, rate=1.0) as client:
            attempt = client._attempt

            async def timed(url, spent):
                began.append(rate_limit.time.monotonic())
                return await attempt(url, spent)

            monkeypatch.setattr(client, "_attempt", timed)
            await client.get(base)
            window = client.limiter._window
            assert window is not None and window._starts[0] > began[0] > window._booked[0]

    asyncio.run(main())


# Failures, pauses and blocks against the fake EDGAR ----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "start"),
    [
        ("reset", "connection error: ServerDisconnectedError: "),
        ("truncate", "truncated or corrupt body: "),
        ("slow", "timed out after 0.3 s"),
        ("503", "HTTP 503"),
    ],
)
def test_a_failure_names_its_url_cause_and_attempts(filings, fault: str, start: str) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=None, retries=0, timeout=0.3) as c:
            server.inject(fault, delay=1.0)
            with pytest.raises(FetchError) as error:
                await c.get(filing_url(server))
            assert error.value.url == filing_url(server)
            assert error.value.reason.startswith(start)
            assert error.value.reason.endswith(" (gave up after 1 attempts)")

    asyncio.run(main())


def test_a_persistent_refusal_ends_after_six_pauses(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=None, pause_seconds=0.01) as client:
            server.inject("429", times=10, retry_after="0")
            with pytest.raises(FetchError) as error:
                await client.get(filing_url(server))
            assert (error.value.url, error.value.reason) == (
                filing_url(server),
                "HTTP 429: still rate-limited after 6 pauses",
            )
            assert len(server.hits) == 7 and client.stats.pauses == 6

    asyncio.run(main())


def test_a_retry_after_of_exactly_max_wait_is_waited_and_logged(filings, caplog) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=None, max_wait=1.0) as client:
            server.inject("429", retry_after="1")
            with caplog.at_level(logging.WARNING, logger="engine.edgar.http"):
                assert await client.get(filing_url(server)) == server.filings[0].body
            assert (client.stats.pauses, client.stats.paused_seconds) == (1, pytest.approx(1.0))
            assert [record.getMessage() for record in caplog.records] == [
                f"EDGAR refused a request (HTTP 429 on {filing_url(server)}): pausing every task for 1 s"
            ]

    asyncio.run(main())


def test_a_retry_after_over_max_wait_ends_the_run_naming_the_status(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=None, max_wait=1.0) as client:
            server.inject("429", retry_after="2")
            with pytest.raises(EdgarBlocked) as blocked:
                await client.get(filing_url(server))
            assert str(blocked.value).startswith(
                f"EDGAR answered HTTP 429 to {filing_url(server)} with Retry-After 2 s, longer than the 1 s "
            )

    asyncio.run(main())


def test_retries_are_logged_with_their_url_delay_and_cause(filings, caplog) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=None, backoff=0.01) as client:
            server.inject("503")
            with caplog.at_level(logging.INFO, logger="engine.edgar.http"):
                await client.get(filing_url(server))
            (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
            message = record.getMessage()
            assert message.startswith(f"retrying {filing_url(server)} in 0.0") and message.endswith(
                " s after HTTP 503"
            )

    asyncio.run(main())
