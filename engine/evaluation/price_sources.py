"""Where daily prices come from: a ``PriceSource`` answers "the history of this symbol (for this issuer)
between two dates" as ``PRICES_SCHEMA`` rows.

Two sources: ``FilePrices`` (tables the user has, in any form of ``engine.frames``, as ``insider evaluate
--prices`` reads them) and ``TiingoPrices`` (Tiingo's documented end-of-day REST API, free with a
registered key: raw and split- and dividend-adjusted daily closes with each day's dividend and split
factor, https://www.tiingo.com/documentation/end-of-day), fetched through the same polite client as EDGAR
(``engine.edgar.http.PoliteClient``). ``engine.evaluation.price_store`` caches what they answer in the
store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from urllib.parse import quote

import numpy as np
import polars as pl

from engine import __version__, frames
from engine.edgar.http import FetchError, PoliteClient
from engine.errors import UserError
from engine.scoring.rules import clean_ticker
from engine.scoring.tickers import TickerTable
from engine.store.prices import PRICE_COLUMNS

TIINGO_BASE_URL = "https://api.tiingo.com/"
TIINGO_KEY_ENV = "TIINGO_API_KEY"
TIINGO_FREE_RATE = 50 / 3600
"""Requests per second on Tiingo's free plan (50 an hour; also 1,000 a day and 500 distinct symbols a
month): the default pace, raised with ``--rate`` on a paid plan."""
TIINGO_PAUSE_SECONDS = 900.0
SYMBOL = r"^[A-Z0-9][A-Z0-9.\-]{0,11}$"
"""What a price source can be asked for (a regular expression): a filed "WSO; WSOB" cannot."""

ADJUSTED_NAMES = ("adj_close", "adjusted_close", "adj close", "adjclose")
DIVIDEND_NAMES = ("dividend", "dividends", "dividend_amount", "divcash")
SPLIT_NAMES = ("split_factor", "stock splits", "split_coefficient", "splitfactor")


@dataclass(frozen=True)
class PriceRequest:
    """One series to fetch: ``ticker`` for ``issuer_cik`` (None for an index series), ``start..end``."""

    ticker: str
    issuer_cik: int | None
    start: date
    end: date


class PriceSource(Protocol):
    """A daily price source."""

    name: str

    async def history(self, request: PriceRequest) -> pl.DataFrame | None:
        """``PRICE_COLUMNS`` rows of ``request`` (its dates inclusive), sorted by date; None when the source
        does not know the symbol. Raises ``UserError`` when the source refuses us (a bad key)."""
        ...


def raw_closes(adjusted: np.ndarray, dividend: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Closes as traded, rebuilt from one series' split- and dividend-adjusted closes (sorted by date) and
    each day's dividend and split factor, by the multiplicative method of Yahoo and CRSP: a dividend D
    going ex on day e scales every earlier close by ``1 - D / close[e - 1]``, a split of factor k divides
    them by k. ``dividend`` is per share of today (adjusted for later splits, as Yahoo reports it)."""
    n = len(adjusted)
    raw = np.full(n, np.nan)
    scale, splits = 1.0, 1.0
    for i in range(n - 1, -1, -1):
        raw[i] = adjusted[i] / scale * splits
        if split[i] > 0 and split[i] != 1.0:
            splits *= split[i]
        if dividend[i] > 0 and i > 0:
            before = adjusted[i - 1] / scale + dividend[i]
            scale *= 1.0 - dividend[i] / before
    return raw


def normalise(table: pl.DataFrame, where: str) -> pl.DataFrame:
    """A user's price table as ``PRICE_COLUMNS`` (``issuer_cik`` null): ``date``, ``ticker``, the adjusted
    close (``adj_close``/``adjusted_close``, else ``close``, taken as adjusted as ``insider evaluate``
    does), the close as traded (``close`` beside an adjusted column; else rebuilt by ``raw_closes`` when
    dividends and splits are given; else null), dividends (0 when absent) and split factors (1)."""
    table = frames.lower_columns(table, where)
    frames.require_columns(table.columns, ["date", "ticker"], where, fix="name the columns date and ticker")
    adjusted = next((c for c in ADJUSTED_NAMES if c in table.columns), None)
    if adjusted is None and "close" not in table.columns:
        raise UserError(f"{where}: no close or adj_close column", fix="add the adjusted close as adj_close")
    traded = adjusted is not None and "close" in table.columns
    dividend = next((c for c in DIVIDEND_NAMES if c in table.columns), None)
    split = next((c for c in SPLIT_NAMES if c in table.columns), None)
    number = {"strict": False}
    frame = frames.parse_dates(table, "date", where).select(
        clean_ticker("ticker"),
        pl.lit(None, pl.Int64).alias("issuer_cik"),
        "date",
        (pl.col("close").cast(pl.Float64, **number) if traded else pl.lit(None, pl.Float64)).alias("close"),
        pl.col(adjusted or "close").cast(pl.Float64, **number).alias("adj_close"),
        (pl.col(dividend).cast(pl.Float64, **number).fill_null(0.0) if dividend else pl.lit(0.0)).alias(
            "dividend"
        ),
        (pl.col(split).cast(pl.Float64, **number) if split else pl.lit(1.0))
        .pipe(lambda s: pl.when(s.is_null() | (s <= 0)).then(1.0).otherwise(s))
        .alias("split_factor"),
        (pl.col("volume").cast(pl.Float64, **number) if "volume" in table.columns else pl.lit(None))
        .cast(pl.Float64)
        .alias("volume"),
    )
    frame = frame.filter(
        pl.col("ticker").is_not_null() & pl.col("date").is_not_null() & (pl.col("adj_close") > 0)
    ).sort("ticker", "date")
    if not traded and (dividend or split):
        rebuilt = [
            pl.Series(raw_closes(*(part[c].to_numpy() for c in ("adj_close", "dividend", "split_factor"))))
            for part in frame.partition_by("ticker", maintain_order=True)
        ]
        if rebuilt:
            frame = frame.with_columns(pl.concat(rebuilt).alias("close"))
    return frame.cast(dict(PRICE_COLUMNS))


class FilePrices:
    """Price tables the user has (Parquet/CSV paths or frames, as ``insider evaluate --prices``), as a
    source: a request for an issuer gets the rows whose ticker meant that issuer on their date (by the
    ``TickerTable``; the requested symbol's row first where two symbols meet on one day), an index
    series (or any request, without a ``TickerTable``) its symbol's rows."""

    name = "files"

    def __init__(self, tables: Sequence[frames.TableSource], tickers: TickerTable | None = None) -> None:
        parts = [normalise(frames.frame(t, "prices"), frames.describe(t, "prices")) for t in tables]
        if not parts:
            raise UserError("no price files given", fix="pass at least one Parquet or CSV file of prices")
        frame = pl.concat(parts).unique(["ticker", "date"], keep="first", maintain_order=True)
        if tickers is not None and frame.height:
            frame = frame.with_columns(tickers.resolve(frame).alias("issuer_cik"))
        self.frame = frame
        self.by_issuer = tickers is not None
        self.name = ", ".join(frames.origin(t) for t in tables)

    async def history(self, request: PriceRequest) -> pl.DataFrame | None:
        """The rows of ``request`` between its dates (see the class)."""
        inside = pl.col("date").is_between(request.start, request.end)
        if request.issuer_cik is None or not self.by_issuer:
            rows = self.frame.filter((pl.col("ticker") == request.ticker) & inside)
        else:
            rows = (
                self.frame.filter((pl.col("issuer_cik") == request.issuer_cik) & inside)
                .sort("date", pl.col("ticker") != request.ticker)
                .unique("date", keep="first", maintain_order=True)
            )
        if rows.is_empty() and not (self.frame["ticker"] == request.ticker).any():
            return None
        issuer = pl.lit(request.issuer_cik, pl.Int64).alias("issuer_cik")
        return rows.with_columns(pl.lit(request.ticker).alias("ticker"), issuer).sort("date")


def tiingo_client(
    api_key: str | None,
    *,
    rate: float | None = TIINGO_FREE_RATE,
    pause_seconds: float = TIINGO_PAUSE_SECONDS,
    retries: int = 5,
    timeout: float = 60.0,
    connections: int = 4,
) -> PoliteClient:
    """The polite client for Tiingo: the key in the ``Authorization`` header (never in a URL or a log)."""
    key = (api_key or "").strip()
    if not key:
        raise UserError(
            "no Tiingo API key", fix=f"register at tiingo.com (free) and export {TIINGO_KEY_ENV}=<your key>"
        )
    client = PoliteClient(
        f"insider-engine/{__version__}",
        rate=rate,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        pause_seconds=pause_seconds,
        retries=retries,
        timeout=timeout,
        connections=connections,
    )
    client.service = "Tiingo"
    return client


class TiingoPrices:
    """Tiingo's end-of-day prices: ``GET tiingo/daily/<ticker>/prices?startDate=..&endDate=..`` (JSON rows
    of date, close, adjClose, divCash, splitFactor, volume...), through a ``tiingo_client``."""

    name = "tiingo"

    def __init__(self, client: PoliteClient, base_url: str = TIINGO_BASE_URL) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UserError(
                f"--base-url {base_url!r} is not an http(s) URL", fix="e.g. https://api.tiingo.com/"
            )
        self.client = client
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    def url(self, request: PriceRequest) -> str:
        """The request's URL (Tiingo writes share classes with a dash: BRK-B)."""
        symbol = quote(request.ticker.replace(".", "-").lower(), safe="-")
        return (
            f"{self.base_url}tiingo/daily/{symbol}/prices?startDate={request.start.isoformat()}"
            f"&endDate={request.end.isoformat()}&format=json&resampleFreq=daily"
        )

    async def history(self, request: PriceRequest) -> pl.DataFrame | None:
        """Fetch and parse one series; None for a symbol Tiingo does not know (HTTP 404)."""
        url = self.url(request)
        try:
            body = await self.client.get(url)
        except FetchError as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                raise UserError(
                    f"Tiingo refused the API key (HTTP {exc.status})",
                    fix=f"check {TIINGO_KEY_ENV}: the key shown at https://www.tiingo.com/account/api/token",
                ) from exc
            raise
        assert body is not None
        return parse_tiingo(body, request, url)


def parse_tiingo(body: bytes, request: PriceRequest, url: str) -> pl.DataFrame:
    """Tiingo's JSON answer as ``PRICE_COLUMNS`` rows of ``request``."""
    try:
        rows = json.loads(body)
        if not isinstance(rows, list):
            raise ValueError(f"expected a list of days, got {type(rows).__name__}")
        frame = pl.DataFrame(
            {
                "date": [date.fromisoformat(str(r["date"])[:10]) for r in rows],
                "close": [_number(r.get("close")) for r in rows],
                "adj_close": [_number(r.get("adjClose")) for r in rows],
                "dividend": [_number(r.get("divCash"), 0.0) for r in rows],
                "split_factor": [_number(r.get("splitFactor"), 1.0) for r in rows],
                "volume": [_number(r.get("volume")) for r in rows],
            },
            schema={
                c: PRICE_COLUMNS[c]
                for c in ("date", "close", "adj_close", "dividend", "split_factor", "volume")
            },
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(url, f"not Tiingo's daily prices: {type(exc).__name__}: {exc}") from exc
    return (
        frame.with_columns(
            pl.lit(request.ticker).alias("ticker"), pl.lit(request.issuer_cik, pl.Int64).alias("issuer_cik")
        )
        .select(PRICE_COLUMNS.names())
        .filter(pl.col("adj_close") > 0)
        .sort("date")
    )


def _number(value: object, default: float | None = None) -> float | None:
    if value is None:
        return default
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else default
