"""``insider watch`` latency and idle cost against the fake EDGAR's feed (2-core machine, loopback).

A busy hour is replayed time-compressed (``--speed`` scripted seconds per real second): ``--filings``
Form 4s (synthetic copies of the real fixture filings) published evenly from 10:00 to 11:00, after a few
warm-up filings at 09:58. The real command (``python -m engine watch``) runs in its own process at the
SEC's 10 requests/s, polling every ``--interval`` seconds, over a store that already holds a synthetic
universe (``benchmarks/synthetic_universe.py``: ``--issuers`` issuers x ``--years`` years), with every
new filing raising a ``filing`` event. Measured:

1. Latency from a filing's publication in the replay to its event written (the event's ``emitted_at``),
   p50 / p95 / max over the busy hour (target: p95 under the poll interval + 2 s).
2. Requests: feed pages per poll, requests per filing, and the rate budget's busiest second.
3. Idle: after the hour, ``--idle`` seconds without filings: requests per poll (target 1) and the
   watcher's CPU (user + system, from /proc) per poll and as a share of one core.

Run: ``python benchmarks/bench_watch.py [--filings 360] [--speed 60] [--interval 1] [--idle 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FILINGS = ROOT / "tests" / "fixtures" / "filings"
AGENT = "insider-engine benchmark bench@example.com"
DAY = date(2030, 1, 2)
WARM_UP = 5
FEED = "/cgi-bin/browse-edgar"


def base_store(directory: Path, issuers: int, years: int) -> Path:
    """A store holding a synthetic universe that ends the day before the busy hour; its market caps."""
    from synthetic_universe import generate, write

    tables, caps = generate(issuers, years, first_year=DAY.year - years, seed=0)
    write(directory, tables, caps)
    return directory / "market_caps.parquet"


def busy_hour(count: int) -> list:
    """Warm-up filings at 09:58, then ``count`` Form 4s from 10:00 to 11:00."""
    from engine.replay import Publication, evenly, load_filings, restamp, synthetic_copies

    fours = [f for f in load_filings(FILINGS) if f.form_type in ("4", "4/A")]
    times = evenly(datetime(2030, 1, 2, 9, 58), WARM_UP, 60) + evenly(datetime(2030, 1, 2, 10), count, 3600)
    publications = []
    for number, moment in enumerate(times):
        (copy,) = synthetic_copies([fours[number % len(fours)]], 1, start=DAY, first=number)
        publications.append(Publication(moment, restamp(copy, moment)))
    return publications


def all_caps(store_caps: Path, publications: list, out: Path) -> Path:
    """The universe's market caps plus 5 bn for every replayed issuer (so their trades are scored)."""
    issuers = sorted({p.filing.ciks[0][0] for p in publications})
    replayed = pl.DataFrame(
        {
            "date": [DAY - timedelta(days=1)] * len(issuers),
            "issuer_cik": issuers,
            "market_cap": [5e9] * len(issuers),
        }
    )
    caps = pl.read_parquet(store_caps).select("date", "issuer_cik", "market_cap")
    pl.concat([caps, replayed.cast(caps.schema)]).write_parquet(out)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> dict:
    from engine.replay import CurrentFeed, FakeEdgar, ReplayClock, max_in_window

    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    began = time.perf_counter()
    store_caps = base_store(work / "store", args.issuers, args.years)
    setup = time.perf_counter() - began
    publications = busy_hour(args.filings)
    caps = all_caps(store_caps, publications, work / "caps.parquet")
    (work / "rules.toml").write_text("[filing]\nenabled = true\n")
    clock = ReplayClock(datetime(2030, 1, 2, 9, 57), speed=0)
    server = FakeEdgar([], feed=CurrentFeed(publications, clock), today=DAY)
    base_url = server.start_in_thread()
    events = work / "events.jsonl"
    command = [
        sys.executable, "-m", "engine", "watch", "--store", str(work / "store"), "--base-url", base_url,
        "--data-base-url", base_url, "--user-agent", AGENT, "--rate", "10", "--interval", str(args.interval),
        "--night-interval", str(args.interval), "--market-caps", str(caps),
        "--rules", str(work / "rules.toml"), "--events", str(events), "--quiet",
    ]  # fmt: skip
    watcher = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while not [h for h in server.hits if h.path == FEED]:  # started: imports done, first poll sent
            time.sleep(0.05)
        time.sleep(2 * args.interval)
        clock.speed = args.speed
        clock.move_to(datetime(2030, 1, 2, 9, 58))
        end = clock.wall_time(datetime(2030, 1, 2, 11, 0))
        while time.time() < end + 4 * args.interval + 10 and _count(events) < len(publications):
            time.sleep(0.2)
        busy_hits = list(server.hits)
        idle_start, idle_cpu, idle_hits = time.time(), cpu_seconds(watcher.pid), len(server.hits)
        time.sleep(args.idle)
        idle_cpu = cpu_seconds(watcher.pid) - idle_cpu
        idle_requests = len(server.hits) - idle_hits
        idle_seconds = time.time() - idle_start
        watcher.send_signal(signal.SIGTERM)
        exit_code = watcher.wait(60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
        server.stop_thread()
    lines = events.read_text().splitlines()
    shutil.rmtree(work, ignore_errors=True)
    emitted = {}
    for line in lines:
        event = json.loads(line)
        if event["rule"] == "filing":
            emitted[event["trigger_accessions"][0]] = datetime.fromisoformat(event["emitted_at"]).timestamp()
    measured = publications[WARM_UP:]
    latency = np.array(
        [
            emitted[p.filing.accession] - clock.wall_time(p.at)
            for p in measured
            if p.filing.accession in emitted
        ]
    )
    warm = [
        emitted[p.filing.accession] - clock.wall_time(p.at)
        for p in publications[:WARM_UP]
        if p.filing.accession in emitted
    ]
    feed_hits = [h for h in busy_hits if h.path == FEED]
    polls_idle = idle_seconds / args.interval
    return {
        "filings": len(measured),
        "events": int(latency.size),
        "store_setup_seconds": round(setup, 1),
        "latency_p50": round(float(np.percentile(latency, 50)), 3),
        "latency_p95": round(float(np.percentile(latency, 95)), 3),
        "latency_max": round(float(latency.max()), 3),
        "first_warm_up_latency": round(warm[0], 3) if warm else None,
        "target_p95": args.interval + 2.0,
        "busy_feed_requests": len(feed_hits),
        "busy_filing_requests": sum(1 for h in busy_hits if "/Archives/edgar/data/" in h.path),
        "busy_max_requests_in_one_second_as_stamped_in_process": max_in_window(busy_hits, 1.0),
        "idle_seconds": round(idle_seconds, 1),
        "idle_requests": idle_requests,
        "idle_requests_per_poll": round(idle_requests / polls_idle, 2),
        "idle_cpu_seconds_per_poll": round(idle_cpu / polls_idle, 4),
        "idle_cpu_share_of_a_core": round(idle_cpu / idle_seconds, 4),
        "watch_exit_code_after_sigterm": exit_code,
    }


def _count(path: Path) -> int:
    """Filing events written so far."""
    return sum('"rule": "filing"' in line for line in path.open()) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=360, help="Form 4s in the busy hour (default 360)")
    parser.add_argument("--speed", type=float, default=60.0, help="scripted seconds per real second (60)")
    parser.add_argument("--interval", type=float, default=1.0, help="watch poll interval, seconds (1)")
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured after the hour (30)")
    parser.add_argument("--issuers", type=int, default=2000, help="issuers of the store's universe (2000)")
    parser.add_argument("--years", type=int, default=2, help="years of the store's universe (2)")
    result = run(parser.parse_args())
    print(json.dumps(result, indent=1))
    if result["events"] != result["filings"]:
        raise SystemExit(f"{result['filings'] - result['events']} filing(s) raised no event")
    hourly = 3600 / 10, 3600 / 120
    print(
        f"idle cost at the defaults (10 s in filing hours, 120 s at night), one request a poll: "
        f"{hourly[0]:.0f} requests/hour in filing hours, {hourly[1]:.0f}/hour at night"
    )


if __name__ == "__main__":
    main()
