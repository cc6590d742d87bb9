"""Synthetic EDGAR-scale insider filings in the store's schemas, for the scoring benchmark.

Calibrated to real volume (SEC Form 3/4/5 data sets, 2005-2024): about 300k Form 4 a year (plus ~8%
Form 3, ~5% Form 5, ~4% 4/A), ~1.5 non-derivative rows per Form 4, ~7,000 issuers with lognormal
activity; a code mix of roughly S 32%, A 18%, M 14%, F 14%, P 7%, G 8%, other 7%; ~6% joint filings;
~40% of sales under a 10b5-1 plan (checkbox); officers titled CEO/CFO/VP/"See Remarks", directors,
10% owners; 30% of filings accepted after 16:00 (available the next day); prices and share counts
lognormal, 1% without a price. Market caps are month-end values (a lognormal level and a random walk);
2% of issuers have none.

Run as a script to write the tables as a hive-partitioned store: ``python
benchmarks/synthetic_universe.py OUT_DIR [--issuers N] [--years Y] [--seed S]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from parsers.schema import FILINGS_SCHEMA, FOOTNOTES_SCHEMA, OWNERS_SCHEMA, STORE_TABLES, TRANSACTIONS_SCHEMA

FORM4_PER_YEAR_PER_ISSUER = 300_000 / 7_000
CODES = np.array(["S", "A", "M", "F", "P", "G", "D", "J", "C", "X"])
CODE_P = np.array([0.32, 0.18, 0.14, 0.14, 0.07, 0.08, 0.02, 0.02, 0.01, 0.02])
TITLES = ["Chief Executive Officer", "CFO", "EVP, General Counsel", "See Remarks", "VP Sales"]
INSIDERS_PER_ISSUER = 12
EPOCH = dt.date(1970, 1, 1)


def _table(columns: dict[str, np.ndarray | pa.Array], schema: pa.Schema) -> pl.DataFrame:
    """A frame with exactly ``schema``'s columns: the given ones cast, the rest null."""
    n = len(next(iter(columns.values())))
    arrays = [
        pa.array(columns[f.name]).cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return pl.from_arrow(pa.Table.from_arrays(arrays, schema=schema))


def _days(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int32), pa.date32())


def generate(
    n_issuers: int = 7_000, years: int = 20, first_year: int = 2005, seed: int = 0
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The four store tables and a month-end market-cap table (``date, issuer_cik, market_cap``)."""
    rng = np.random.default_rng(seed)
    start = (dt.date(first_year, 1, 1) - EPOCH).days
    end = (dt.date(first_year + years - 1, 12, 31) - EPOCH).days
    activity = rng.lognormal(0.0, 1.0, n_issuers)
    activity /= activity.mean()
    n4 = int(FORM4_PER_YEAR_PER_ISSUER * n_issuers * years)
    n3, n5 = int(n4 * 0.08), int(n4 * 0.05)
    n = n4 + n3 + n5
    issuer = rng.choice(n_issuers, size=n, p=activity / activity.sum())
    form = np.concatenate([np.full(n4, "4"), np.full(n3, "3"), np.full(n5, "5")]).astype(object)
    filed = rng.integers(start, end + 1, n)
    filed -= np.maximum((filed + 3) % 7 - 4, 0)
    late = rng.random(n) < 0.3
    available = filed + late
    period = filed - rng.integers(1, 5, n)
    person = np.minimum(rng.geometric(0.25, n) - 1, INSIDERS_PER_ISSUER - 1)
    insider = 10_000_000 + issuer * 16 + person

    n_amend = int(n4 * 0.04)
    src = rng.choice(n4, n_amend, replace=False)
    issuer = np.concatenate([issuer, issuer[src]])
    insider = np.concatenate([insider, insider[src]])
    period = np.concatenate([period, period[src]])
    person = np.concatenate([person, person[src]])
    filed = np.concatenate([filed, filed[src] + rng.integers(1, 60, n_amend)])
    late = np.concatenate([late, rng.random(n_amend) < 0.3])
    available = np.concatenate([available, filed[n:] + late[n:]])
    form = np.concatenate([form, np.full(n_amend, "4/A", dtype=object)])
    n_all = n + n_amend
    accession = pl.Series(np.arange(n_all)).cast(pl.String).str.zfill(10)
    accession = "00012345" + accession.str.slice(0, 2) + "-" + accession.str.slice(2, 2)
    accession = accession + "-" + pl.Series(np.arange(n_all)).cast(pl.String).str.zfill(10).str.slice(4)

    main_code = rng.choice(CODES, n_all, p=CODE_P)
    plan_draw = rng.random(n_all)
    plan_filing = (main_code == "S") & (plan_draw < 0.4) | (main_code == "P") & (plan_draw < 0.02)
    joint = rng.random(n_all) < 0.06
    fund = 90_000_000 + issuer * 4 + rng.integers(0, 4, n_all)
    smaller = rng.random(n_all) < 0.3
    fund = np.where(smaller, 5_000_000 + issuer * 4 + rng.integers(0, 4, n_all), fund)
    insider_key = np.where(joint, np.minimum(insider, fund), insider)
    ticker_base = pl.Series(np.arange(n_issuers)).cast(pl.String)
    tickers = ("T" + ticker_base).to_numpy().astype(object)
    renamed = rng.random(n_issuers) < 0.03
    new_tickers = ("N" + ticker_base).to_numpy().astype(object)
    midpoint = (start + end) // 2
    ticker = np.where(renamed[issuer] & (available > midpoint), new_tickers[issuer], tickers[issuer])
    ticker = np.where(rng.random(n_all) < 0.005, "NONE", ticker)
    see_remarks = person == 3
    remarks = np.where(see_remarks, "President and Chief Operating Officer", None)
    fy, fm = _year_month(filed)
    filings = _table(
        {
            "accession": accession.to_arrow(),
            "document_type": form,
            "period_of_report": _days(period),
            "issuer_cik": issuer + 1_000,
            "ticker": ticker,
            "ticker_raw": ticker,
            "insider_cik": insider_key,
            "n_owners": 1 + joint,
            "aff10b5one": plan_filing,
            "remarks": remarks,
            "filing_date": _days(filed),
            "available_date": _days(available),
            "filing_year": fy,
            "filing_month": fm,
        },
        FILINGS_SCHEMA,
    )

    owner_of = np.concatenate([np.arange(n_all), np.flatnonzero(joint)])
    owner_index = np.concatenate([np.zeros(n_all, np.int16), np.ones(joint.sum(), np.int16)])
    is_fund = owner_index == 1
    p = person[owner_of]
    officer = ~is_fund & (p <= 4)
    title = np.where(officer, np.array(TITLES, dtype=object)[np.minimum(p, 4)], None)
    role_title = np.where(officer & (p == 3), remarks[owner_of], title)
    owners = _table(
        {
            "accession": accession.gather(owner_of).to_arrow(),
            "owner_index": owner_index,
            "owner_cik": np.where(is_fund, fund[owner_of], insider[owner_of]),
            "is_director": ~is_fund & ((p >= 5) & (p <= 10) | (p == 0)),
            "is_officer": officer,
            "is_ten_percent_owner": is_fund | (p == 11),
            "is_other": np.zeros(owner_of.size, bool),
            "officer_title": title,
            "role_title": role_title,
            "filing_year": fy[owner_of],
            "filing_month": fm[owner_of],
        },
        OWNERS_SCHEMA,
    )

    has_rows = form != "3"
    n_rows = np.where(has_rows, 1 + rng.poisson(0.5, n_all), 0)
    n_deriv = np.where(has_rows, rng.poisson(0.2, n_all), 0)
    t_of = np.repeat(np.arange(n_all), n_rows)
    d_of = np.repeat(np.arange(n_all), n_deriv)
    rows_of = np.concatenate([t_of, d_of])
    m = rows_of.size
    derivative = np.concatenate([np.zeros(t_of.size, bool), np.ones(d_of.size, bool)])
    starts = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
    row_index = np.concatenate([np.arange(t_of.size) - starts[t_of], np.zeros(d_of.size, np.int64)]).astype(
        np.int16
    )
    code = np.where(rng.random(m) < 0.8, main_code[rows_of], rng.choice(CODES, m, p=CODE_P))
    shares = np.round(rng.lognormal(np.where(code == "P", 7.0, 8.3), 1.3, m))
    price = np.round(rng.lognormal(3.3, 1.0, m), 2)
    price = np.where(rng.random(m) < 0.01, np.where(rng.random(m) < 0.5, 0.0, np.nan), price)
    amended = form[rows_of] == "4/A"
    shares = np.where(amended, np.round(shares * rng.uniform(0.5, 1.5, m)), shares)
    ty, tm = fy[rows_of], fm[rows_of]
    transactions = _table(
        {
            "accession": accession.gather(rows_of).to_arrow(),
            "row_index": row_index,
            "document_type": form[rows_of],
            "issuer_cik": issuer[rows_of] + 1_000,
            "insider_cik": insider_key[rows_of],
            "is_derivative": derivative,
            "is_holding": np.zeros(m, bool),
            "transaction_date": _days(period[rows_of]),
            "transaction_code": code,
            "shares": shares,
            "price": pa.array(price, from_pandas=True),
            "plan": plan_filing[rows_of],
            "period_of_report": _days(period[rows_of]),
            "filing_date": _days(filed[rows_of]),
            "available_date": _days(available[rows_of]),
            "filing_year": ty,
            "filing_month": tm,
        },
        TRANSACTIONS_SCHEMA,
    )
    footnotes = pl.from_arrow(FOOTNOTES_SCHEMA.empty_table())
    tables = {"filings": filings, "owners": owners, "transactions": transactions, "footnotes": footnotes}
    return tables, _market_caps(rng, n_issuers, first_year, years)


def store_tables(tables: dict[str, pl.DataFrame]) -> dict[str, pa.Table]:
    """The tables as ``Store.write`` takes them: Arrow, exactly the store's schemas."""
    return {name: frame.to_arrow().cast(STORE_TABLES[name]) for name, frame in tables.items()}


def _year_month(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dates = days.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return years.astype(np.int16), months.astype(np.int8)


def _market_caps(rng: np.random.Generator, n_issuers: int, first_year: int, years: int) -> pl.DataFrame:
    """Month-end market caps from a year before the first filing year; 2% of issuers have none."""
    first, stop = np.datetime64(f"{first_year - 1}-01"), np.datetime64(f"{first_year + years}-01")
    months = np.arange(first, stop, dtype="datetime64[M]")
    month_ends = (months + 1).astype("datetime64[D]") - 1
    covered = np.flatnonzero(rng.random(n_issuers) >= 0.02)
    level = np.maximum(rng.lognormal(np.log(5e8), 1.5, covered.size), 2e7)
    walk = np.exp(np.cumsum(rng.normal(0.005, 0.09, (covered.size, months.size)), axis=1))
    caps = (level[:, None] * walk).ravel()
    return pl.DataFrame(
        {
            "date": np.tile(month_ends, covered.size),
            "issuer_cik": np.repeat(covered + 1_000, months.size),
            "market_cap": caps,
        }
    )


def write(out: Path, tables: dict[str, pl.DataFrame], caps: pl.DataFrame) -> None:
    """The tables as a store (``OUT/<name>/filing_year=Y/filing_month=M/*.parquet``, readable with
    ``engine.store.datasets.Store(OUT)``) and the market caps as ``OUT/market_caps.parquet``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if frame.height:
            frame.write_parquet(out / name, partition_by=["filing_year", "filing_month"])
    caps.write_parquet(out / "market_caps.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--issuers", type=int, default=7_000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    began = time.perf_counter()
    tables, caps = generate(args.issuers, args.years, seed=args.seed)
    write(args.out, tables, caps)
    sizes = ", ".join(f"{name} {frame.height:,}" for name, frame in tables.items())
    print(f"wrote {sizes}, market caps {caps.height:,} to {args.out} in {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
