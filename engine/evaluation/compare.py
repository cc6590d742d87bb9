"""Benchmark the score against a reference panel (a legacy pipeline's, a vendor's, a saved run): align
both by date and issuer, then report the cells on one side only and why, how far each field differs,
the per-date rank correlation of the two scores and the worst cells. ``Comparison.passed`` is false when
anything is beyond tolerance, so a research pipeline can use it as a regression gate.

The reference is keyed by ``date`` and ``issuer_cik``, or by ``date`` and ``ticker``: tickers are mapped
point in time with the store's filings, as the score maps ticker-keyed market data
(``engine.scoring.market_caps.tickers_to_ciks``), or without a store to the scores' own ticker labels
(the issuer's ticker on that date, as the score writes it).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from engine import frames
from engine.errors import UserError
from engine.scoring.market_caps import tickers_to_ciks
from engine.scoring.universe import clean_ticker, filing_events

FIELDS: tuple[str, ...] = ("insider", "raw", "buys", "sells", "cluster", "n_buys", "n_sells", "pct")
"""Score columns compared by default (those present on both sides)."""

KEY = ["date", "issuer_cik"]
ONLY_SCORES = "only in scores"
ONLY_REFERENCE = "only in reference"
MISMATCH_COLUMNS = (
    "date",
    "issuer_cik",
    "ticker",
    "field",
    "score",
    "reference",
    "abs_diff",
    "rel_diff",
    "kind",
    "reason",
)
"""Columns of ``Comparison.mismatches``: one row per field value beyond tolerance (``kind`` value or
null) and per cell on one side only (``kind`` the side, ``field`` null)."""

TOML_KEYS = frozenset({"columns", "on", "fields", "rtol", "atol"})

PanelSource = frames.TableSource


@dataclass(frozen=True)
class Comparison:
    """The alignment of two panels: per-field statistics, coverage, rank correlation and mismatches."""

    matched: int
    fields: pl.DataFrame
    coverage: pl.DataFrame
    correlation: pl.DataFrame
    worst: pl.DataFrame
    mismatches: pl.DataFrame
    rank_field: str | None
    rtol: float
    atol: float
    allow_missing: bool
    notes: list[str]

    @property
    def beyond(self) -> int:
        """Field values beyond tolerance (a null on one side counts)."""
        return int(self.fields["beyond"].sum()) if self.fields.height else 0

    @property
    def one_sided(self) -> int:
        """Cells present in one panel only."""
        return int(self.coverage["cells"].sum()) if self.coverage.height else 0

    @property
    def passed(self) -> bool:
        """Nothing beyond tolerance, and no cell on one side only unless ``allow_missing``."""
        return self.beyond == 0 and (self.allow_missing or self.one_sided == 0) and self.matched > 0

    def write_mismatches(self, path: str | Path) -> Path:
        """Write ``mismatches`` to a Parquet file."""
        path = frames.output_path(path, frames.PARQUET_SUFFIXES)
        try:
            self.mismatches.write_parquet(path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc}", fix="pass a file in a writable directory") from exc
        return path

    def summary(self) -> str:
        """A few lines: cells compared, coverage, per-field differences, rank correlation, worst cells."""
        from engine.evaluation.compare_report import render

        return render(self)


def compare(
    scores: PanelSource,
    reference: PanelSource,
    *,
    on: str = "issuer_cik",
    fields: Sequence[str] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    columns: Mapping[str, str] | None = None,
    store: Any = None,
    allow_missing: bool = False,
    worst: int = 1,
) -> Comparison:
    """Compare a score panel with a reference panel cell by cell.

    ``on``: ``issuer_cik`` or ``ticker`` (the reference's key besides ``date``); ``fields``: the columns to
    compare (default: those of ``FIELDS`` on both sides); ``columns``: the reference's column names by
    engine name (``{"insider": "score", "date": "asof"}``); ``store``: a store (or its directory or
    tables) whose filings map reference tickers to CIKs; ``worst``: cells kept per field in
    ``Comparison.worst``. A value is beyond tolerance when
    ``|score - reference| > atol + rtol * |reference|`` or when only one side is null."""
    if on not in ("issuer_cik", "ticker"):
        raise UserError(f"cannot align on {on!r}", fix="use on='issuer_cik' or on='ticker'")
    if not (math.isfinite(rtol) and rtol >= 0 and math.isfinite(atol) and atol >= 0):
        raise UserError(f"tolerances must be finite and >= 0 (rtol {rtol}, atol {atol})")
    panel = _panel(scores, "scores", {}, "issuer_cik")
    ref = _panel(reference, "reference", columns or {}, on)
    fields = _fields(fields, panel, ref)
    notes: list[str] = []
    ref, unmapped = _keyed(ref, on, panel, store, notes)
    known = {
        side: {c: frame.select(pl.col(c).unique(), pl.lit(True).alias(f"_{c}_known")) for c in KEY}
        for side, frame in ((ONLY_SCORES, panel), (ONLY_REFERENCE, ref))
    }
    panel, panel_repeats = _first_of_each_key(panel)
    ref, ref_repeats = _first_of_each_key(ref)
    for side, repeats in ((ONLY_SCORES, panel_repeats), (ONLY_REFERENCE, ref_repeats)):
        known[side]["repeated"] = repeats.select(*KEY, pl.lit(True).alias("_repeated")).unique()
    joined = _joined(panel, ref, fields)
    del panel, ref
    aside = [(panel_repeats, ONLY_SCORES), (ref_repeats, ONLY_REFERENCE), (unmapped, ONLY_REFERENCE)]
    one_sided = _one_sided(joined, known, aside)
    both = joined if one_sided.is_empty() else joined.filter(pl.col("_scores") & pl.col("_reference"))
    del joined
    stats, worst_cells, beyond = _by_field(both, fields, rtol, atol, worst)
    rank_field = "insider" if "insider" in fields else next(iter(fields), None)
    return Comparison(
        matched=both.height,
        fields=stats,
        coverage=one_sided.group_by("kind", "reason").agg(pl.len().alias("cells")).sort("kind", "cells"),
        correlation=_rank_correlation(both, rank_field),
        worst=worst_cells,
        mismatches=pl.concat([beyond, one_sided.select(MISMATCH_COLUMNS)], how="vertical_relaxed").sort(
            "date", "issuer_cik", "field", nulls_last=True
        ),
        rank_field=rank_field,
        rtol=rtol,
        atol=atol,
        allow_missing=allow_missing,
        notes=notes,
    )


def load_mapping(path: str | Path) -> dict[str, Any]:
    """A comparison's settings from TOML: ``[columns]`` (engine name = reference column), and optionally
    ``on``, ``fields``, ``rtol``, ``atol``; unknown keys are refused by name."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"mapping file not found: {path}", fix="pass an existing .toml file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - TOML_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}", fix=f"use {sorted(TOML_KEYS)}")
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise UserError(f"{path}: [columns] must map engine names to column names", fix='insider = "score"')
    return data


def _panel(source: PanelSource, what: str, columns: Mapping[str, str], key: str) -> pl.DataFrame:
    """A panel with engine column names, ``date`` as a Date and the key column typed."""
    origin = frames.describe(source, what)
    frame = frames.frame(source, what)
    missing = sorted(name for name in columns.values() if name not in frame.columns)
    if missing:
        raise UserError(
            f"{origin}: no column(s) {', '.join(missing)} (columns: {', '.join(frame.columns)})",
            fix="map engine names to the file's column names, e.g. --map insider=score",
        )
    renamed = {their: ours for ours, their in columns.items() if their != ours}
    clashes = sorted(set(renamed.values()) & (set(frame.columns) - set(renamed)))
    frame = frame.drop(clashes).rename(renamed)
    needed = ["date", key]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise UserError(
            f"{origin}: no {' or '.join(absent)} column (columns: {', '.join(frame.columns)})",
            fix=f"name them date and {key}, or map them, e.g. --map date=asof",
        )
    frame = frame.with_row_index("_row", offset=1)
    frame = frame.with_columns(frames.as_date(frame.schema["date"], "date", origin))
    if key == "issuer_cik":
        frame = frame.with_columns(pl.col("issuer_cik").cast(pl.Int64, strict=False))
    bad = frame.filter(pl.col("date").is_null() | pl.col(key).is_null())
    if bad.height:
        value = "an integer CIK" if key == "issuer_cik" else "a ticker"
        raise UserError(
            f"{origin}: {bad.height} row(s) without a valid date or {key}, first at row {bad['_row'][0]}",
            fix=f"give every row a YYYY-MM-DD date and {value}",
        )
    return frame


def _fields(fields: Sequence[str] | None, panel: pl.DataFrame, ref: pl.DataFrame) -> list[str]:
    """The fields to compare: as asked (each must be on both sides and numeric), or every default one
    present on both sides."""
    if fields is None:
        chosen = [f for f in FIELDS if f in panel.columns and f in ref.columns]
        if not chosen:
            raise UserError(
                f"the reference has none of the score columns {', '.join(FIELDS)}",
                fix="map its score column, e.g. --map insider=score",
            )
        return chosen
    for name, frame in (("scores", panel), ("reference", ref)):
        absent = [f for f in fields if f not in frame.columns]
        if absent:
            raise UserError(f"the {name} have no column {', '.join(absent)}", fix="check --field and --map")
    return list(dict.fromkeys(fields))


def _keyed(
    ref: pl.DataFrame, on: str, panel: pl.DataFrame, store: Any, notes: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reference with ``issuer_cik`` (tickers mapped point in time) and the rows no issuer fits."""
    if on == "issuer_cik":
        return ref, ref.clear().with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    ref = ref.with_columns(clean_ticker("ticker").alias("ticker")).drop("issuer_cik", strict=False)
    if store is not None:
        from engine.scoring.run import open_tables

        tables, _ = open_tables(store)
        ticker_map = filing_events(tables["filings"], dt.date.max).with_columns(clean_ticker())
        mapped, _ = tickers_to_ciks(ref, ticker_map, "reference")
        unmapped = ref.join(mapped.select("_row"), on="_row", how="anti").with_columns(
            pl.lit("ticker used by no filing in the store").alias("reason")
        )
    else:
        labels = panel.filter(pl.col("ticker").is_not_null()).select("date", "ticker", "issuer_cik")
        shared = pl.len().over("date", "ticker") > 1
        ambiguous = labels.filter(shared).select("date", "ticker").unique()
        if ambiguous.height:
            notes.append(
                f"{ambiguous.height} (date, ticker) pairs label several issuers in the scores: reference "
                "rows with them are not aligned (pass the store to map tickers with its filings)"
            )
        mapped = ref.join(labels.filter(~shared), on=["date", "ticker"], how="inner")
        unmapped = (
            ref.join(mapped.select("_row"), on="_row", how="anti")
            .join(ambiguous.with_columns(pl.lit(True).alias("_shared")), on=["date", "ticker"], how="left")
            .with_columns(
                pl.when(pl.col("_shared"))
                .then(pl.lit("ticker labels several issuers in the scores on this date"))
                .otherwise(pl.lit("ticker not in the scores on this date"))
                .alias("reason")
            )
            .drop("_shared")
        )
    unmapped = unmapped.with_columns(pl.lit(None, dtype=pl.Int64).alias("issuer_cik"))
    return mapped, unmapped


def _first_of_each_key(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows whose (date, issuer) is unique, and the others set aside with a reason. A panel sorted
    by date and issuer (as ``score`` writes it) is checked without hashing its keys."""
    reason = pl.lit("several rows for this date and issuer").alias("reason")
    day, issuer = pl.col("date").cast(pl.Int32).diff(), pl.col("issuer_cik").diff()
    if frame.select(((day > 0) | ((day == 0) & (issuer > 0))).fill_null(True).all()).item():
        return frame, frame.clear().with_columns(reason)
    repeated = frame.select(pl.len().over(KEY) > 1).to_series()
    return frame.filter(~repeated), frame.filter(repeated).with_columns(reason)


def _joined(panel: pl.DataFrame, ref: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """Both panels on (date, issuer): the score's fields as named, the reference's with ``_ref``."""
    ours = panel.select(
        *KEY,
        *(c for c in ("ticker", "null_reason") if c in panel.columns),
        *(pl.col(f).cast(pl.Float64, strict=False).fill_nan(None) for f in fields),
        pl.lit(True).alias("_scores"),
    )
    theirs = ref.select(
        *KEY,
        pl.col("ticker").alias("_ref_ticker")
        if "ticker" in ref.columns
        else pl.lit(None, pl.String).alias("_ref_ticker"),
        *(pl.col(f).cast(pl.Float64, strict=False).fill_nan(None).alias(f"{f}_ref") for f in fields),
        pl.lit(True).alias("_reference"),
    )
    joined = ours.join(theirs, on=KEY, how="full", coalesce=True).with_columns(
        pl.col("_scores", "_reference").fill_null(False)
    )
    if "ticker" not in joined.columns:
        joined = joined.with_columns(pl.lit(None, pl.String).alias("ticker"))
    if "null_reason" not in joined.columns:
        joined = joined.with_columns(pl.lit(None, pl.String).alias("null_reason"))
    return joined.with_columns(pl.coalesce("ticker", "_ref_ticker").alias("ticker"))


def _one_sided(
    joined: pl.DataFrame,
    known: dict[str, dict[str, pl.DataFrame]],
    aside: list[tuple[pl.DataFrame, str]],
) -> pl.DataFrame:
    """Cells on one side only, with the reason where it is known (from ``known``: each side's distinct
    dates and issuers and its repeated keys), in ``MISMATCH_COLUMNS``."""
    reasons = {
        ONLY_SCORES: (
            "several rows for this date and issuer in the reference",
            "date not in the reference",
            "issuer not in the reference",
            "issuer missing from the reference on this date",
        ),
        ONLY_REFERENCE: (
            "several rows for this date and issuer in the scores",
            "date not scored",
            "issuer never scored",
            "issuer not in the universe on this date",
        ),
    }
    parts = []
    for kind, absent, other in (
        (ONLY_SCORES, "_reference", ONLY_REFERENCE),
        (ONLY_REFERENCE, "_scores", ONLY_SCORES),
    ):
        repeated, no_date, no_issuer, neither = reasons[kind]
        parts.append(
            joined.filter(~pl.col(absent))
            .join(known[other]["date"], on="date", how="left")
            .join(known[other]["issuer_cik"], on="issuer_cik", how="left")
            .join(known[other]["repeated"], on=KEY, how="left")
            .select(
                *KEY,
                "ticker",
                pl.lit(kind).alias("kind"),
                pl.when(pl.col("_repeated").is_not_null())
                .then(pl.lit(repeated))
                .when(pl.col("_date_known").is_null())
                .then(pl.lit(no_date))
                .when(pl.col("_issuer_cik_known").is_null())
                .then(pl.lit(no_issuer))
                .otherwise(pl.lit(neither))
                .alias("reason"),
            )
        )
    parts += [
        frame.select(
            *KEY,
            pl.col("ticker") if "ticker" in frame.columns else pl.lit(None, pl.String).alias("ticker"),
            pl.lit(kind).alias("kind"),
            "reason",
        )
        for frame, kind in aside
        if frame.height
    ]
    return pl.concat(parts, how="vertical_relaxed").with_columns(
        pl.lit(None, pl.String).alias("field"),
        *(pl.lit(None, pl.Float64).alias(c) for c in ("score", "reference", "abs_diff", "rel_diff")),
    )


def _by_field(
    both: pl.DataFrame, fields: list[str], rtol: float, atol: float, per_field: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per field, one field at a time (a panel of tens of millions of cells stays one column wide): the
    statistics, the ``per_field`` worst cells and the values beyond tolerance."""
    stats, worst, beyond = [], [], []
    for field in fields:
        values = _differences(both, field, rtol, atol)
        stats.append(
            values.select(
                pl.lit(field).alias("field"),
                pl.len().alias("cells"),
                pl.col("abs_diff").max().alias("max_abs_diff"),
                pl.col("rel_diff").max().alias("max_rel_diff"),
                pl.col("beyond").sum().alias("beyond"),
                (pl.col("kind") == "null").sum().alias("null_one_side"),
            )
        )
        differing = values.filter((pl.col("kind") == "value") & (pl.col("excess") > 0))
        worst.append(differing.top_k(per_field, by="excess"))
        beyond.append(values.filter("beyond").select(MISMATCH_COLUMNS))
    worst_cells = pl.concat(worst).sort("excess", descending=True).drop("excess", "beyond")
    return pl.concat(stats), worst_cells, pl.concat(beyond)


def _differences(both: pl.DataFrame, field: str, rtol: float, atol: float) -> pl.DataFrame:
    """One row per cell compared on ``field``: both values, absolute and relative difference, whether it
    is beyond tolerance (a null on one side is) and by how much (``excess``: difference over tolerance)."""
    values = both.select(
        *KEY,
        "ticker",
        pl.lit(field).alias("field"),
        pl.col(field).alias("score"),
        pl.col(f"{field}_ref").alias("reference"),
        pl.col("null_reason").cast(pl.String).alias("reason"),
    )
    diff = (pl.col("score") - pl.col("reference")).abs()
    ref_size = pl.col("reference").abs()
    one_null = pl.col("score").is_null() ^ pl.col("reference").is_null()
    rel = pl.when(ref_size > 0).then(diff / ref_size).when(diff > 0).then(float("inf")).otherwise(diff)
    return values.with_columns(
        diff.alias("abs_diff"),
        rel.alias("rel_diff"),
        pl.when(one_null).then(pl.lit("null")).otherwise(pl.lit("value")).alias("kind"),
        (one_null | (diff > atol + rtol * ref_size).fill_null(False)).alias("beyond"),
        pl.when(one_null)
        .then(float("inf"))
        .otherwise(diff / (atol + rtol * ref_size))
        .fill_nan(0.0)
        .alias("excess"),
    ).with_columns(pl.when(pl.col("kind") == "null").then("reason").alias("reason"))


def _rank_correlation(both: pl.DataFrame, field: str | None) -> pl.DataFrame:
    """Per date: cells with both values and the Spearman correlation of the two (null below two
    cells or without spread on a side)."""
    schema = {"date": pl.Date, "cells": pl.UInt32, "spearman": pl.Float64}
    if field is None:
        return pl.DataFrame(schema=schema)
    pairs = both.drop_nulls([field, f"{field}_ref"])
    return (
        pairs.group_by("date")
        .agg(pl.len().alias("cells"), pl.corr(field, f"{field}_ref", method="spearman").alias("spearman"))
        .with_columns(pl.col("spearman").fill_nan(None))
        .sort("date")
    )
