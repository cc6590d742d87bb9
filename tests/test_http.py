"""The polite client against the fake EDGAR: headers, refusal of undeclared agents, pauses, retries."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from rate_checks import SERVER_LAG, most_in_a_second, record_sends

from engine.edgar.download import submission_problem
from engine.edgar.http import (
    DEFAULT_PAUSE_SECONDS,
    EdgarBlocked,
    EdgarClient,
    FetchError,
    check_user_agent,
    is_rate_page,
    retry_after_seconds,
)
from engine.edgar.rate_limit import SEC_MAX_RATE
from engine.errors import UserError
from engine.replay import RATE_PAGE, UNDECLARED_PAGE, FakeEdgar, load_filings

AGENT = "Insider Engine tests tests@example.com"


@pytest.fixture(scope="module")
def filings(filings_dir: Path):
    return load_filings(filings_dir)[:20]


def _url(server: FakeEdgar, index: int = 0) -> str:
    filing = server.filings[index]
    return f"{server.base_url}Archives/edgar/data/{filing.ciks[-1][0]}/{filing.accession}.txt"


def _client(**options) -> EdgarClient:
    defaults = dict(rate=200, backoff=0.01, pause_seconds=0.3, retries=3, timeout=2.0)
    return EdgarClient(AGENT, **{**defaults, **options})


@pytest.mark.parametrize("agent", [None, "", "python-requests/2.31", "Jane Doe", "jane at example dot com"])
def test_a_user_agent_without_an_email_is_refused(agent: str | None) -> None:
    with pytest.raises(UserError, match="e-mail") as error:
        EdgarClient(agent)  # type: ignore[arg-type]
    assert "--user-agent" in (error.value.fix or "")


def test_a_declared_agent_is_accepted() -> None:
    assert check_user_agent("  Acme Research ops@acme.example  ") == "Acme Research ops@acme.example"


def test_rate_pages_are_told_apart_from_a_plain_403() -> None:
    assert is_rate_page(RATE_PAGE) and is_rate_page(UNDECLARED_PAGE)
    assert not is_rate_page(b"<html><body><h1>403 Forbidden</h1></body></html>")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def run(coroutine):
    return asyncio.run(coroutine)


def test_headers_and_gzip_bodies(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings, gzip=True) as server, _client() as client:
            body = await client.get(_url(server))
            assert body == server.filings[0].body
            hit = server.hits[-1]
            assert hit.user_agent == AGENT and hit.status == 200

    run(main())


@pytest.mark.parametrize("fault", ["408", "500", "503", "reset", "truncate"])
def test_transient_faults_are_retried(filings, fault: str) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client() as client:
            server.inject(fault, times=2)
            assert await client.get(_url(server)) == server.filings[0].body
            assert server.pending_faults == 0
            assert client.stats.retries == 2

    run(main())


def test_a_slow_answer_times_out_and_is_retried(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(timeout=0.3) as client:
            server.inject("slow", delay=1.0)
            assert await client.get(_url(server)) == server.filings[0].body
            assert client.stats.retries == 1

    run(main())


def test_the_default_is_five_retries(filings) -> None:
    """Five transient failures in a row are ridden out by default, a sixth is not (only the backoff is
    shortened here)."""

    async def main() -> None:
        async with FakeEdgar(filings) as server, EdgarClient(AGENT, rate=200, backoff=0.001) as client:
            server.inject("503", times=5)
            assert await client.get(_url(server)) == server.filings[0].body
            assert client.stats.retries == 5
            server.inject("503", times=6)
            with pytest.raises(FetchError, match=r"HTTP 503 \(gave up after 6 attempts\)"):
                await client.get(_url(server))
            assert server.pending_faults == 0

    run(main())


def test_retries_are_bounded_and_the_reason_is_kept(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(retries=2) as client:
            server.inject("503", times=5)
            with pytest.raises(FetchError, match="HTTP 503 .gave up after 3 attempts") as gave_up:
                await client.get(_url(server))
            assert gave_up.value.status == 503
            server.inject("404")
            with pytest.raises(FetchError, match="HTTP 404") as missing:
                await client.get(_url(server))
            assert missing.value.status == 404
            server.inject("503")
            server.inject("reset", times=2)
            with pytest.raises(FetchError, match="connection error") as unanswered:
                await client.get(_url(server))
            assert unanswered.value.status == 503, "the last status that came, though the last try got none"
            server.inject("reset", times=3)
            with pytest.raises(FetchError, match="connection error") as never:
                await client.get(_url(server))
            assert never.value.status is None, "no answer ever came"

    run(main())


def test_missing_index_is_none_but_a_rate_403_is_not(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client() as client:
            future = f"{server.base_url}Archives/edgar/daily-index/2099/QTR1/form.20990105.idx"
            assert await client.get(future, missing_ok=True) is None
            server.inject("403-rate", match="daily-index")
            assert await client.get(future, missing_ok=True) is None
            assert client.stats.pauses == 1

    run(main())


@pytest.mark.parametrize(
    ("fault", "retry_after", "expected"),
    [("429", "1", 1.0), ("429", None, 0.6), ("403-rate", None, 0.6), ("403-undeclared", None, 0.6)],
)
def test_rate_limit_answers_pause_every_task(filings, fault, retry_after, expected) -> None:
    """One refused request holds back all tasks for Retry-After (or the configured pause)."""

    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(pause_seconds=0.6) as client:
            server.inject(fault, retry_after=retry_after)
            began = time.monotonic()
            first = asyncio.create_task(client.get(_url(server, 0)))
            await asyncio.sleep(0.05)
            others = [client.get(_url(server, i)) for i in range(1, 8)]
            bodies = await asyncio.gather(first, *others)
            assert bodies == [f.body for f in server.filings[:8]]
            refused = next(h for h in server.hits if h.status in (403, 429))
            later = [h.at for h in server.hits if h.at > refused.at]
            assert len(later) == 8
            assert min(later) - refused.at >= expected - 0.02
            assert time.monotonic() - began >= expected
            assert client.stats.pauses == 1

    run(main())


def test_a_persistent_block_gives_up_after_bounded_pauses(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(pause_seconds=0.05, max_pauses=2) as client:
            server.inject("429", times=5)
            with pytest.raises(FetchError, match="still rate-limited after 2 pauses") as blocked:
                await client.get(_url(server))
            assert blocked.value.status == 429

    run(main())


def test_the_server_refuses_an_undeclared_tool(filings) -> None:
    """The fake EDGAR answers an agent without contact details the way the SEC does."""

    async def main() -> None:
        import aiohttp

        async with (
            FakeEdgar(filings) as server,
            aiohttp.ClientSession() as session,
            session.get(_url(server), headers={"User-Agent": "python"}) as response,
        ):
            assert response.status == 403
            assert is_rate_page(await response.read())

    run(main())


def test_requests_queued_behind_busy_connections_never_burst(filings, monkeypatch) -> None:
    """A rate slot is taken only with a connection free: when every connection is held by a slow
    answer, the requests waiting for one must not all go out together once they free up (checked on the
    client's send times, and at the server allowing for its lag: tests/rate_checks.py)."""
    sends = record_sends(monkeypatch)

    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(rate=20, connections=2, timeout=5.0) as client:
            server.inject("slow", times=2, delay=1.3)
            urls = [_url(server, i % len(server.filings)) for i in range(30)]
            await asyncio.gather(*(client.get(url) for url in urls))
            assert len(server.hits) == len(sends) == 30
            assert most_in_a_second(sends) <= 20
            assert server.max_in_window(1.0 - SERVER_LAG) <= 20

    run(main())


@pytest.mark.parametrize("rate", [100.0, None])
def test_every_sec_host_shares_one_budget_at_the_sec_limit_whatever_the_rate(rate: float | None) -> None:
    """Decided per URL when a request takes its slot (no request is sent here): every spelling of every
    host under sec.gov spends one budget of 10/s; only other hosts get the rate asked for."""
    client = EdgarClient(AGENT, rate=rate)
    sec_urls = [
        "https://www.sec.gov/Archives/edgar/data/1/x.txt",
        "https://data.sec.gov/api/xbrl/frames/x.json",
        "HTTPS://EFTS.SEC.GOV./LATEST/search-index",
        "http://Sec.Gov:443/",
        "https://mirror@data.sec.gov/",
    ]
    budgets = {id(client.limiter_for(url)) for url in sec_urls}
    assert len(budgets) == 1 and client.limiter_for(sec_urls[0]).rate == SEC_MAX_RATE
    for mirror in ("http://127.0.0.1:9/x", "https://sec.gov.mirror.example/", "https://notsec.gov/"):
        assert client.limiter_for(mirror).rate == rate


def test_a_rate_within_the_sec_limit_is_one_budget_for_every_host() -> None:
    client = EdgarClient(AGENT, rate=8)
    assert client.limiter_for("https://data.sec.gov/") is client.limiter_for("http://127.0.0.1:9/")
    assert client.limiter.rate == 8


@pytest.mark.parametrize(
    "agent", ["Jane jane@example.com\r\nX-Injected: 1", "Jane\njane@example.com", "Jane\x00 jane@example.com"]
)
def test_a_user_agent_with_a_line_break_or_control_character_is_refused(agent: str) -> None:
    with pytest.raises(UserError, match="control character") as error:
        check_user_agent(agent)
    assert "--user-agent" in (error.value.fix or "")


def test_a_refusal_by_an_sec_host_pauses_at_least_the_sec_block_whatever_the_pause_asked() -> None:
    """Decided on the answer alone (nothing is sent): a tiny pause holds for mirrors only."""
    client = EdgarClient(AGENT, pause_seconds=0.001)
    assert client.wait_after_refusal("https://WWW.SEC.GOV/Archives/x", {}) == DEFAULT_PAUSE_SECONDS
    assert client.wait_after_refusal("https://data.sec.gov/api/x", {}) == DEFAULT_PAUSE_SECONDS
    assert client.wait_after_refusal("http://127.0.0.1:9/x", {}) == 0.001
    assert client.wait_after_refusal("https://www.sec.gov/x", {"Retry-After": "7"}) == 7.0


@pytest.mark.parametrize("pause", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_pause_that_is_not_a_finite_positive_number_is_refused(pause: float) -> None:
    with pytest.raises(UserError, match="pause_seconds"):
        EdgarClient(AGENT, pause_seconds=pause)


@pytest.mark.parametrize("retry_after", ["86400", "9" * 400])
def test_a_very_long_retry_after_ends_the_run_instead_of_sleeping(filings, retry_after: str) -> None:
    """Bounded by a generous wait_for: without the cap the client would sleep for a day."""

    async def main() -> None:
        async with FakeEdgar(filings) as server, _client() as client:
            server.inject("429", retry_after=retry_after)
            with pytest.raises(EdgarBlocked) as blocked:
                await asyncio.wait_for(client.get(_url(server)), timeout=30)
            message = str(blocked.value)
            assert "Retry-After" in message and "stored" in message
            assert "run the same command again" in (blocked.value.fix or "")
            sent = len(server.hits)
            with pytest.raises(EdgarBlocked):
                await asyncio.wait_for(client.get(_url(server, 1)), timeout=30)
            assert len(server.hits) == sent
            assert client.stats.paused_seconds < 1

    run(main())


@pytest.mark.parametrize("fault", ["gzip-cut", "cut-200", "html-200"])
def test_a_damaged_200_is_retried_not_returned(filings, fault: str) -> None:
    """Whole as HTTP goes (status 200, matching Content-Length), damaged as a filing: fetched again."""

    async def main() -> None:
        async with FakeEdgar(filings) as server, _client() as client:
            server.inject(fault, times=2)
            assert await client.get(_url(server), check=submission_problem) == server.filings[0].body
            assert server.pending_faults == 0 and client.stats.retries == 2
            server.inject(fault, times=5)
            with pytest.raises(FetchError, match="damaged answer|cut short"):
                await client.get(_url(server), check=submission_problem)

    run(main())


def test_a_gzip_stream_cut_short_is_retried_whatever_the_body(filings) -> None:
    """Caught by the client itself, so indexes, zips and JSON are protected as well as filings."""

    async def main() -> None:
        async with FakeEdgar(filings) as server, _client() as client:
            server.inject("gzip-cut")
            assert await client.get(_url(server)) == server.filings[0].body
            assert client.stats.retries == 1

    run(main())


def test_the_sec_rate_page_sent_with_status_200_pauses_every_task(filings) -> None:
    async def main() -> None:
        async with FakeEdgar(filings) as server, _client(pause_seconds=0.3) as client:
            server.inject("rate-200")
            assert await client.get(_url(server), check=submission_problem) == server.filings[0].body
            assert client.stats.pauses == 1 and client.stats.retries == 0

    run(main())
