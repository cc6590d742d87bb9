"""The point-in-time issuer-to-ticker table: which issuer a ticker meant on a given day.

Built from the store's own ownership filings (each names its issuer's trading symbol as filed; cleaned by
``engine.scoring.rules.clean_ticker``): one row per issuer and symbol with the first and last day it was
seen (by available date), joined with the SEC's current map (``company_tickers.json`` or
``company_tickers_exchange.json``). ``resolve_issuers`` is the one rule that turns ``(ticker, date)`` into
an issuer wherever prices or market data keyed by ticker are joined, so a changed ticker (FB, then META)
or a recycled one (one symbol, two companies in turn) resolves by date.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from engine.errors import UserError
from engine.scoring.rules import clean_ticker
from engine.store.atomic import replace_parquet
from engine.store.datasets import Store
from parsers.schema import OWNERSHIP_FORMS

HISTORY_SCHEMA = pl.Schema(
    {
        "issuer_cik": pl.Int64,
        "ticker": pl.String,
        "ticker_filed": pl.String,
        "first_seen": pl.Date,
        "last_seen": pl.Date,
        "filings": pl.UInt32,
    }
)
CURRENT_SCHEMA = pl.Schema(
    {"issuer_cik": pl.Int64, "ticker": pl.String, "title": pl.String, "rank": pl.Int64}
)
CONFLICT_SCHEMA = pl.Schema(
    {
        "kind": pl.String,
        "ticker": pl.String,
        "issuer_cik": pl.Int64,
        "other_cik": pl.Int64,
        "detail": pl.String,
    }
)
CONFLICT_KINDS: dict[str, str] = {
    "shared": "one ticker filed by two issuers in overlapping periods: resolved to the latest filer by date",
    "recycled": "one ticker filed by two issuers in turn: resolved by date",
    "renamed": "the SEC's current ticker of the issuer is not the one it last filed",
    "taken": "the issuer's last filed ticker now belongs to another CIK in the SEC's map",
}
"""What each kind of conflict means (all are reported; none stops a run)."""


def filing_tickers(filings: pl.LazyFrame) -> pl.LazyFrame:
    """``issuer_cik, ticker, ticker_filed, available_date`` of every ownership filing naming a symbol."""
    raw = "ticker_raw" if "ticker_raw" in filings.collect_schema().names() else "ticker"
    return (
        filings.filter(
            pl.col("document_type").is_in(sorted(OWNERSHIP_FORMS))
            & pl.col("issuer_cik").is_not_null()
            & pl.col("available_date").is_not_null()
        )
        .select("issuer_cik", clean_ticker(raw), pl.col(raw).alias("ticker_filed"), "available_date")
        .filter(pl.col("ticker").is_not_null())
    )


def ticker_history(filings: pl.LazyFrame) -> pl.DataFrame:
    """One row per issuer and symbol as filed: the cleaned ticker, first and last available date, filings."""
    return (
        filing_tickers(filings)
        .group_by("issuer_cik", "ticker", "ticker_filed")
        .agg(
            pl.col("available_date").min().alias("first_seen"),
            pl.col("available_date").max().alias("last_seen"),
            pl.len().alias("filings"),
        )
        .sort("ticker", "first_seen", "issuer_cik", "ticker_filed")
        .collect()
        .cast(dict(HISTORY_SCHEMA))
    )


def read_company_tickers(source: str | os.PathLike[str] | bytes, name: str | None = None) -> pl.DataFrame:
    """The SEC's current map as ``issuer_cik, ticker, title, rank`` (``rank``: order in the file, the SEC's
    primary listing of a CIK first) from ``company_tickers.json`` or ``company_tickers_exchange.json``."""
    where = name or (str(source) if not isinstance(source, bytes) else "company tickers")
    try:
        data = json.loads(source if isinstance(source, bytes) else Path(source).read_bytes())
        if isinstance(data, dict) and "fields" in data:
            fields = [f.lower() for f in data["fields"]]
            rows = [dict(zip(fields, row, strict=True)) for row in data["data"]]
        else:
            rows = list(data.values()) if isinstance(data, dict) else list(data)
        frame = pl.DataFrame(
            {
                "issuer_cik": [int(r.get("cik", r.get("cik_str"))) for r in rows],
                "ticker": [r.get("ticker") for r in rows],
                "title": [r.get("name", r.get("title")) for r in rows],
            },
            schema={"issuer_cik": pl.Int64, "ticker": pl.String, "title": pl.String},
        )
    except OSError as exc:
        raise UserError(f"cannot read {where}: {exc.strerror or exc}", fix="check the path") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UserError(
            f"{where} is not the SEC's company_tickers.json or company_tickers_exchange.json "
            f"({type(exc).__name__}: {exc})",
            fix="download https://www.sec.gov/files/company_tickers_exchange.json",
        ) from exc
    return (
        frame.with_row_index("rank")
        .select("issuer_cik", clean_ticker(), "title", pl.col("rank").cast(pl.Int64))
        .filter(pl.col("ticker").is_not_null())
        .unique(["issuer_cik", "ticker"], keep="first", maintain_order=True)
    )


def empty_current() -> pl.DataFrame:
    """A current map with no rows (no company_tickers file given)."""
    return pl.DataFrame(schema=CURRENT_SCHEMA)


@dataclass(frozen=True)
class TickerTable:
    """The store's ticker history, the SEC's current map, and the conflicts between them."""

    history: pl.DataFrame
    """``HISTORY_SCHEMA``: one row per issuer and symbol as filed."""
    current: pl.DataFrame
    """``CURRENT_SCHEMA``: the SEC's current ticker(s) of each CIK."""
    events: pl.LazyFrame
    """``ticker, available_date, issuer_cik``: every filing's symbol, the input of ``resolve_issuers``."""

    def current_ticker(self) -> pl.DataFrame:
        """``issuer_cik, current_ticker, title``: each store issuer's ticker today. Among the SEC's tickers
        of its CIK, the one it last filed when listed there, else the SEC's first listing."""
        last = self.latest_filed()
        return (
            self.current.join(last.rename({"ticker": "last_filed"}), on="issuer_cik", how="inner")
            .sort("issuer_cik", pl.col("ticker") != pl.col("last_filed"), "rank")
            .group_by("issuer_cik", maintain_order=True)
            .agg(pl.col("ticker").first().alias("current_ticker"), pl.col("title").first())
        )

    def latest_filed(self) -> pl.DataFrame:
        """``issuer_cik, ticker, last_seen``: the cleaned ticker of each issuer's latest filing."""
        return (
            self.history.sort("issuer_cik", "last_seen", "ticker")
            .group_by("issuer_cik", maintain_order=True)
            .agg(pl.col("ticker").last(), pl.col("last_seen").last())
        )

    def table(self) -> pl.DataFrame:
        """The published table: the history with each issuer's current ticker and name from the SEC."""
        return self.history.join(self.current_ticker(), on="issuer_cik", how="left").sort(
            "issuer_cik", "first_seen", "ticker_filed"
        )

    def conflicts(self) -> pl.DataFrame:
        """``kind, ticker, issuer_cik, other_cik, detail``: every ``CONFLICT_KINDS`` case found."""
        spans = (
            self.history.group_by("ticker", "issuer_cik")
            .agg(pl.col("first_seen").min(), pl.col("last_seen").max())
            .sort("ticker", "first_seen", "issuer_cik")
        )
        pairs = (
            spans.join(spans, on="ticker", suffix="_other")
            .filter(pl.col("issuer_cik") < pl.col("issuer_cik_other"))
            .with_columns(
                pl.when(
                    (pl.col("first_seen") <= pl.col("last_seen_other"))
                    & (pl.col("first_seen_other") <= pl.col("last_seen"))
                )
                .then(pl.lit("shared"))
                .otherwise(pl.lit("recycled"))
                .alias("kind")
            )
            .select(
                "kind",
                "ticker",
                "issuer_cik",
                pl.col("issuer_cik_other").alias("other_cik"),
                pl.format(
                    "CIK {} filed it {}..{}, CIK {} {}..{}",
                    "issuer_cik",
                    "first_seen",
                    "last_seen",
                    "issuer_cik_other",
                    "first_seen_other",
                    "last_seen_other",
                ).alias("detail"),
            )
        )
        last = self.latest_filed()
        listed = self.current.group_by("issuer_cik").agg(pl.col("ticker").sort_by("rank").alias("listed"))
        renamed = (
            last.join(listed, on="issuer_cik", how="inner")
            .filter(~pl.col("ticker").is_in(pl.col("listed")))
            .select(
                pl.lit("renamed").alias("kind"),
                "ticker",
                "issuer_cik",
                pl.lit(None, pl.Int64).alias("other_cik"),
                pl.format(
                    "last filed as {} on {}; the SEC lists {} now",
                    "ticker",
                    "last_seen",
                    pl.col("listed").list.join(" "),
                ).alias("detail"),
            )
        )
        owners = self.current.select("ticker", pl.col("issuer_cik").alias("other_cik"))
        taken = (
            last.join(owners, on="ticker", how="inner")
            .filter(pl.col("other_cik") != pl.col("issuer_cik"))
            .select(
                pl.lit("taken").alias("kind"),
                "ticker",
                "issuer_cik",
                "other_cik",
                pl.format(
                    "last filed by CIK {} on {}; the SEC maps it to CIK {} now",
                    "issuer_cik",
                    "last_seen",
                    "other_cik",
                ).alias("detail"),
            )
        )
        return (
            pl.concat([pairs, renamed, taken])
            .cast(dict(CONFLICT_SCHEMA))
            .sort("kind", "ticker", "issuer_cik")
        )

    def fetch_tickers(self) -> pl.DataFrame:
        """``issuer_cik, ticker, basis``: the symbol to ask a price source for, per store issuer. Its SEC
        current ticker (``basis`` "current": a source following the company through renames serves its
        whole history under it); else its last filed ticker when no other CIK holds that symbol now
        ("filed": a delisted company, served only by sources that keep delisted histories); issuers whose
        last ticker was taken by another company are left out (``conflicts`` lists them)."""
        current = self.current_ticker().select("issuer_cik", pl.col("current_ticker").alias("ticker"))
        held = self.current.select("ticker").unique()
        filed = (
            self.latest_filed()
            .join(current.select("issuer_cik"), on="issuer_cik", how="anti")
            .join(held, on="ticker", how="anti")
            .select("issuer_cik", "ticker")
        )
        return pl.concat(
            [
                current.with_columns(pl.lit("current").alias("basis")),
                filed.with_columns(pl.lit("filed").alias("basis")),
            ]
        ).sort("issuer_cik")

    def resolve(self, keys: pl.DataFrame) -> pl.Series:
        """``issuer_cik`` of each ``(ticker, date)`` row by ``resolve_issuers``."""
        return resolve_issuers(keys, self.events, self.current)


def ticker_table(filings: pl.LazyFrame, current: pl.DataFrame | None = None) -> TickerTable:
    """Build the table from the store's filings and the SEC's current map (``read_company_tickers``)."""
    events = filing_tickers(filings).select("ticker", "available_date", "issuer_cik").unique()
    return TickerTable(ticker_history(filings), empty_current() if current is None else current, events)


def resolve_issuers(
    keys: pl.DataFrame, events: pl.LazyFrame, current: pl.DataFrame | None = None
) -> pl.Series:
    """The issuer a ticker meant on a date (``keys``: ``ticker``, cleaned, and ``date``), in ``keys`` order:
    the issuer whose latest filing on or before the date used the ticker; before any such filing, the
    first issuer to use it later; a ticker no filing uses, the CIK the SEC's current map gives it (its
    first listing); else null. ``events`` is ``ticker, available_date, issuer_cik`` per filing."""
    known = events.select("ticker", "available_date", "issuer_cik").unique().sort("available_date").collect()
    probe = keys.select("ticker", "date").with_row_index("__order").sort("date")
    options = {"left_on": "date", "right_on": "available_date", "by": "ticker", "check_sortedness": False}
    backward = probe.join_asof(known, strategy="backward", **options)
    forward = probe.join_asof(known, strategy="forward", **options)
    resolved = backward.with_columns(pl.col("issuer_cik").fill_null(forward["issuer_cik"]))
    if current is not None and current.height:
        primary = (
            current.sort("rank")
            .unique("ticker", keep="first")
            .select("ticker", pl.col("issuer_cik").alias("__current"))
        )
        resolved = resolved.join(primary, on="ticker", how="left").with_columns(
            pl.col("issuer_cik").fill_null(pl.col("__current"))
        )
    return resolved.sort("__order")["issuer_cik"].cast(pl.Int64)


CURRENT_FILE = "company_tickers.parquet"


def save_current(store: Store, current: pl.DataFrame) -> Path:
    """Keep the SEC's current map in the store (``company_tickers/``) for later runs (``insider prices``)."""
    directory = store.dataset_dir("company_tickers")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CURRENT_FILE
    replace_parquet(path, current.cast(dict(CURRENT_SCHEMA)).to_arrow())
    return path


def stored_current(store: Store) -> pl.DataFrame | None:
    """The SEC's current map last saved in the store, or None."""
    path = store.dataset_dir("company_tickers") / CURRENT_FILE
    return pl.read_parquet(path).cast(dict(CURRENT_SCHEMA)) if path.is_file() else None
