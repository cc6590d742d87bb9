"""``insider compare --scores F --reference F``: the score panel against a reference panel, cell by cell;
exits 1 when anything is beyond tolerance, so a pipeline can use it as a regression gate."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from engine.cli.main import SUMMARIES
from engine.errors import UserError

if TYPE_CHECKING:
    import polars as pl

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-12


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help=SUMMARIES["compare"],
        description=(
            "Align a score panel (from `insider score`) with a reference panel (a legacy pipeline's, a "
            "vendor's, a saved run) by date and issuer, and report the cells on one side only and why, "
            "per field the largest absolute and relative difference and the values beyond tolerance, "
            "the per-date Spearman correlation of the two scores and the worst cells. Exit status 0 "
            "when everything agrees, 1 when anything is beyond tolerance, 2 on bad input."
        ),
    )
    parser.add_argument("--scores", required=True, metavar="FILE", help="score panel, Parquet or CSV")
    parser.add_argument("--reference", required=True, metavar="FILE", help="reference panel, Parquet or CSV")
    parser.add_argument(
        "--on",
        choices=("issuer_cik", "ticker"),
        default=None,
        help="the reference's issuer key beside date (default issuer_cik); tickers are mapped point in "
        "time (with --store through its filings, else to the scores' ticker labels)",
    )
    parser.add_argument(
        "--field",
        action="append",
        metavar="NAME",
        help="a column to compare (repeatable; default: every score column the reference has)",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=COLUMN",
        help="the reference's column for an engine name, e.g. --map insider=score --map date=asof",
    )
    parser.add_argument(
        "--columns",
        metavar="FILE.toml",
        help="settings as TOML: [columns] (engine name = reference column), on, fields, rtol, atol",
    )
    parser.add_argument(
        "--rtol", type=float, default=None, help=f"relative tolerance (default {DEFAULT_RTOL:g})"
    )
    parser.add_argument(
        "--atol", type=float, default=None, help=f"absolute tolerance (default {DEFAULT_ATOL:g})"
    )
    parser.add_argument("--store", metavar="DIR", help="store whose filings map reference tickers to CIKs")
    parser.add_argument("--out", metavar="FILE.parquet", help="write the mismatches (and one-sided cells)")
    parser.add_argument(
        "--allow-missing", action="store_true", help="cells on one side only do not fail the comparison"
    )
    parser.add_argument("--worst", type=int, default=1, metavar="N", help="worst cells shown per field (1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compare, print the summary, write the mismatches; 1 when the comparison fails."""
    from engine import frames
    from engine.evaluation.compare import compare, load_mapping

    if args.out:
        frames.output_path(args.out, frames.PARQUET_SUFFIXES)
    settings: dict[str, Any] = load_mapping(args.columns) if args.columns else {}
    columns = {**settings.get("columns", {}), **_pairs(args.map)}
    result = compare(
        args.scores,
        args.reference,
        on=args.on or settings.get("on", "issuer_cik"),
        fields=args.field or settings.get("fields"),
        rtol=_first(args.rtol, settings.get("rtol"), DEFAULT_RTOL),
        atol=_first(args.atol, settings.get("atol"), DEFAULT_ATOL),
        columns=columns,
        store=args.store,
        allow_missing=args.allow_missing,
        worst=args.worst,
    )
    print(result.summary())
    if args.out:
        print(f"mismatches: {result.mismatches.height:,} rows -> {result.write_mismatches(args.out)}")
    return 0 if result.passed else 1


def check_against(scores: pl.DataFrame, reference: str, rtol: float | None, store: str) -> int:
    """``insider score --check-against REF``: the fresh panel against REF; 1 when it fails."""
    from engine.evaluation.compare import compare

    result = compare(scores, reference, rtol=DEFAULT_RTOL if rtol is None else rtol, store=store)
    print(f"check against {reference}:")
    print(result.summary())
    return 0 if result.passed else 1


def add_check_options(parser: argparse.ArgumentParser) -> None:
    """``--check-against REF`` and ``--rtol`` for ``insider score``."""
    parser.add_argument(
        "--check-against",
        metavar="REF",
        help="after scoring, compare with this reference panel (as `insider compare`); exit 1 if it differs",
    )
    parser.add_argument(
        "--rtol", type=float, default=None, help=f"relative tolerance of --check-against ({DEFAULT_RTOL:g})"
    )


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UserError(f"--map {item!r} is not NAME=COLUMN", fix="e.g. --map insider=score")
        pairs[name.strip()] = column.strip()
    return pairs


def _first(*values: float | None) -> float:
    return next(float(v) for v in values if v is not None)
