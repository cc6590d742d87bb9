"""Parse speed over the 608 real fixture filings: filings per second on one core, against bare lxml.

Run: ``python benchmarks/bench_parse.py [--repeat 15] [--rounds 1]``. Every filing is read into memory
first; each variant then runs over all of them ``--rounds`` times per timing, and the best of
``--repeat`` timings is kept (short timings, many of them: the best one is the least disturbed by
other work on a shared machine). Each variant's timings alternate with the floor's, and its ratio is
taken against the floor measured alongside it. Both the process CPU time (per-core throughput, little
affected by other processes) and the wall time are shown; the store's disk waits count only in the
latter. Variants:

- ``lxml floor``: ``lxml.etree.fromstring`` of each filing's XML bytes (already split out of its SGML
  wrapper), default parser: the floor any lxml-based parser stands on.
- ``parse to Arrow``: ``TableBuilder.add`` of the raw file bytes (SGML split, hardened parse, decode,
  roles, plan flag, availability) and ``build()`` to the five Arrow tables.
- ``parse + store``: the same, then ``engine.store.datasets.Store.write`` to a fresh temp directory.
- ``edgartools``: ``edgar.ownership.Ownership.from_xml`` when edgartools is installed, with its
  per-owner ``Entity`` lookup (an HTTP call to the SEC) replaced by an offline stub and sockets
  disabled, so that only its parsing is timed.

Target (issue 2): >= 5,000 filings/s per core for parse to Arrow, within 3x of the lxml floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lxml
import pyarrow as pa
from lxml import etree

from parsers.submission import split_submission
from parsers.tables import TableBuilder

FILINGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "filings"


def load_corpus() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every fixture filing."""
    paths = sorted(p for p in FILINGS.iterdir() if p.suffix in {".xml", ".txt"})
    return [(p.name, p.read_bytes()) for p in paths]


def best_times(runs: list[Callable[[], object]], repeat: int) -> list[tuple[float, float]]:
    """Best (CPU, wall) seconds of each run over ``repeat`` rounds that call them in turn, so that a
    run and the floor it is compared with see the same machine load."""
    best = [(float("inf"), float("inf"))] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            cpu, wall = time.process_time(), time.perf_counter()
            run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            best[i] = (min(best[i][0], cpu), min(best[i][1], wall))
    return best


def lxml_floor(xmls: list[bytes], rounds: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(rounds):
            for xml in xmls:
                etree.fromstring(xml)

    return run


def parse_to_arrow(corpus: list[tuple[str, bytes]], rounds: int) -> Callable[[], list[dict[str, pa.Table]]]:
    def run() -> list[dict[str, pa.Table]]:
        built = []
        for _ in range(rounds):
            builder = TableBuilder()
            for name, data in corpus:
                builder.add(data, source=name)
            built.append(builder.build())
        return built

    return run


def parse_and_store(corpus: list[tuple[str, bytes]], rounds: int) -> Callable[[], None] | None:
    try:
        from engine.store.datasets import Store
    except ImportError:
        return None

    def run() -> None:
        for _ in range(rounds):
            builder = TableBuilder()
            for name, data in corpus:
                builder.add(data, source=name)
            with tempfile.TemporaryDirectory() as root:
                Store(root).write(builder.build())

    return run


def edgartools(xmls: list[bytes], rounds: int) -> Callable[[], None] | None:
    try:
        import edgar.ownership.owners as owners
        from edgar.ownership import Ownership
    except ImportError:
        return None

    class OfflineEntity:
        """Stands in for edgartools' SEC submissions lookup of each owner (a network call)."""

        def __init__(self, cik: int) -> None:
            self.cik = cik

        def __bool__(self) -> bool:
            return False

    owners.Entity = OfflineEntity
    texts = [xml.decode("utf-8", "replace") for xml in xmls]

    def run() -> None:
        for _ in range(rounds):
            for text in texts:
                Ownership.from_xml(text)

    return run


def _no_network(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("the parse benchmark makes no network connections")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timings per variant; the best is kept")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus per timing")
    parser.add_argument("--no-edgartools", action="store_true", help="skip edgartools even if installed")
    args = parser.parse_args(argv)
    socket.socket.connect = _no_network  # type: ignore[method-assign]

    corpus = load_corpus()
    xmls = [split_submission(data).xml for _, data in corpus]
    n = len(corpus) * args.rounds
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {sys.version.split()[0]}, lxml {lxml.__version__}, pyarrow {pa.__version__}; "
        f"load average {os.getloadavg()[0]:.2f} (other work on the shared machine slows every figure)"
    )
    print(f"corpus: {len(corpus)} real filings, {sum(len(d) for _, d in corpus) / 1e6:.1f} MB; one core")
    slow = max(2, args.repeat // 3)
    print(
        f"timing: best of {args.repeat} ({slow} for the slow variants), "
        f"{args.rounds} pass(es) of the corpus each ({n} filings)\n"
    )

    # (label, run, timings, why it is missing)
    variants: list[tuple[str, Callable[[], object] | None, int, str]] = [
        ("lxml floor (etree.fromstring)", lxml_floor(xmls, args.rounds), args.repeat, ""),
        ("parse to Arrow (TableBuilder)", parse_to_arrow(corpus, args.rounds), args.repeat, ""),
        ("parse + Store.write", parse_and_store(corpus, args.rounds), slow, "engine.store not importable"),
        (
            "edgartools Ownership.from_xml",
            None if args.no_edgartools else edgartools(xmls, args.rounds),
            slow,
            "skipped" if args.no_edgartools else "edgartools not installed (pip install edgartools)",
        ),
    ]
    floor_run = variants[0][1]
    assert floor_run is not None
    print(f"{'':34s} {'---------- CPU time ----------':>30s}   {'--------- wall time ----------':>30s}")
    print(f"{'variant':34s}" + f" {'filings/s':>10s} {'us/filing':>10s} {'x floor':>8s} " * 2)
    for label, run, repeat, missing in variants:
        if run is None:
            print(f"{label:34s} {'-':>10s}  ({missing})")
            continue
        timed = [run] if run is floor_run else [floor_run, run]
        *floor_times, times = best_times(timed, repeat)
        floor = floor_times[0] if floor_times else times
        cells = [
            f" {n / t:10,.0f} {t / n * 1e6:10.1f} {t / f:8.2f} " for t, f in zip(times, floor, strict=True)
        ]
        print(f"{label:34s}" + "".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
