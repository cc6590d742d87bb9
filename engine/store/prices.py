"""The store's ``prices`` dataset: one Parquet file per series (``ticker=<T>.parquet``, ``PRICES_SCHEMA``
rows and the fetch's metadata), each replaced atomically; written and read here only."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from engine.store.atomic import replace_parquet
from engine.store.datasets import PRICES, Store
from parsers.schema import PRICES_SCHEMA

PRICE_COLUMNS = pl.Schema(pl.from_arrow(PRICES_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]
META_KEY = b"insider.prices"


def series_path(store: Store, ticker: str) -> Path:
    """The file of one series."""
    return store.dataset_dir(PRICES) / f"ticker={ticker}.parquet"


def read_series(path: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """A stored series and its metadata (``source``, ``from``, ``through``)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    return pl.from_arrow(table).cast(dict(PRICE_COLUMNS)), meta  # type: ignore[union-attr]


def write_series(path: Path, frame: pl.DataFrame, meta: dict[str, str]) -> None:
    """Replace a series file atomically, its metadata with it."""
    table = frame.select(PRICE_COLUMNS.names()).cast(dict(PRICE_COLUMNS)).sort("date").to_arrow()
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_parquet(path, table)


def scan_prices(store: Store) -> pl.LazyFrame:
    """Every stored series (``PRICE_COLUMNS``); empty when none was fetched."""
    files = sorted(store.dataset_dir(PRICES).glob("ticker=*.parquet"))
    if not files:
        return pl.LazyFrame(schema=PRICE_COLUMNS)
    return pl.scan_parquet(files, schema=PRICE_COLUMNS)


def has_prices(store: Store) -> bool:
    """True when the store holds at least one price series."""
    return any(store.dataset_dir(PRICES).glob("ticker=*.parquet"))


def store_price_table(store: Store) -> pl.DataFrame:
    """Every stored series as one table for ``load_prices(key="issuer_cik")``: where two series were
    fetched for one issuer (it changed ticker between runs), each day comes from the one asked last."""
    files = sorted(store.dataset_dir(PRICES).glob("ticker=*.parquet"))
    parts = []
    for path in files:
        frame, meta = read_series(path)
        parts.append(frame.with_columns(pl.lit(meta.get("through", ""), pl.String).alias("_through")))
    if not parts:
        return pl.DataFrame(schema=PRICE_COLUMNS)
    table = pl.concat(parts).sort("_through", descending=True)
    issuers = table.filter(pl.col("issuer_cik").is_not_null()).unique(["issuer_cik", "date"], keep="first")
    return (
        pl.concat([issuers, table.filter(pl.col("issuer_cik").is_null())])
        .drop("_through")
        .sort("ticker", "date")
    )
