"""``insider ingest PATH... --store DIR``: parse EDGAR ownership filings into the Parquet store."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from engine.cli.main import SUMMARIES
from engine.errors import UserError
from engine.store.datasets import Store
from engine.store.ingest import IngestReport, ingest
from engine.store.inputs import FILING_SUFFIXES

MAX_LISTED = 50
"""Quarantined files listed one per line; the rest are counted (all of them are in ``quarantine/``)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` subcommand."""
    parser = subparsers.add_parser(
        "ingest",
        help=SUMMARIES["ingest"],
        description=(
            "Parse EDGAR ownership filings into the hive-partitioned Parquet store. PATH may be a bare "
            "XML document, a full .txt submission, a directory (searched recursively for "
            f"{', '.join(sorted(FILING_SUFFIXES))} files) or a .zip / .tar.gz / .tgz / .tar archive of "
            "them. Filings already in the store are skipped, so re-running is safe. Files that cannot be "
            "stored go to the store's quarantine/ dataset with a one-line reason and never stop the run."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or archives to ingest")
    parser.add_argument("--store", required=True, metavar="DIR", help="store directory (created if missing)")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when any file was quarantined"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="parser processes for large inputs (default: one per core; inputs under 2000 files "
        "are parsed in this process)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ingest, print what was done; 1 under ``--strict`` when something was quarantined, else 0."""
    store = Store(args.store)
    with tqdm(unit=" files", desc="ingest", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        try:
            report = ingest(args.paths, store, workers=args.workers, progress=bar.update)
        except OSError as exc:
            raise UserError(
                f"writing the store {args.store} failed: {exc}",
                fix="free space or fix permissions, then rerun the same command: stored filings are skipped",
            ) from exc
    print(format_report(report, args.store))
    return 1 if args.strict and report.quarantined else 0


def format_report(report: IngestReport, store: str) -> str:
    """The summary printed after an ingest: counts, quarantined files with their reasons, timing."""
    archives = f" ({_count(report.archives, 'archive')})" if report.archives else ""
    lines = [
        f"ingested {_count(report.files, 'file')}{archives} into {store} in {report.seconds:.2f} s "
        f"({_count(report.workers, 'worker')})",
        f"  filings stored:     {report.filings}",
        "  rows:               "
        + ", ".join(f"{name} {count}" for name, count in report.rows.items() if name != "quarantine"),
        f"  duplicates skipped: {report.duplicates}",
    ]
    if report.replaced:
        note = "copies stored without an accession, now under it"
        lines.append(f"  replaced:           {report.replaced} ({note})")
    if report.skipped:
        lines.append(f"  not filings:        {report.skipped} (other file types, ignored)")
    if report.links:
        lines.append(f"  links not followed: {report.links} (symbolic links inside a directory)")
    known = len(report.quarantined) - report.rows["quarantine"]
    already = f" ({known} already in quarantine/)" if known > 0 else ""
    lines.append(f"  quarantined:        {len(report.quarantined)}{already}")
    for item in report.quarantined[:MAX_LISTED]:
        accession = f" [{item.accession}]" if item.accession else ""
        lines.append(f"    {item.source}{accession}: {item.reason}")
    if len(report.quarantined) > MAX_LISTED:
        lines.append(f"    ... and {len(report.quarantined) - MAX_LISTED} more, all in {store}/quarantine/")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
