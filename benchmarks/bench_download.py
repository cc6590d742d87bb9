"""Downloader benchmarks against the fake EDGAR running in its own process (2-core machine).

1. Politeness: 10 requests/s limit, 50 ms server latency. Sustained rate seen by the server
   (target >= 9.5/s) and one-second windows holding more than 10 requests (target 0).
2. Throughput: no rate limit, loopback. End-to-end filings/s (discover + download + parse + write
   the store), target >= 1,000/s, against a baseline of the same fetches without parsing or writing.
3. Memory: peak RSS of the whole run at two sizes (each in a fresh process): flat, not growing with N.

Run: ``python benchmarks/bench_download.py [--polite N] [--sizes 5000 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILINGS = ROOT / "tests" / "fixtures" / "filings"
AGENT = "insider-engine benchmark bench@example.com"
FAR_FUTURE = date(2031, 1, 1)


def polite(n_filings: int) -> dict[str, float]:
    """Download ``n_filings`` fixture filings at 10/s from a server answering after 50 ms."""
    from engine.edgar.discovery import Target
    from engine.edgar.download import Downloader
    from engine.edgar.http import EdgarClient
    from engine.edgar.urls import EdgarUrls
    from engine.replay import ReplayProcess, load_filings, max_in_window, windows_over
    from engine.store.datasets import Store

    filings = load_filings(FILINGS)[:n_filings]
    targets = sorted(
        Target(f.filing_date, f.accession, min(c for c, _ in f.ciks), f.form_type) for f in filings
    )
    with tempfile.TemporaryDirectory() as work:
        server = ReplayProcess(FILINGS, workdir=Path(work), latency=0.05)
        try:

            async def run() -> None:
                urls = EdgarUrls(server.base_url, server.base_url)
                async with EdgarClient(AGENT, rate=10) as client:
                    report = await Downloader(Store(Path(work) / "store"), client, urls).run(targets)
                    assert report.complete, report.summary()

            asyncio.run(run())
            hits = server.hits()
        finally:
            server.stop()
    times = sorted(h.at for h in hits)
    steady = [t for t in times if t >= times[0] + 1.0]
    return {
        "requests": len(times),
        "seconds": times[-1] - times[0],
        "rate": (len(times) - 1) / (times[-1] - times[0]),
        "steady_rate": (len(steady) - 1) / (steady[-1] - steady[0]),
        "max_in_any_second": max_in_window(hits, 1.0),
        "windows_over_10": windows_over(hits, 10),
    }


def throughput(n_filings: int, *, parse: bool) -> dict[str, float]:
    """Unlimited-rate run over ``n_filings`` synthetic copies of real filings; in this process."""
    from engine.edgar.download import download_range
    from engine.edgar.http import EdgarClient
    from engine.edgar.urls import EdgarUrls
    from engine.replay import ReplayProcess
    from engine.store.datasets import Store

    with tempfile.TemporaryDirectory() as work:
        server = ReplayProcess(FILINGS, workdir=Path(work), copies=n_filings)
        try:
            urls = EdgarUrls(server.base_url, server.base_url)

            async def fetch_only() -> int:
                from engine.edgar.discovery import discover

                async with EdgarClient(AGENT, rate=None, connections=32) as client:
                    found = await discover(
                        client, urls, date(2030, 1, 1), date(2030, 3, 31), today=FAR_FUTURE
                    )
                    queue = list(found.targets)

                    async def worker() -> None:
                        while queue:
                            target = queue.pop()
                            await client.get(urls.filing(target.cik, target.accession))

                    await asyncio.gather(*(worker() for _ in range(32)))
                    return len(found.targets)

            async def end_to_end() -> int:
                async with EdgarClient(AGENT, rate=None, connections=32) as client:
                    report = await download_range(
                        Store(Path(work) / "store"),
                        client,
                        urls,
                        date(2030, 1, 1),
                        date(2030, 3, 31),
                        today=FAR_FUTURE,
                        workers=32,
                        batch_size=2000,
                    )
                    assert report.complete, report.summary()
                    return report.stored

            began = time.perf_counter()
            count = asyncio.run(end_to_end() if parse else fetch_only())
            seconds = time.perf_counter() - began
        finally:
            server.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"filings": count, "seconds": seconds, "per_second": count / seconds, "peak_rss_mb": peak_mb}


def child(n_filings: int, parse: bool) -> dict[str, float]:
    """Run one throughput case in a fresh interpreter, so its peak RSS is its own."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(n_filings), "--parse" if parse else "--fetch-only"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polite", type=int, default=150, help="filings in the 10/s run (default 150)")
    parser.add_argument("--sizes", type=int, nargs=2, default=[5000, 20000], help="two sizes for memory")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parse", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fetch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(throughput(args.child, parse=args.parse)))
        return

    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other jobs share it), "
        f"Python {sys.version.split()[0]}; fake EDGAR in its own process"
    )
    result = polite(args.polite)
    print(
        f"[polite] 10 req/s limit, 50 ms latency: {result['requests']} requests in {result['seconds']:.1f} s "
        f"= {result['rate']:.2f} req/s overall, {result['steady_rate']:.2f} req/s after the first second "
        f"(target >= 9.5); max in any 1 s window "
        f"{result['max_in_any_second']}; windows over 10: {result['windows_over_10']} (target 0)"
    )
    small, large = args.sizes
    baseline = child(large, parse=False)
    runs = {n: child(n, parse=True) for n in (small, large)}
    print(f"[baseline] fetch only, no parse/write, {large} filings: {baseline['per_second']:.0f} filings/s")
    for n, run in runs.items():
        print(
            f"[end-to-end] {n} filings: {run['seconds']:.1f} s = {run['per_second']:.0f} filings/s "
            f"(download + parse + write; target >= 1000/s; {run['per_second'] / baseline['per_second']:.2f}x "
            f"the fetch-only baseline); peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    print(
        f"[load] average over the last minute at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    growth = runs[large]["peak_rss_mb"] / runs[small]["peak_rss_mb"]
    print(f"[memory] peak RSS {large} vs {small} filings: {growth:.2f}x for {large / small:.0f}x the filings")


if __name__ == "__main__":
    main()
