"""The fake EDGAR itself: real layout, real index files, deterministic wrapping, each fault, accounting."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date, time
from pathlib import Path

import aiohttp
import pytest

from engine.replay import (
    FakeEdgar,
    Hit,
    ReplayProcess,
    form_index,
    load_filing,
    load_filings,
    master_index,
)
from parsers.index import parse_index
from parsers.submission import split_submission

AGENT = {"User-Agent": "Insider Engine tests tests@example.com", "Accept-Encoding": "gzip, deflate"}


@pytest.fixture(scope="module")
def filings(filings_dir: Path):
    return load_filings(filings_dir)


def test_every_fixture_filing_is_served_with_its_header(filings) -> None:
    assert len(filings) == 608 and len({f.accession for f in filings}) == 608
    for filing in filings:
        submission = split_submission(filing.body)
        assert submission.accession == filing.accession
        assert submission.filing_date == filing.filing_date
        assert submission.accepted_at is not None and submission.xml.lstrip().startswith(
            (b"<?xml", b"<owner")
        )


def test_a_bare_xml_is_wrapped_deterministically(filings_dir: Path) -> None:
    path = filings_dir / "sha1-1cf52bc52259.xml"
    first, second = load_filing(path), load_filing(path)
    assert first == second
    assert first.accession.startswith("9999999998-") and first.form_type == "3"
    submission = split_submission(first.body)
    assert time(6) <= submission.accepted_at.time() < time(22)  # type: ignore[union-attr]
    assert submission.xml == path.read_bytes().strip()
    assert [c for c, _ in first.ciks] == [1640147, 1067983, 315090]


def test_a_real_full_submission_is_served_byte_for_byte(filings_dir: Path) -> None:
    path = filings_dir / "0000038725-20-000011.txt"
    filing = load_filing(path)
    assert filing.body == path.read_bytes()
    assert filing.filing_date == date(2020, 1, 30) and filing.form_type == "5"


def test_index_files_list_the_issuer_and_every_owner(filings) -> None:
    joint = next(f for f in filings if len(f.ciks) >= 5)
    day = joint.filing_date
    same_day = [f for f in filings if f.filing_date == day]
    for build in (form_index, master_index):
        for daily in (True, False):
            table = parse_index(build(same_day, daily=daily, last_day=day), forms=None)
            rows = [r for r in table.to_pylist() if r["accession"] == joint.accession]
            assert sorted(r["cik"] for r in rows) == sorted(c for c, _ in joint.ciks)
            assert {r["date_filed"] for r in rows} == {day}
            assert {r["form_type"] for r in rows} == {joint.form_type}
            assert table.num_rows == sum(len(f.ciks) for f in same_day)
    fixed = form_index(same_day, daily=True, last_day=day).decode().splitlines()
    assert fixed[0].startswith("Description:           Daily Index of EDGAR Dissemination Feed by Form Type")
    assert fixed[9] == "-" * 141 and len(fixed[10]) == 150 and fixed[10][86:94] == f"{day:%Y%m%d}"
    quarterly = form_index(same_day, daily=False, last_day=day).decode().splitlines()
    assert quarterly[10][86:96] == day.isoformat()


def get(server: FakeEdgar, path: str, headers=AGENT):
    async def run():
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            session._retry_connection = False  # see the fault itself, not aiohttp's silent re-send
            async with session.get(server.base_url + path.lstrip("/"), headers=headers) as response:
                return response.status, dict(response.headers), await response.read()

    return run()


def test_paths_follow_edgar_and_missing_ones_answer_like_edgar(filings) -> None:
    joint = next(f for f in filings if len(f.ciks) >= 3)

    async def run():
        async with FakeEdgar(filings) as server:
            answers = {}
            for cik, _ in joint.ciks:
                answers[cik] = await get(server, f"Archives/edgar/data/{cik}/{joint.accession}.txt")
            answers["other cik"] = await get(server, f"Archives/edgar/data/1/{joint.accession}.txt")
            answers["future"] = await get(server, "Archives/edgar/daily-index/2027/QTR1/form.20270104.idx")
            answers["weekend"] = await get(server, "Archives/edgar/daily-index/2020/QTR1/form.20200104.idx")
            answers["empty day"] = await get(server, "Archives/edgar/daily-index/2012/QTR1/form.20120104.idx")
            answers["no agent"] = await get(
                server, "Archives/edgar/full-index/2020/QTR1/form.idx", headers={}
            )
            return answers

    answers = asyncio.run(run())
    for cik, _ in joint.ciks:
        assert answers[cik][0] == 200 and answers[cik][2] == joint.body
    assert answers["other cik"][0] == 404
    assert answers["future"][0] == 403 and answers["weekend"][0] == 403
    assert answers["empty day"][0] == 200 and parse_index(answers["empty day"][2]).num_rows == 0
    assert answers["no agent"][0] == 403 and b"Undeclared Automated Tool" in answers["no agent"][2]


def test_each_fault_looks_like_the_real_thing(filings) -> None:
    path = f"Archives/edgar/data/{filings[0].ciks[0][0]}/{filings[0].accession}.txt"

    async def run():
        async with FakeEdgar(filings[:3], gzip=True) as server:
            seen = {}
            for kind in ("429", "403-rate", "403-undeclared", "500", "503", "404"):
                server.inject(kind, retry_after="7" if kind == "429" else None)
                seen[kind] = await get(server, path)
            for kind in ("reset", "truncate"):
                server.inject(kind)
                try:
                    seen[kind] = await get(server, path)
                except aiohttp.ClientError as exc:
                    seen[kind] = type(exc).__name__
            server.inject("slow", delay=0.3)
            began = asyncio.get_running_loop().time()
            seen["slow"] = (await get(server, path))[0], asyncio.get_running_loop().time() - began
            seen["gzip"] = await get(server, path)
            return server, seen

    server, seen = asyncio.run(run())
    assert seen["429"][0] == 429 and seen["429"][1]["Retry-After"] == "7"
    assert seen["403-rate"][0] == 403 and b"Request Rate Threshold Exceeded" in seen["403-rate"][2]
    assert seen["403-undeclared"][0] == 403 and b"declare your traffic" in seen["403-undeclared"][2]
    assert [seen[k][0] for k in ("500", "503", "404")] == [500, 503, 404]
    assert seen["reset"] in ("ServerDisconnectedError", "ClientOSError")
    assert seen["truncate"] == "ClientPayloadError"
    assert seen["slow"][0] == 200 and seen["slow"][1] >= 0.3
    status, headers, body = seen["gzip"]
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == filings[0].body
    assert [h.fault for h in server.hits][:9] == [
        "429",
        "403-rate",
        "403-undeclared",
        "500",
        "503",
        "404",
        "reset",
        "truncate",
        "slow",
    ]
    assert server.pending_faults == 0


def test_per_second_accounting() -> None:
    server = FakeEdgar([], today=date(2024, 1, 2))
    server.hits.extend(Hit(at, "/x", 200, "a") for at in (0.0, 0.1, 0.5, 0.99, 1.0, 1.05, 2.5))
    assert server.max_in_window(1.0) == 5  # 0.1, 0.5, 0.99, 1.0, 1.05
    assert server.windows_over(4) == 1 and server.windows_over(3) == 3 and server.windows_over(5) == 0
    with pytest.raises(ValueError, match="unknown fault"):
        server.inject("teapot")


def test_the_server_runs_as_its_own_process(filings_dir: Path, tmp_path: Path) -> None:
    import urllib.request

    server = ReplayProcess(filings_dir, workdir=tmp_path)
    try:
        server.inject("503", match="full-index")
        request = urllib.request.Request(
            server.base_url + "Archives/edgar/full-index/2020/QTR1/form.idx",
            headers=AGENT | {"Accept-Encoding": "identity"},
        )
        with pytest.raises(urllib.error.HTTPError, match="503"):
            urllib.request.urlopen(request, timeout=30)
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert parse_index(answer.read()).num_rows > 0
        assert [(h.status, h.fault) for h in server.hits()] == [(503, "503"), (200, None)]
    finally:
        server.stop()
