"""Cold-start benchmark: what a new user waits for, each figure from fresh processes.

    python benchmarks/bench_cold_start.py [--runs 3] [--work DIR]

Measures, as medians of ``--runs`` fresh processes (each with its own empty ``NUMBA_CACHE_DIR`` for a
cold numba cache, or one filled by a previous run for a warm one):

- ``insider --version`` and ``insider --help`` (no numba involved);
- ``insider demo`` with an empty numba cache, then again with the cache the first run filled;
- the first ``engine.score`` call of a process on a small store (the demo's 608 bundled filings,
  ingested once), cold and warm: the call alone, imports and input loading excluded.

``insider`` is run as ``python -m engine`` with this checkout first on ``PYTHONPATH``, from a temporary
working directory. Wall seconds, CPU seconds (user + system of the child; of the call for the score
rows) and the 1-minute load average are printed per row: on a shared machine, CPU is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_SCORE = """
import json, sys, time
import polars as pl
import engine
from engine.cli.demo import PRICES, demo_market_caps
caps = demo_market_caps()
dates = pl.read_parquet(PRICES)["date"]
began, cpu = time.perf_counter(), time.process_time()
engine.score(sys.argv[1], start=dates.min(), end=dates.max(), market_caps=caps)
print(json.dumps({"wall_s": time.perf_counter() - began, "cpu_s": time.process_time() - cpu}))
"""


def environment(numba_cache: Path) -> dict[str, str]:
    """This checkout importable first, and the given numba cache directory."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "NUMBA_CACHE_DIR": str(numba_cache)}


def run(argv: list[str], numba_cache: Path, cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, child CPU seconds and stdout of one fresh process; raises if it fails."""
    before = os.times()
    began = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=environment(numba_cache), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - began
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, done.stdout


def load() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def median_row(label: str, runs: int, once: Callable[[], tuple[float, float]]) -> dict:
    """Median wall and CPU seconds of ``runs`` calls of ``once``, with the load average around them."""
    loads = [load()]
    samples = []
    for _ in range(runs):
        samples.append(once())
        loads.append(load())
    return {
        "what": label,
        "wall_s": statistics.median(s[0] for s in samples),
        "cpu_s": statistics.median(s[1] for s in samples),
        "runs": runs,
        "load": f"{min(loads):.1f}-{max(loads):.1f}",
    }


def small_store(work: Path) -> Path:
    """The demo's bundled filings ingested into a store under ``work`` (once)."""
    from engine.cli.demo import unpack_filings
    from engine.store.datasets import Store
    from engine.store.ingest import ingest

    store = work / "store"
    if not store.exists():
        ingest([unpack_filings(work / "mirror")], Store(store), workers=1)
    return store


def measure(runs: int, work: Path) -> list[dict]:
    """Every row of the table."""
    cli = [sys.executable, "-m", "engine"]
    store = small_store(work)
    warm_cache = work / "numba-warm"

    def fresh() -> Path:
        return Path(tempfile.mkdtemp(prefix="numba-", dir=work))

    def cli_run(*args: str, cache: Callable[[], Path] = fresh) -> Callable[[], tuple[float, float]]:
        return lambda: run([*cli, *args], cache(), work)[:2]

    def demo(cache: Callable[[], Path]) -> Callable[[], tuple[float, float]]:
        return lambda: run([*cli, "demo", "--dir", tempfile.mkdtemp(dir=work)], cache(), work)[:2]

    def first_score(cache: Callable[[], Path]) -> Callable[[], tuple[float, float]]:
        def once() -> tuple[float, float]:
            call = json.loads(run([sys.executable, "-c", FIRST_SCORE, str(store)], cache(), work)[2])
            return call["wall_s"], call["cpu_s"]

        return once

    run([*cli, "demo", "--dir", str(work / "fill")], warm_cache, work)
    return [
        median_row("insider --version", runs, cli_run("--version")),
        median_row("insider --help", runs, cli_run("--help")),
        median_row("insider demo, empty numba cache", runs, demo(fresh)),
        median_row("insider demo, warm numba cache", runs, demo(lambda: warm_cache)),
        median_row("first engine.score call, empty cache (the call)", runs, first_score(fresh)),
        median_row("first engine.score call, warm cache (the call)", runs, first_score(lambda: warm_cache)),
    ]


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    lines = ["| what | wall s (median) | CPU s (median) | runs | load |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['runs']} | {r['load']} |")
    return "\n".join(lines)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per row (median reported)")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a new temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-cold-start-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, work dir {work}")
    print(table(measure(args.runs, work)))


if __name__ == "__main__":
    main()
