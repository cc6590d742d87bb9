"""Peak memory of ``insider update`` against a synthetic store of millions of filings (target: under 300 MB
at 6M filings, and flat in the store's size).

A store is built once per size into ``--work``: ``synthetic_universe.py``'s 7,000 issuers, one year per
batch (as ``insider backfill`` writes a quarter's data set) up to three business days ago, every year's
accessions made distinct, and a manifest recording every filing as daily runs leave it (a part a day,
folded once over 64 parts; the last 65 days left for the measured update to fold: its "fold day", the
worst; on an "other day" they are folded before the update runs). The fake EDGAR (in this process,
127.0.0.1) then serves ``--day`` new filings on the days since, and the real command runs in a child
process on a hard-linked copy of the store: ``insider update --store COPY --base-url LOCAL``. Its peak
RSS is the high-water mark of the child's own address space, read as it exits. ``--compare-with DIR``
runs the same command with another source tree (e.g. a checkout of main) on its own copy, alternating,
for an A/B on the same store and load.

    python benchmarks/bench_update_memory.py [--years 1,17] [--day 1300] [--repeats 2] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from synthetic_universe import generate, store_tables  # noqa: E402

from engine.edgar.calendar import today_in_new_york  # noqa: E402
from engine.replay import FakeEdgar, load_filings, synthetic_copies  # noqa: E402
from engine.store.datasets import LOCK, Store  # noqa: E402
from engine.store.manifest import Manifest, ManifestRecord  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "filings"
AGENT = "insider-engine benchmark bench@example.com"
ISSUERS = 7_000


def business_days_before(day: date, count: int) -> date:
    while count:
        day -= timedelta(days=1)
        count -= day.weekday() < 5
    return day


def year_tables(year: int, last_day: date) -> dict[str, pl.DataFrame]:
    """One synthetic year of the 7,000-issuer universe, accessions unique to the year, none after
    ``last_day``."""
    tables, _ = generate(ISSUERS, 1, first_year=year, seed=year)
    prefix = f"{10_000_000 + year % 10_000:08d}"
    keep = tables["filings"].filter(pl.col("filing_date") <= last_day).select("accession")
    return {
        name: frame.join(keep, on="accession", how="semi").with_columns(
            pl.col("accession").str.replace("^00012345", prefix)
        )
        for name, frame in tables.items()
    }


def build(directory: Path, years: int, last_day: date, manifest_days: int | None) -> int:
    """The store of ``years`` years up to ``last_day`` (once); its number of filings.

    Its manifest records the last ``manifest_days`` days (every day when None) as daily runs leave it:
    a part a day, folded once more than 64 parts pile up, except over the last 65 days, so that the
    measured update folds them (the fold day is the worst)."""
    done = directory / "built"
    if done.exists():
        return int(done.read_text())
    shutil.rmtree(directory, ignore_errors=True)
    store = Store(directory / "store", compact_threshold=0)
    first = date.min if manifest_days is None else business_days_before(last_day, manifest_days - 1)
    filings = 0
    for year in range(last_day.year - years + 1, last_day.year + 1):
        began = time.perf_counter()
        tables = year_tables(year, last_day)
        store.write(store_tables(tables))
        recent = tables["filings"].filter(pl.col("filing_date") >= first)
        for (day,), rows in sorted(recent.group_by("filing_date"), key=lambda group: group[0]):
            keys = rows.select("accession", "issuer_cik", "document_type").iter_rows()
            Manifest(store).append(ManifestRecord(a, cik, form, day, "stored") for a, cik, form in keys)
            if day < business_days_before(last_day, 65):
                Manifest(store).compact()
        filings += tables["filings"].height
        seconds = time.perf_counter() - began
        print(f"  {year}: {tables['filings'].height:,} filings written in {seconds:.1f} s", flush=True)
    done.write_text(str(filings))
    return filings


def clone(source: Path, target: Path) -> Path:
    """A copy of a store whose data files are hard links (a write replaces files, never edits them)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, copy_function=os.link)
    (target / LOCK).unlink(missing_ok=True)
    shutil.copy(source / LOCK, target / LOCK)
    return target


PEAK_AT_EXIT = (
    "import atexit, re, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('peak_kb', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "from engine.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
"""``insider`` that prints its peak resident memory at exit: the high-water mark of its own address
space (``VmHWM``), which unlike ``ru_maxrss`` does not count the parent it was forked from."""


def update(code: Path, store: Path, base_url: str) -> dict:
    """``insider update`` in a child process with ``code`` first on its path: peak RSS, wall, output."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    argv = [sys.executable, "-c", PEAK_AT_EXIT, "update", "--store", str(store), "--user-agent", AGENT]
    argv += ["--base-url", base_url, "--data-base-url", base_url, "--rate", "1000", "--quiet"]
    began = time.perf_counter()
    run = subprocess.run(argv, env=env, cwd=code, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"insider update failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    peak_kb = int(run.stderr.rsplit("peak_kb ", 1)[1].split()[0])
    stored = next((line for line in run.stdout.splitlines() if "stored" in line), run.stdout.strip())
    return {
        "peak_mb": peak_kb / 1024,
        "seconds": time.perf_counter() - began,
        "load": os.getloadavg()[0],
        "summary": stored.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/insider_bench_update"))
    parser.add_argument("--years", default="1,17", help="store sizes in years of 7,000 issuers (~351k/year)")
    parser.add_argument("--day", type=int, default=1_300, help="new filings the update fetches")
    parser.add_argument(
        "--manifest-days", type=int, help="daily runs the manifest records (default: every day of the store)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compare-with", type=Path, help="another source tree to run the same update with")
    args = parser.parse_args()
    today = today_in_new_york()
    last_day = business_days_before(today, 3)
    trees = {"this tree": ROOT} | ({"compared": args.compare_with.resolve()} if args.compare_with else {})
    copies = synthetic_copies(load_filings(FIXTURES), args.day, start=last_day + timedelta(days=1))
    edgar = FakeEdgar(copies, today=today)
    base_url = edgar.start_in_thread()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (shared); today {today}, stores end "
        f"{last_day}; the update fetches {len(copies):,} filings filed {copies[0].filing_date}.."
        f"{copies[-1].filing_date}"
    )
    try:
        for years in (int(y) for y in args.years.split(",")):
            directory = args.work / f"{years}y-{args.manifest_days or 'all'}"
            recorded = f"the last {args.manifest_days} days" if args.manifest_days else "every day"
            print(f"store of {years} years, its manifest recording {recorded}:", flush=True)
            filings = build(directory, years, last_day, args.manifest_days)
            for _ in range(args.repeats):
                for day in ("fold day", "other day"):
                    for label, code in trees.items():
                        store = clone(directory / "store", args.work / "run")
                        if day == "other day":
                            Manifest(Store(store, compact_threshold=0)).compact(threshold=0)
                        result = update(code, store, base_url)
                        peak, seconds = result["peak_mb"], result["seconds"]
                        print(
                            f"  {filings:>10,} filings  {day:<9}  {label:<10} peak RSS {peak:6.0f} MB  "
                            f"{seconds:5.1f} s  load {result['load']:4.1f}  [{result['summary']}]",
                            flush=True,
                        )
                        shutil.rmtree(store)
    finally:
        edgar.stop_thread()


if __name__ == "__main__":
    main()
