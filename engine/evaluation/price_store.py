"""The store's ``prices/`` dataset: daily prices cached per series, fetched incrementally, politely and
resumably from a ``PriceSource``.

One Parquet file per series, ``<store>/prices/ticker=<T>.parquet`` (``PRICES_SCHEMA``), replaced
atomically once its series is fetched, so an interrupted run keeps every series it finished and a rerun
asks only for what is missing. Each file's metadata records the source and the span asked (``from``,
``through``). A later run asks only from the last stored day on; when the new days bring a split or a
dividend, or the source now adjusts the overlapping day differently, the whole span is fetched again
(adjusted closes change backwards with every corporate action).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field, replace

import polars as pl

from engine.edgar.http import FetchError
from engine.evaluation.price_sources import SYMBOL, PriceRequest, PriceSource
from engine.scoring.tickers import TickerTable, stored_current, ticker_table
from engine.store.datasets import Store
from engine.store.prices import read_series, series_path, write_series

DEFAULT_MARKET = "SPY"
UNIVERSE_LOOKBACK_DAYS = 365
"""An issuer needs prices from ``--from`` on when it filed in the year before (the score's universe rule)."""


@dataclass
class PriceReport:
    """What an update did, series by series."""

    requested: int = 0
    fetched: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    refetched: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows: int = 0

    @property
    def complete(self) -> bool:
        """True when no series failed (a symbol the source does not know is not a failure)."""
        return not self.failed

    def summary(self) -> str:
        """A few lines: counts, then the symbols the source did not know and the failures."""
        lines = [
            f"price series: {self.requested:,} requested; {len(self.fetched):,} fetched, "
            f"{len(self.extended):,} extended, {len(self.refetched):,} fetched again after a split or "
            f"dividend, {len(self.current):,} already current, {len(self.missing):,} unknown to the source, "
            f"{len(self.failed):,} failed; {self.rows:,} rows written"
        ]
        if self.missing:
            lines.append("  unknown to the source: " + " ".join(sorted(self.missing)[:40]))
        lines += [f"  {ticker}: {reason}" for ticker, reason in sorted(self.failed.items())]
        return "\n".join(lines)


def plan_requests(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    market: str | None = DEFAULT_MARKET,
    tickers: TickerTable | None = None,
) -> tuple[list[PriceRequest], pl.DataFrame]:
    """The series the universe needs from ``start`` to ``end``: each issuer that filed since ``start``
    less the universe lookback, under the symbol ``TickerTable.fetch_tickers`` chooses, plus the market
    series; and the issuers left out (``issuer_cik, ticker, reason``)."""
    table = tickers or ticker_table(store.scan("filings"), stored_current(store))
    since = start - dt.timedelta(days=UNIVERSE_LOOKBACK_DAYS)
    active = table.history.filter(pl.col("last_seen") >= since).select("issuer_cik").unique()
    chosen = table.fetch_tickers().join(active, on="issuer_cik", how="inner")
    symbol = chosen["ticker"].str.contains(SYMBOL).fill_null(False)
    left_out = pl.concat(
        [
            chosen.filter(~symbol).select("issuer_cik", "ticker", pl.lit("not a symbol").alias("reason")),
            active.join(chosen, on="issuer_cik", how="anti").select(
                "issuer_cik",
                pl.lit(None, pl.String).alias("ticker"),
                pl.lit("its last ticker belongs to another company now").alias("reason"),
            ),
        ]
    ).sort("issuer_cik")
    requests = [
        PriceRequest(t, cik, start, end)
        for cik, t in chosen.filter(symbol).select("issuer_cik", "ticker").iter_rows()
    ]
    if market is not None:
        requests.append(PriceRequest(market, None, start, end))
    return requests, left_out


async def update_prices(
    store: Store, source: PriceSource, requests: list[PriceRequest], *, concurrency: int = 4
) -> PriceReport:
    """Bring every requested series up to date in the store (see the module); a failed series is reported
    and the others go on; a refused key (``UserError``) stops the run, keeping what was written."""
    report = PriceReport(requested=len(requests))
    gate = asyncio.Semaphore(concurrency)

    async def one(request: PriceRequest) -> None:
        async with gate:
            try:
                await _update_one(store, source, request, report)
            except FetchError as exc:
                report.failed[request.ticker] = exc.reason

    await asyncio.gather(*(one(r) for r in requests))
    return report


async def _update_one(store: Store, source: PriceSource, request: PriceRequest, report: PriceReport) -> None:
    path = series_path(store, request.ticker)
    old, meta = read_series(path) if path.is_file() else (None, {})
    first = dt.date.fromisoformat(meta["from"]) if "from" in meta else None
    through = dt.date.fromisoformat(meta["through"]) if "through" in meta else None
    if (
        old is not None
        and first is not None
        and through is not None
        and first <= request.start <= request.end <= through
    ):
        report.current.append(request.ticker)
        return
    if old is None or first is None or first > request.start:  # the whole span, keeping what was asked before
        ask, outcome = replace(request, end=max(request.end, through or request.end)), report.fetched
    else:
        last = old["date"].max()
        ask = replace(request, start=min(last, request.end) if last is not None else first)
        outcome = report.extended
    rows = await source.history(ask)
    if rows is None:
        report.missing.append(request.ticker)
        return
    rows = rows.with_columns(pl.lit(request.issuer_cik, pl.Int64).alias("issuer_cik"))
    span_from = min(request.start, first) if first is not None else request.start
    if outcome is report.extended and old is not None and _restated(old, rows):
        rows = await source.history(replace(request, start=span_from))
        if rows is None:
            report.missing.append(request.ticker)
            return
        rows = rows.with_columns(pl.lit(request.issuer_cik, pl.Int64).alias("issuer_cik"))
        merged, outcome = rows, report.refetched
    elif outcome is report.extended and old is not None:
        merged = pl.concat([old.filter(pl.col("date") < ask.start), rows.select(old.columns)])
    else:
        merged = rows
    meta = {
        "source": source.name,
        "from": span_from.isoformat(),
        "through": max(request.end, through or request.end).isoformat(),
    }
    write_series(path, merged, meta)
    outcome.append(request.ticker)
    report.rows += rows.height


def _restated(old: pl.DataFrame, new: pl.DataFrame) -> bool:
    """True when the new days carry a corporate action or the source now adjusts a stored day otherwise."""
    last = old["date"].max()
    later = new.filter(pl.col("date") > last)
    if ((later["dividend"] > 0) | (later["split_factor"] != 1.0)).any():
        return True
    both = old.join(new, on="date", suffix="_new").filter(pl.col("adj_close").is_not_null())
    drift = ((both["adj_close_new"] / both["adj_close"]) - 1.0).abs()
    return bool((drift > 1e-9).any())
