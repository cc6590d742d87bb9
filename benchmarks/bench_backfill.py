"""Data-set backfill benchmark: one quarter of the SEC Insider Transactions Data Set into a store.

A synthetic ``form345`` zip with the SEC's real column layout (``engine.testing.form345``) of about
60,000 filings and 150,000 transaction rows, the size of a real quarter, is parsed and written to a
fresh store. Target: under 10 s on this 2-core machine. The baseline, run in the same process, is only
reading the zip's tables into all-string frames.

Run: ``python benchmarks/bench_backfill.py [--filings 60000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from engine.edgar.backfill import ingest_dataset
from engine.store.datasets import Store
from engine.testing.form345 import synthetic_dataset
from parsers.form345_dataset import read_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--filings", type=int, default=60_000, help="submissions in the quarter (default 60000)"
    )
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other jobs share it), "
        f"Python {sys.version.split()[0]}"
    )
    began = time.perf_counter()
    data = synthetic_dataset(args.filings, year=2024, quarter=3, seed=1)
    print(
        f"synthetic 2024q3_form345.zip: {len(data) / 1e6:.1f} MB, "
        f"built in {time.perf_counter() - began:.1f} s "
        "(not timed below)"
    )

    began = time.perf_counter()
    frames, _ = read_tables(data, source="2024q3_form345.zip")
    baseline = time.perf_counter() - began
    rows = {name: frame.height for name, frame in frames.items()}
    print(f"[baseline] read the 8 tables only: {baseline:.2f} s ({rows})")

    with tempfile.TemporaryDirectory() as work:
        store = Store(Path(work) / "store")
        began = time.perf_counter()
        result = ingest_dataset(store, data, source="2024q3_form345.zip")
        seconds = time.perf_counter() - began
        assert result.error is None, result.error
    print(
        f"[backfill] parse + write one quarter: {seconds:.2f} s "
        f"(target < 10 s; {seconds / baseline:.1f}x the "
        f"read-only baseline): {result.filings} filings, {result.rows['transactions']} transaction rows, "
        f"{result.rows['owners']} owners, {result.rows['footnotes']} footnotes"
    )


if __name__ == "__main__":
    main()
