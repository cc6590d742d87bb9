"""A local fake EDGAR: real filings served under EDGAR's real URL layout, with faults on demand.

The server (aiohttp, 127.0.0.1 only) serves each filing's full submission at
``Archives/edgar/data/{cik}/{accession}.txt`` for every CIK involved, the daily and quarterly
``form.idx`` / ``master.idx`` generated from those filings (one row per CIK: the issuer and each
reporting owner, as EDGAR lists them), plus whatever XBRL frames and data-set zips it is given. A bare
ownership XML (or a header-only ``<SUBMISSION>`` file) is wrapped in a generated ``<SEC-DOCUMENT>``
header whose acceptance time is derived deterministically from the bytes. Faults are queued with
:meth:`FakeEdgar.inject`; every request is logged with its arrival time for per-second accounting.
It backs the downloader's tests and benchmarks and ``insider demo``; it never talks to sec.gov.
"""

from __future__ import annotations

import asyncio
import bisect
import gzip as gzip_module
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from aiohttp import web

from engine.edgar.calendar import FIRST_INDEX_DAY, quarter_bounds, quarter_of, today_in_new_york
from engine.edgar.urls import DATASET_DIR, FRAME_CONCEPT
from engine.replay.feed import FEED_PATH, NEW_YORK, CurrentFeed, ReplayClock
from engine.replay.filings import ReplayFiling, iso_date, load_filings
from engine.replay.indexes import form_index, master_index
from engine.replay.local import LocalServer
from parsers.accessions import ACCESSION_PATTERN

RATE_PAGE = (
    b"<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>"
    b"<h1>Your Request Originates from an Undeclared Automated Tool</h1>"
    b"<p>Your request rate has exceeded the SEC's maximum allowable requests per second. Your access to "
    b"SEC.gov will be limited for 10 minutes.</p></body></html>"
)
UNDECLARED_PAGE = (
    b"<html><head><title>SEC.gov | Your Request Originates from an Undeclared Automated Tool</title></head>"
    b"<body><p>To allow for equitable access to all users, SEC reserves the right to limit requests "
    b"originating from undeclared automated tools. Your request has been identified as part of a network "
    b"of automated tools outside of the acceptable policy and will be managed until action is taken to "
    b"declare your traffic.</p></body></html>"
)
FORBIDDEN_PAGE = b"<html><body><h1>403 Forbidden</h1></body></html>"
_EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>SEC.gov | Service Unavailable</title></head><body><h1>We are "
    b"sorry</h1><p>The page you requested is temporarily unavailable.</p></body></html>"
)

FAULT_KINDS = frozenset(
    {
        "429",
        "403-rate",
        "403-undeclared",
        "408",
        "500",
        "503",
        "reset",
        "slow",
        "truncate",
        "404",
        "gzip-cut",
        "cut-200",
        "html-200",
        "rate-200",
    }
)


@dataclass
class Fault:
    """A fault waiting for a request whose path contains ``match``."""

    kind: str
    match: str = "/Archives/edgar/data/"
    retry_after: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    at: float
    path: str
    status: int
    user_agent: str
    fault: str | None = None


@dataclass
class FakeEdgar(LocalServer):
    """The fake EDGAR. Every weekday up to ``today`` (default: the last filing day) has a daily index and
    every quarter since 1993 up to it a quarterly one, empty where no filing falls; later ones answer 403
    like EDGAR's not-yet-existing indexes. ``files`` serves other real files at their path (``xbrl.idx``).
    ``feed`` serves the current-filings Atom feed of a scripted day (default: an empty feed); its filings
    are added to ``filings`` and stay out of the archive and the daily index until the script publishes
    them."""

    thread_name = "fake-edgar"

    filings: list[ReplayFiling]
    frames: dict[tuple[int, int], bytes] = field(default_factory=dict)
    datasets: dict[tuple[int, int], bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    latency: float = 0.0
    gzip: bool = False
    today: date | None = None
    feed: CurrentFeed | None = None
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        # EDGAR always has a current-filings feed: without a script, an empty one
        self._feed = self.feed or CurrentFeed([], ReplayClock(datetime.now(NEW_YORK).replace(tzinfo=None)))
        known = {f.accession for f in self.filings}
        self.filings = self.filings + [f for f in self._feed.filings if f.accession not in known]
        self._by_accession = {f.accession: f for f in self.filings}
        self._by_day: dict[date, list[ReplayFiling]] = defaultdict(list)
        self._by_quarter: dict[tuple[int, int], list[ReplayFiling]] = defaultdict(list)
        for filing in self.filings:
            self._by_day[filing.filing_date].append(filing)
            self._by_quarter[(filing.filing_date.year, quarter_of(filing.filing_date))].append(filing)
        self.today = self.today or max(self._by_day, default=today_in_new_york())
        self._faults: list[Fault] = []
        self._cache: dict[str, bytes] = {}
        self._init_server()

    @classmethod
    def from_directory(cls, directory: Path, **options: object) -> FakeEdgar:
        """A server over every filing of a directory (e.g. ``tests/fixtures/filings``)."""
        return cls(load_filings(directory), **options)  # type: ignore[arg-type]

    # faults and accounting

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        match: str = "/Archives/edgar/data/",
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue ``times`` faults for the next requests whose path contains ``match``.

        Kinds: ``429`` (with ``Retry-After`` when given), ``403-rate`` (the SEC's rate page),
        ``403-undeclared``, ``408`` (request timeout), ``500``, ``503``, ``404``, ``reset`` (connection closed
        without an answer),
        ``slow`` (answer after ``delay`` seconds), ``truncate`` (half the declared body, then close), and
        damaged answers that are whole as HTTP goes (status 200, a Content-Length that matches):
        ``gzip-cut`` (the first half of a gzip stream), ``cut-200`` (the first half of the body),
        ``html-200`` (an HTML error page), ``rate-200`` (the SEC's rate-limit page)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        self._faults.extend(Fault(kind, match, retry_after, delay) for _ in range(times))

    @property
    def pending_faults(self) -> int:
        """Faults not yet served."""
        return len(self._faults)

    def max_in_window(self, period: float = 1.0) -> int:
        """The most requests that arrived within any span of ``period`` seconds."""
        return max_in_window(self.hits, period)

    def windows_over(self, limit: int, period: float = 1.0) -> int:
        """How many requests opened a ``period``-second span holding more than ``limit`` requests."""
        return windows_over(self.hits, limit, period)

    def _take_fault(self, path: str) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.match in path:
                return self._faults.pop(i)
        return None

    # content

    def _filing_body(self, cik: int, accession: str) -> bytes | None:
        filing = self._by_accession.get(accession)
        if filing is None or all(cik != c for c, _ in filing.ciks):
            return None
        if not self._feed.published(accession):
            return None
        return filing.body

    def _daily_index(self, kind: str, day: date) -> bytes | None:
        assert self.today is not None
        if day > self.today or day.weekday() >= 5:
            return None
        if not self._feed.indexed(day):
            return None
        build = form_index if kind == "form" else master_index
        return build(self._by_day.get(day, []), daily=True, last_day=day)

    def _quarterly_index(self, kind: str, year: int, quarter: int) -> bytes | None:
        assert self.today is not None
        first, last = quarter_bounds(year, quarter)
        if first > self.today or first < FIRST_INDEX_DAY:
            return None
        end = min(self.today, last)
        build = form_index if kind == "form" else master_index
        return build(self._by_quarter.get((year, quarter), []), daily=False, last_day=end)

    def content(self, path: str) -> tuple[bytes | None, str]:
        """The bytes served at ``path`` (None: not there) and their content type."""
        if path in self._cache:
            return self._cache[path], _content_type(path)
        body = self._resolve(path)
        if body is not None and not path.startswith("/Archives/edgar/data/"):
            self._cache[path] = body
        return body, _content_type(path)

    def _resolve(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if m := re.fullmatch(rf"/Archives/edgar/data/(\d+)/({ACCESSION_PATTERN})\.txt", path):
            return self._filing_body(int(m.group(1)), m.group(2))
        if m := re.fullmatch(
            r"/Archives/edgar/daily-index/(\d{4})/QTR([1-4])/(form|master)\.(\d{8})\.idx", path
        ):
            day = iso_date(m.group(4))
            if day is None or day.year != int(m.group(1)) or quarter_of(day) != int(m.group(2)):
                return None
            return self._daily_index(m.group(3), day)
        if m := re.fullmatch(r"/Archives/edgar/full-index/(\d{4})/QTR([1-4])/(form|master)\.idx", path):
            return self._quarterly_index(m.group(3), int(m.group(1)), int(m.group(2)))
        if m := re.fullmatch(rf"/api/xbrl/frames/{FRAME_CONCEPT}/CY(\d{{4}})Q([1-4])I\.json", path):
            return self.frames.get((int(m.group(1)), int(m.group(2))))
        if m := re.fullmatch(rf"/{DATASET_DIR}/(\d{{4}})q([1-4])_form345\.zip", path):
            return self.datasets.get((int(m.group(1)), int(m.group(2))))
        return None

    # aiohttp plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        path = request.path
        user_agent = request.headers.get("User-Agent", "")
        fault = self._take_fault(path)
        if self.latency:
            await asyncio.sleep(self.latency)
        if not _EMAIL.search(user_agent.encode("latin-1", "replace")):
            return self._log(arrived, path, user_agent, web.Response(status=403, body=UNDECLARED_PAGE))
        if fault is None and path == FEED_PATH:
            response, scripted = await self._feed_response(request)
            self.hits.append(Hit(arrived, path, response.status, user_agent, scripted))
            return response
        if fault is not None:
            response = await self._fault_response(fault, request, path)
            status = response.status if response is not None else 0
            self.hits.append(Hit(arrived, path, status, user_agent, fault.kind))
            return response if response is not None else web.Response(status=499)
        body, content_type = self.content(path)
        if body is None:
            status = 404 if path.startswith("/Archives/edgar/data/") or path.startswith("/api/") else 403
            page = FORBIDDEN_PAGE if status == 403 else b"Not Found"
            return self._log(arrived, path, user_agent, web.Response(status=status, body=page))
        headers = {"Content-Type": content_type}
        if self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip_module.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return self._log(arrived, path, user_agent, web.Response(body=body, headers=headers))

    async def _feed_response(self, request: web.Request) -> tuple[web.StreamResponse, str | None]:
        """The feed page asked for, or the scripted fault in force (an outage answers 503), and the
        scripted fault's kind."""
        scripted = self._feed.active_fault()
        if scripted is not None and scripted.kind != "scroll":
            kind = "503" if scripted.kind == "outage" else scripted.kind
            fault = Fault(kind, FEED_PATH, scripted.retry_after)
            response = await self._fault_response(fault, request, FEED_PATH)
            assert response is not None
            return response, scripted.kind
        status, body = self._feed.page(request.query, self.base_url)
        page = web.Response(
            status=status, body=body, content_type="application/atom+xml", charset="ISO-8859-1"
        )
        return page, scripted.kind if scripted is not None else None

    def _log(self, arrived: float, path: str, user_agent: str, response: web.Response) -> web.Response:
        self.hits.append(Hit(arrived, path, response.status, user_agent))
        return response

    async def _fault_response(
        self, fault: Fault, request: web.Request, path: str
    ) -> web.StreamResponse | None:
        kind = fault.kind
        if kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.Response(status=429, body=b"Too Many Requests", headers=headers)
        if kind == "403-rate":
            return web.Response(status=403, body=RATE_PAGE, content_type="text/html")
        if kind == "403-undeclared":
            return web.Response(status=403, body=UNDECLARED_PAGE, content_type="text/html")
        if kind in ("408", "500", "503", "404"):
            return web.Response(status=int(kind), body=f"fault {kind}".encode())
        if kind == "reset":
            if request.transport is not None:
                request.transport.abort()
            return None
        if kind == "html-200":
            return web.Response(body=ERROR_PAGE, content_type="text/html")
        if kind == "rate-200":
            return web.Response(body=RATE_PAGE, content_type="text/html")
        body, content_type = self.content(path)
        body = body or b""
        if kind == "slow":
            await asyncio.sleep(fault.delay)
            return web.Response(body=body, content_type=content_type)
        if kind == "cut-200":
            return web.Response(body=body[: len(body) // 2], content_type=content_type)
        if kind == "gzip-cut":
            packed = gzip_module.compress(body, compresslevel=1)
            headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
            return web.Response(body=packed[: len(packed) // 2], headers=headers)
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _control(self, request: web.Request) -> web.Response:
        """``/_replay/hits`` (JSON log), ``/_replay/inject?kind=..`` and ``/_replay/reset``: for a server
        run as its own process, so that arrival times are not skewed by the client sharing its loop."""
        action = request.match_info["action"]
        if action == "hits":
            return web.json_response([[h.at, h.path, h.status, h.user_agent, h.fault] for h in self.hits])
        if action == "inject":
            query = request.query
            self.inject(
                query["kind"],
                times=int(query.get("times", "1")),
                match=query.get("match", "/Archives/edgar/data/"),
                retry_after=query.get("retry_after"),
                delay=float(query.get("delay", "0")),
            )
            return web.json_response({"pending": self.pending_faults})
        if action == "reset":
            self.hits.clear()
            self._faults.clear()
            return web.json_response({"pending": 0})
        raise web.HTTPNotFound()

    def app(self) -> web.Application:
        """The aiohttp application: EDGAR's paths, plus the ``/_replay/`` control paths."""
        application = web.Application()
        application.router.add_get("/_replay/{action}", self._control)
        application.router.add_get("/{tail:.*}", self._handle)
        return application


def max_in_window(hits: Iterable[Hit], period: float = 1.0) -> int:
    """The most requests that arrived within any span of ``period`` seconds."""
    times = sorted(h.at for h in hits)
    return max((bisect.bisect_left(times, t + period) - i for i, t in enumerate(times)), default=0)


def windows_over(hits: Iterable[Hit], limit: int, period: float = 1.0) -> int:
    """How many requests opened a ``period``-second span holding more than ``limit`` requests."""
    times = sorted(h.at for h in hits)
    return sum(bisect.bisect_left(times, t + period) - i > limit for i, t in enumerate(times))


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".zip"):
        return "application/zip"
    return "text/plain"
