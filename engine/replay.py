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

import argparse
import asyncio
import bisect
import gzip as gzip_module
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web
from lxml import etree

from engine.edgar_urls import DATASET_DIR, FRAME_CONCEPT, quarter_of

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

FAULT_KINDS = frozenset(
    {"429", "403-rate", "403-undeclared", "408", "500", "503", "reset", "slow", "truncate", "404"}
)
_EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
_OWNERSHIP_TYPES = ("3", "3/A", "4", "4/A", "5", "5/A")


@dataclass(frozen=True)
class ReplayFiling:
    """One filing as EDGAR would hold it: the full submission bytes and what its index rows say."""

    accession: str
    form_type: str
    filing_date: date
    ciks: tuple[tuple[int, str], ...]
    body: bytes


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


# -- reading real filings ----------------------------------------------------------------------------


def _header_value(text: str, *keys: str) -> str | None:
    for key in keys:
        found = re.search(rf"{re.escape(key)}[ \t]*([^\r\n<]+)", text)
        if found and found.group(1).strip():
            return found.group(1).strip()
    return None


def _ownership_xml(data: bytes) -> bytes:
    start = data.find(b"<XML>")
    if start >= 0:
        end = data.find(b"</XML>", start)
        return data[start + 5 : end if end >= 0 else len(data)].strip()
    start = data.find(b"<?xml")
    if start < 0:
        start = data.find(b"<ownershipDocument")
    end = data.rfind(b"</ownershipDocument>")
    if start < 0 or end < 0:
        raise ValueError("no ownershipDocument in the file")
    return data[start : end + len(b"</ownershipDocument>")].strip()


def _xml_facts(xml: bytes) -> dict[str, object]:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(xml, parser)
    if root is None:
        raise ValueError("unreadable XML")

    def text(path: str) -> str | None:
        found = root.findtext(path)
        return found.strip() if found and found.strip() else None

    owners = []
    for owner in root.iterfind("reportingOwner/reportingOwnerId"):
        cik = (owner.findtext("rptOwnerCik") or "").strip()
        if cik.isdigit():
            owners.append((int(cik), (owner.findtext("rptOwnerName") or "").strip()))
    signatures = sorted(
        (s.strip() for s in root.xpath("ownerSignature/signatureDate/text()") if s.strip()), reverse=True
    )
    return {
        "document_type": text("documentType"),
        "period": text("periodOfReport"),
        "issuer_cik": text("issuer/issuerCik"),
        "issuer_name": text("issuer/issuerName") or "",
        "owners": owners,
        "signature_date": signatures[0] if signatures else None,
    }


def _iso_date(value: str | None) -> date | None:
    if not value:
        return None
    digits = re.sub(r"\D", "", value)[:8]
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def _next_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _derived_accession(digest: bytes, year: int) -> str:
    return f"9999999998-{year % 100:02d}-{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def wrap_submission(
    xml: bytes,
    *,
    accession: str,
    form_type: str,
    filing_date: date,
    accepted_at: datetime,
    period: date | None,
    issuer: tuple[int, str],
    owners: Iterable[tuple[int, str]],
) -> bytes:
    """A ``<SEC-DOCUMENT>`` full submission around an ownership XML, laid out like EDGAR's ``.txt``."""
    lines = [
        f"<SEC-DOCUMENT>{accession}.txt : {filing_date:%Y%m%d}",
        f"<SEC-HEADER>{accession}.hdr.sgml : {filing_date:%Y%m%d}",
        f"<ACCEPTANCE-DATETIME>{accepted_at:%Y%m%d%H%M%S}",
        f"ACCESSION NUMBER:\t\t{accession}",
        f"CONFORMED SUBMISSION TYPE:\t{form_type}",
        "PUBLIC DOCUMENT COUNT:\t\t1",
    ]
    if period:
        lines.append(f"CONFORMED PERIOD OF REPORT:\t{period:%Y%m%d}")
    lines += [f"FILED AS OF DATE:\t\t{filing_date:%Y%m%d}", f"DATE AS OF CHANGE:\t\t{filing_date:%Y%m%d}", ""]
    for cik, name in owners:
        lines += [
            "REPORTING-OWNER:\t",
            "",
            "\tOWNER DATA:\t",
            f"\t\tCOMPANY CONFORMED NAME:\t\t\t{name}",
            f"\t\tCENTRAL INDEX KEY:\t\t\t{cik:010d}",
            "",
            "\tFILING VALUES:",
            f"\t\tFORM TYPE:\t\t{form_type}",
            "\t\tSEC ACT:\t\t1934 Act",
            "",
        ]
    lines += [
        "ISSUER:\t\t",
        "",
        "\tCOMPANY DATA:\t",
        f"\t\tCOMPANY CONFORMED NAME:\t\t\t{issuer[1]}",
        f"\t\tCENTRAL INDEX KEY:\t\t\t{issuer[0]:010d}",
        "</SEC-HEADER>",
        "<DOCUMENT>",
        f"<TYPE>{form_type}",
        "<SEQUENCE>1",
        f"<FILENAME>form{form_type[0]}.xml",
        f"<DESCRIPTION>FORM {form_type}",
        "<TEXT>",
        "<XML>",
    ]
    head = "\n".join(lines).encode("latin-1", "replace") + b"\n"
    return head + xml + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"


def load_filing(path: Path) -> ReplayFiling:
    """Read one fixture file (full ``.txt`` submission, tag-form submission or bare XML) as EDGAR holds it."""
    data = path.read_bytes()
    xml = _ownership_xml(data)
    facts = _xml_facts(xml)
    head = data[: data.find(b"<DOCUMENT>")] if b"<DOCUMENT>" in data else data[:4000]
    header = head.decode("latin-1")
    issuer_cik = int(facts["issuer_cik"]) if str(facts["issuer_cik"] or "").isdigit() else None
    owners = list(facts["owners"])  # type: ignore[call-overload]
    if issuer_cik is None and not owners:
        raise ValueError(f"{path.name}: no issuer or owner CIK")
    ciks = ([(issuer_cik, str(facts["issuer_name"]))] if issuer_cik is not None else []) + [
        owner for owner in owners if owner[0] != issuer_cik
    ]
    form_type = (
        _header_value(header, "CONFORMED SUBMISSION TYPE:", "<TYPE>") or str(facts["document_type"] or "4")
    ).strip()
    if data.startswith(b"<SEC-DOCUMENT>"):
        accession = _header_value(header, "ACCESSION NUMBER:")
        filing_date = _iso_date(_header_value(header, "FILED AS OF DATE:"))
        if not accession or not filing_date:
            raise ValueError(f"{path.name}: SGML header without accession or filing date")
        return ReplayFiling(accession, form_type, filing_date, tuple(ciks), data)
    digest = hashlib.sha1(xml).digest()
    period = _iso_date(str(facts["period"] or ""))
    filing_date = _iso_date(_header_value(header, "<FILING-DATE>"))
    if filing_date is None:
        signed = _iso_date(str(facts["signature_date"] or ""))
        filing_date = signed if signed and (period is None or signed >= period) else None
        if filing_date is None:
            filing_date = (period or date(2020, 1, 2)) + timedelta(days=2)
        filing_date = _next_weekday(filing_date)
    accession = _header_value(header, "<ACCESSION-NUMBER>")
    if not accession:
        stem = path.stem
        accession = (
            stem
            if re.fullmatch(r"\d{10}-\d{2}-\d{6}", stem)
            else _derived_accession(digest, filing_date.year)
        )
    seconds = int.from_bytes(digest[8:12], "big") % (16 * 3600)
    accepted_at = datetime.combine(filing_date, datetime.min.time()) + timedelta(hours=6, seconds=seconds)
    body = wrap_submission(
        xml,
        accession=accession,
        form_type=form_type,
        filing_date=filing_date,
        accepted_at=accepted_at,
        period=period,
        issuer=ciks[0],
        owners=ciks[1:] or ciks[:1],
    )
    return ReplayFiling(accession, form_type, filing_date, tuple(ciks), body)


def load_filings(directory: Path) -> list[ReplayFiling]:
    """Every ``.txt`` / ``.xml`` filing of a directory, by accession; a repeated accession is an error."""
    filings = [load_filing(p) for p in sorted(directory.iterdir()) if p.suffix in (".txt", ".xml")]
    seen: dict[str, str] = {}
    for filing in filings:
        if filing.accession in seen:
            raise ValueError(f"accession {filing.accession} appears twice in {directory}")
        seen[filing.accession] = filing.accession
    return sorted(filings, key=lambda f: f.accession)


def synthetic_copies(
    filings: list[ReplayFiling], n: int, *, start: date = date(2030, 1, 2)
) -> list[ReplayFiling]:
    """``n`` filings cycling over real ones under fresh accessions (``99999999..``) and business days from
    ``start``, 1,000 a day: volume for benchmarks, each a real filing with its header dates and accession
    rewritten."""
    copies = []
    day = _next_weekday(start)
    for i in range(n):
        if i and i % 1000 == 0:
            day = _next_weekday(day + timedelta(days=1))
        source = filings[i % len(filings)]
        accession = f"9999999999-{day.year % 100:02d}-{i:06d}"
        body = source.body.replace(source.accession.encode(), accession.encode())
        old_day, new_day = f"{source.filing_date:%Y%m%d}".encode(), f"{day:%Y%m%d}".encode()
        body = body.replace(b": " + old_day, b": " + new_day)
        body = body.replace(b"FILED AS OF DATE:\t\t" + old_day, b"FILED AS OF DATE:\t\t" + new_day)
        body = re.sub(rb"<ACCEPTANCE-DATETIME>\d{8}", b"<ACCEPTANCE-DATETIME>" + new_day, body, count=1)
        copies.append(replace(source, accession=accession, filing_date=day, body=body))
    return copies


# -- index files -------------------------------------------------------------------------------------


def _index_rows(filings: Iterable[ReplayFiling]) -> Iterator[tuple[str, str, int, date, str]]:
    for filing in filings:
        for cik, name in filing.ciks:
            yield filing.form_type, name, cik, filing.filing_date, f"edgar/data/{cik}/{filing.accession}.txt"


def form_index(filings: Iterable[ReplayFiling], *, daily: bool, last_day: date) -> bytes:
    """A ``form.idx`` (fixed width, sorted by form type, then company) in EDGAR's daily or quarterly form."""
    title = (
        "Daily Index of EDGAR Dissemination Feed by Form Type"
        if daily
        else ("Master Index of EDGAR Dissemination Feed by Form Type")
    )
    lines = [
        f"Description:           {title}",
        f"Last Data Received:    {last_day:%b} {last_day.day}, {last_day.year}",
        "Comments:              webmaster@sec.gov",
        "Anonymous FTP:         ftp://ftp.sec.gov/edgar/",
        " ",
        " ",
        " ",
        " ",
        f"{'Form Type':<12}{'Company Name':<62}{'CIK':<12}{'Date Filed':<12}File Name",
        "-" * 141,
    ]
    for form, name, cik, day, path in sorted(_index_rows(filings), key=lambda r: (r[0], r[1], r[2], r[4])):
        shown = f"{day:%Y%m%d}" if daily else day.isoformat()
        padded_name = name + " " * max(2, 62 - len(name))
        lines.append(f"{form:<12}{padded_name}{cik:<12}{shown:<12}{path}".ljust(150))
    return ("\n".join(lines) + "\n").encode("latin-1", "replace")


def master_index(filings: Iterable[ReplayFiling], *, daily: bool, last_day: date) -> bytes:
    """A ``master.idx`` (pipe-delimited, sorted by CIK) in EDGAR's daily or quarterly form."""
    title = "Daily Index of EDGAR Dissemination Feed" if daily else "Master Index of EDGAR Dissemination Feed"
    lines = [
        f"Description:           {title}",
        f"Last Data Received:    {last_day:%b} {last_day.day:2d}, {last_day.year}",
        "Comments:              webmaster@sec.gov",
        "Anonymous FTP:         ftp://ftp.sec.gov/edgar/",
        " ",
        "CIK|Company Name|Form Type|Date Filed|" + ("File Name" if daily else "Filename"),
        "-" * 80,
    ]
    for form, name, cik, day, path in sorted(_index_rows(filings), key=lambda r: (r[2], r[0], r[4])):
        shown = f"{day:%Y%m%d}" if daily else day.isoformat()
        lines.append(f"{cik}|{name}|{form}|{shown}|{path}")
    return ("\n".join(lines) + "\n").encode("latin-1", "replace")


# -- the server --------------------------------------------------------------------------------------


@dataclass
class FakeEdgar:
    """The fake EDGAR. Every weekday up to ``today`` (default: the last filing day) has a daily index and
    every quarter since 1993 up to it a quarterly one, empty where no filing falls; later ones answer 403
    like EDGAR's not-yet-existing indexes. ``files`` serves other real files at their path (``xbrl.idx``)."""

    filings: list[ReplayFiling]
    frames: dict[tuple[int, int], bytes] = field(default_factory=dict)
    datasets: dict[tuple[int, int], bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    latency: float = 0.0
    gzip: bool = False
    today: date | None = None
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_accession = {f.accession: f for f in self.filings}
        self._by_day: dict[date, list[ReplayFiling]] = defaultdict(list)
        self._by_quarter: dict[tuple[int, int], list[ReplayFiling]] = defaultdict(list)
        for filing in self.filings:
            self._by_day[filing.filing_date].append(filing)
            self._by_quarter[(filing.filing_date.year, quarter_of(filing.filing_date))].append(filing)
        self.today = self.today or max(self._by_day, default=date.today())
        self._faults: list[Fault] = []
        self._cache: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""

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
        ``403-undeclared``, ``408`` (request timeout), ``500``, ``503``, ``404``, ``reset`` (connection
        closed without an answer), ``slow`` (answer after ``delay`` seconds), ``truncate`` (half the
        declared body, then close)."""
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
        return filing.body

    def _daily_index(self, kind: str, day: date) -> bytes | None:
        assert self.today is not None
        if day > self.today or day.weekday() >= 5:
            return None
        build = form_index if kind == "form" else master_index
        return build(self._by_day.get(day, []), daily=True, last_day=day)

    def _quarterly_index(self, kind: str, year: int, quarter: int) -> bytes | None:
        assert self.today is not None
        first = date(year, 3 * quarter - 2, 1)
        if first > self.today or year < 1993:
            return None
        end = min(self.today, date(year + quarter // 4, 3 * quarter % 12 + 1, 1) - timedelta(days=1))
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
        if m := re.fullmatch(r"/Archives/edgar/data/(\d+)/(\d{10}-\d{2}-\d{6})\.txt", path):
            return self._filing_body(int(m.group(1)), m.group(2))
        if m := re.fullmatch(
            r"/Archives/edgar/daily-index/(\d{4})/QTR([1-4])/(form|master)\.(\d{8})\.idx", path
        ):
            day = _iso_date(m.group(4))
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
        body, content_type = self.content(path)
        body = body or b""
        if kind == "slow":
            await asyncio.sleep(fault.delay)
            return web.Response(body=body, content_type=content_type)
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

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (an ephemeral port by default); returns the base URL ``http://127.0.0.1:N/``."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        return self.base_url

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeEdgar:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, port: int = 0) -> str:
        """Serve from a background thread with its own event loop (for a client in another loop)."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start(port))
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-edgar", daemon=True)
        self._thread.start()
        ready.wait(30)
        return self.base_url

    def stop_thread(self) -> None:
        """Stop a server started by :meth:`start_in_thread`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._thread = None


class ReplayProcess:
    """The fake EDGAR in a child process (``python -m engine.replay``), steered over ``/_replay/``.

    Arrival times are then stamped by a process that does nothing else, which is what rate
    accounting needs when the client under test runs on the same machine."""

    def __init__(
        self, filings_dir: Path, *, workdir: Path, latency: float = 0.0, gzip: bool = False, copies: int = 0
    ) -> None:
        port_file = workdir / "replay-url"
        port_file.unlink(missing_ok=True)
        command = (
            [
                sys.executable,
                "-m",
                "engine.replay",
                str(filings_dir),
                "--port-file",
                str(port_file),
                "--latency",
                str(latency),
            ]
            + (["--gzip"] if gzip else [])
            + (["--copies", str(copies)] if copies else [])
        )
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake EDGAR did not start (exit {self.process.poll()})")
            time.sleep(0.05)
        self.base_url = port_file.read_text().strip()

    def _call(self, action: str, **query: object) -> object:
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        with urllib.request.urlopen(f"{self.base_url}_replay/{action}?{params}", timeout=30) as answer:
            return json.loads(answer.read())

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        match: str = "/Archives/edgar/data/",
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """As :meth:`FakeEdgar.inject`, in the child."""
        self._call("inject", kind=kind, times=times, match=match, retry_after=retry_after, delay=delay)

    def hits(self) -> list[Hit]:
        """Every request the child has served."""
        return [Hit(*row) for row in self._call("hits")]  # type: ignore[union-attr]

    def stop(self) -> None:
        """End the child."""
        self.process.terminate()
        self.process.wait(30)


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


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.replay FILINGS_DIR [--port N] [--latency S] [--copies N]``: serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m engine.replay", description=main.__doc__)
    parser.add_argument("filings", type=Path, help="directory of .txt/.xml ownership filings")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--gzip", action="store_true", help="gzip bodies for clients that accept it")
    parser.add_argument("--copies", type=int, default=0, help="serve N synthetic copies instead (volume)")
    parser.add_argument("--port-file", type=Path, help="write the base URL here once listening")
    args = parser.parse_args(argv)
    filings = load_filings(args.filings)
    if args.copies:
        filings = synthetic_copies(filings, args.copies)
    server = FakeEdgar(filings, latency=args.latency, gzip=args.gzip)

    async def run() -> None:
        url = await server.start(args.port)
        if args.port_file:
            args.port_file.write_text(url)
        print(f"fake EDGAR with {len(filings)} filings at {url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
