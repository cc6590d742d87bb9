"""The store after years of daily use: bench_score's synthetic universe written the way a daily user
writes it, then read by the score, without and with compaction, against one file per partition.

The universe (``synthetic_universe.py``: 7,000 issuers x 20 years by default) is cut at the last
``--days`` business days. Everything before is written as a backfill, one batch per calendar quarter
(as ``insider backfill`` writes a quarter's data set); every later business day is one batch (a day's
filings, as ``insider update`` writes them; weekend amendments go with the Monday), through the real
``Store.write``, into two stores at once, batch by batch in the same process: one that never compacts
(``compact_threshold=0``) and one with automatic compaction (``--threshold``, default the store's). A
copy of the first is then compacted with ``Store.compact`` (``insider compact``), and a fourth store gets
the same rows in one batch per year: one file per partition, the layout one batch writes.

Reported: files and bytes per table, write time per daily batch (median, 90th percentile, max, days
over 1 s), compaction time, then in a fresh process the full daily ``score`` panel and one
``score_asof`` cross-section on each store, interleaved over ``--repeats`` rounds (medians, and the
ratio to the one-file store), and ``score --append`` of the last day if the CLI has it.

    python benchmarks/bench_store_growth.py [--issuers 7000] [--years 20] [--days 520] [--repeats 3]
    python benchmarks/bench_store_growth.py --issuers 700 --years 3 --days 60 --repeats 1   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from synthetic_universe import generate, store_tables  # noqa: E402

from engine.store.compaction import DEFAULT_THRESHOLD  # noqa: E402
from engine.store.datasets import Store  # noqa: E402
from parsers.schema import STORE_TABLES  # noqa: E402

TABLES = ("filings", "owners", "transactions", "footnotes")
FIRST_YEAR = 2005
STORES = {
    "one": "one file per partition",
    "daily": "daily, never compacted",
    "auto": "daily, automatic compaction",
    "compacted": "daily, then insider compact",
}


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


Batch = dict[str, pa.Table]


def batches(issuers: int, years: int, days: int) -> tuple[list[Batch], list[Batch], pl.DataFrame]:
    """The universe as backfill batches (one per quarter) and daily batches (one per business day), in
    order, as ``Store.write`` takes them; and the market caps."""
    tables, caps = generate(issuers, years, first_year=FIRST_YEAR)
    filed = pl.col("filing_date")
    weekday = filed.dt.weekday()  # Monday 1 .. Sunday 7
    day = pl.when(weekday > 5).then(filed + pl.duration(days=8 - weekday)).otherwise(filed)
    keys = tables["filings"].select("accession", day.alias("day"))
    cut = keys["day"].unique().sort()[-days]
    quarter = (pl.col("day").dt.year() * 10 + pl.col("day").dt.quarter()).cast(pl.Int32)
    keys = keys.with_columns(
        batch=pl.when(pl.col("day") < cut).then(-quarter).otherwise(pl.col("day").cast(pl.Int32))
    )
    parts = {}
    for name in TABLES:
        frame = tables.pop(name).join(keys.select("accession", "batch"), on="accession")
        parts[name] = frame.partition_by("batch", as_dict=True, include_key=False)
    empty = {name: pl.DataFrame(schema=pl.Schema(STORE_TABLES[name])) for name in TABLES}
    backfill, daily = [], []
    for key in sorted(keys["batch"].unique(), key=lambda key: (key >= 0, abs(key))):
        batch = store_tables({name: parts[name].pop((key,), empty[name]) for name in TABLES})
        (daily if key >= 0 else backfill).append(batch)
    return backfill, daily, caps


def write_stores(work: Path, backfill: list[Batch], daily: list[Batch], threshold: int) -> dict:
    """Write the batches into the stores; write times per daily batch and what compaction did."""
    roots = {name: work / name for name in STORES}
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)
    stores = {
        "daily": Store(roots["daily"], compact_threshold=0),
        "auto": Store(roots["auto"], compact_threshold=threshold),
    }
    began = time.perf_counter()
    for batch in backfill:
        for store in stores.values():
            store.write(batch)
    print(
        f"backfill: {len(backfill)} quarterly batches into 2 stores in {time.perf_counter() - began:.0f} s "
        f"(load {load()})"
    )
    seconds: dict[str, list[float]] = {"daily": [], "auto": []}
    compacting: list[float] = []
    for i, batch in enumerate(daily):
        for name in ("daily", "auto") if i % 2 else ("auto", "daily"):
            began = time.perf_counter()
            result = stores[name].write(batch)
            seconds[name].append(time.perf_counter() - began)
            if name == "auto" and result.compacted:
                compacting.append(seconds[name][-1])
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} daily batches written (load {load()})", flush=True)
    one = Store(roots["one"], compact_threshold=0)
    every = {name: pa.concat_tables([batch[name] for batch in backfill + daily]) for name in TABLES}
    for year in pc.unique(every["filings"].column("filing_year")).to_pylist():
        one.write(
            {name: table.filter(pc.equal(table.column("filing_year"), year)) for name, table in every.items()}
        )
    shutil.copytree(roots["daily"], roots["compacted"])
    began = time.perf_counter()
    report = Store(roots["compacted"]).compact()
    return {
        "seconds": seconds,
        "compacting": compacting,
        "compact_s": time.perf_counter() - began,
        "compact_report": report.lines(),
    }


def describe_writes(label: str, seconds: list[float], rows: list[int]) -> str:
    ordered = sorted(seconds)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (
        f"{label:<28} median {statistics.median(seconds) * 1000:6.0f} ms, p90 {p90 * 1000:6.0f} ms, max "
        f"{max(seconds) * 1000:6.0f} ms, days over 1 s: {sum(s > 1 for s in seconds)} of {len(seconds)} "
        f"({statistics.mean(rows):,.0f} rows a day)"
    )


def measure(work: Path, years: int, repeats: int) -> dict:
    """In this (fresh) process: panel and as-of on every store, interleaved, ``repeats`` rounds."""
    from bench_score import tables_of, warm_up

    from engine.scoring.market_caps import load_market_caps
    from engine.scoring.run import score_asof, score_run

    caps = load_market_caps(work / "market_caps.parquet")
    warm_up()
    start, end = f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + years - 1}-12-31"
    panel: dict[str, list[float]] = {name: [] for name in STORES}
    asof: dict[str, list[float]] = {name: [] for name in STORES}
    rows: dict[str, int] = {}
    loads = []
    for _ in range(repeats):
        for name in STORES:
            began = time.perf_counter()
            run = score_run(tables_of(work / name), start, end, market_caps=caps)
            panel[name].append(time.perf_counter() - began)
            rows[name] = run.frame.height
            del run
            for _ in range(3):
                began = time.perf_counter()
                score_asof(tables_of(work / name), end, market_caps=caps)
                asof[name].append(time.perf_counter() - began)
            loads.append(os.getloadavg()[0])
    return {"panel": panel, "asof": asof, "rows": rows, "loads": loads}


def append_one_day(work: Path, years: int) -> str:
    """``insider score --append`` of the last day onto a panel of the days before, if the CLI has it."""
    helps = subprocess.run(
        [sys.executable, "-m", "engine", "score", "--help"], capture_output=True, text=True
    )
    if "--append" not in helps.stdout:
        return (
            "score --append: not in this tree's CLI (issue 12 item 3, built on branch i12score); not measured"
        )
    end = dt.date(FIRST_YEAR + years - 1, 12, 31)
    out = work / "panel.parquet"
    common = ["--store", str(work / "auto"), "--start", f"{FIRST_YEAR}-01-01"]
    common += ["--market-caps", str(work / "market_caps.parquet"), "--out", str(out)]
    first = [sys.executable, "-m", "engine", "score", *common, "--end", str(end - dt.timedelta(days=1))]
    subprocess.run(first, check=True, capture_output=True)
    began = time.perf_counter()
    subprocess.run([*first[:-1], str(end), "--append"], check=True, capture_output=True)
    return (
        f"score --append of {end} onto the panel to the day before: {time.perf_counter() - began:.2f} s "
        f"wall (a new process, imports included; load {load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/insider_bench_growth"))
    parser.add_argument("--issuers", type=int, default=7_000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--days", type=int, default=520, help="business days written one batch each")
    parser.add_argument(
        "--threshold", type=int, default=DEFAULT_THRESHOLD, help="automatic compaction threshold"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.work, args.years, args.repeats)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} cores, load {load()} at start (shared); {args.issuers:,} issuers x "
        f"{args.years} years, the last {args.days} business days daily, threshold {args.threshold}"
    )
    began = time.perf_counter()
    backfill, daily, caps = batches(args.issuers, args.years, args.days)
    caps.write_parquet(args.work / "market_caps.parquet")
    day_rows = [sum(table.num_rows for table in batch.values()) for batch in daily]
    day_filings = [batch["filings"].num_rows for batch in daily]
    print(
        f"universe cut in {time.perf_counter() - began:.0f} s: {len(backfill)} backfill batches, "
        f"{len(daily)} daily batches of {statistics.mean(day_filings):,.0f} filings a day"
    )
    writes = write_stores(args.work, backfill, daily, args.threshold)
    del backfill, daily
    print(describe_writes("daily, never compacted:", writes["seconds"]["daily"], day_rows))
    print(describe_writes("daily, automatic compaction:", writes["seconds"]["auto"], day_rows))
    compacting = writes["compacting"]
    if compacting:
        print(
            f"  the {len(compacting)} writes that compacted: median "
            f"{statistics.median(compacting) * 1000:.0f} ms, max {max(compacting) * 1000:.0f} ms"
        )
    print(f"insider compact of the never-compacted store: {writes['compact_s']:.1f} s (load {load()})")
    for line in writes["compact_report"]:
        print(f"  {line}")
    print(
        f"\n{'store':<30} {'table':<13} {'files':>7} {'MB':>8} {'partitions':>10} {'most files in one':>18}"
    )
    for name, label in STORES.items():
        for table, held in Store(args.work / name, compact_threshold=0).footprint().items():
            if held.files:
                print(
                    f"{label:<30} {table:<13} {held.files:>7,} {held.bytes / 1e6:>8.1f} "
                    f"{held.partitions:>10} {held.most:>18}"
                )
    print(f"\nreads in a fresh process, {args.repeats} rounds interleaved (load {load()}):", flush=True)
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            "--work",
            str(args.work),
            "--years",
            str(args.years),
            "--repeats",
            str(args.repeats),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    reads = json.loads(child.stdout.strip().splitlines()[-1])
    base_panel, base_asof = statistics.median(reads["panel"]["one"]), statistics.median(reads["asof"]["one"])
    for name, label in STORES.items():
        panel, asof = statistics.median(reads["panel"][name]), statistics.median(reads["asof"][name])
        print(
            f"{label:<30} panel {panel:6.2f} s ({panel / base_panel:4.2f}x)  as-of {asof:6.3f} s "
            f"({asof / base_asof:4.2f}x)  cells {reads['rows'][name]:,}"
        )
    print(f"load during reads: {min(reads['loads']):.1f}-{max(reads['loads']):.1f}")
    print(append_one_day(args.work, args.years))
    print(f"load at end {load()}")


if __name__ == "__main__":
    main()
