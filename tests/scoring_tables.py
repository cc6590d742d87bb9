"""Test helper: a small builder of store tables (typed per parsers/schema.py) for the scoring tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from engine.scoring.market_caps import MarketCaps, load_market_caps
from engine.store.datasets import Store
from parsers.schema import FILINGS_SCHEMA, FOOTNOTES_SCHEMA, OWNERS_SCHEMA, TRANSACTIONS_SCHEMA

D0 = dt.date(2024, 1, 1)


def day(n: int) -> dt.date:
    """``D0 + n`` days (D0 is Monday 2024-01-01)."""
    return D0 + dt.timedelta(days=n)


def director(cik: int) -> dict:
    return {"owner_cik": cik, "is_director": True}


def officer(cik: int, title: str, remarks: str | None = None) -> dict:
    see = "remarks" in title.lower()
    return {
        "owner_cik": cik,
        "is_officer": True,
        "officer_title": title,
        "role_title": remarks if see else title,
    }


@dataclass
class Book:
    """Filings, owners, transactions and footnotes added one filing at a time."""

    filings: list[dict] = field(default_factory=list)
    owners: list[dict] = field(default_factory=list)
    transactions: list[dict] = field(default_factory=list)
    footnotes: list[dict] = field(default_factory=list)

    def filing(
        self,
        issuer: int,
        insider: int,
        available: dt.date,
        trades: list[tuple] = (),
        *,
        form: str = "4",
        period: dt.date | None = None,
        owners: list[dict] | None = None,
        ticker: str | None = "TICK",
        remarks: str | None = None,
        aff10b5one: bool | None = None,
        footnotes: dict[str, str] | None = None,
        accession: str | None = None,
        traded: dt.date | None = None,
    ) -> str:
        """Add a filing; ``trades``: non-derivative ``(code, shares, price[, plan[, footnote_ids]])``, all
        dated ``traded``."""
        accession = accession or f"0000000000-00-{len(self.filings):06d}"
        part = {"filing_year": available.year, "filing_month": available.month}
        owner_rows = owners if owners is not None else [director(insider)]
        self.filings.append(
            {
                "accession": accession,
                "document_type": form,
                "period_of_report": period or available - dt.timedelta(days=2),
                "issuer_cik": issuer,
                "ticker": ticker,
                "ticker_raw": ticker,
                "insider_cik": min(o["owner_cik"] for o in owner_rows) if owner_rows else insider,
                "n_owners": len(owner_rows),
                "aff10b5one": aff10b5one,
                "remarks": remarks,
                "filing_date": available - dt.timedelta(days=1),
                "available_date": available,
                **part,
            }
        )
        for index, owner in enumerate(owner_rows):
            self.owners.append({"accession": accession, "owner_index": index, **owner, **part})
        for fid, text in (footnotes or {}).items():
            self.footnotes.append({"accession": accession, "footnote_id": fid, "text": text, **part})
        insider_key = self.filings[-1]["insider_cik"]
        for index, trade in enumerate(trades):
            code, shares, price, plan, notes = (
                (*trade, False, [])[:5] if len(trade) == 3 else (*trade, [])[:5]
            )
            self.transactions.append(
                {
                    "accession": accession,
                    "row_index": index,
                    "document_type": form,
                    "issuer_cik": issuer,
                    "insider_cik": insider_key,
                    "is_derivative": False,
                    "is_holding": False,
                    "transaction_date": traded,
                    "transaction_code": code,
                    "shares": shares,
                    "price": price,
                    "plan": plan,
                    "footnote_ids": notes,
                    "period_of_report": self.filings[-1]["period_of_report"],
                    "available_date": available,
                    **part,
                }
            )
        return accession

    def tables(self) -> dict[str, pl.LazyFrame]:
        """The four tables as LazyFrames, exactly their schemas."""
        pairs = {
            "filings": (self.filings, FILINGS_SCHEMA),
            "owners": (self.owners, OWNERS_SCHEMA),
            "transactions": (self.transactions, TRANSACTIONS_SCHEMA),
            "footnotes": (self.footnotes, FOOTNOTES_SCHEMA),
        }
        return {
            name: pl.from_arrow(pa.Table.from_pylist(rows, schema=schema)).lazy()
            for name, (rows, schema) in pairs.items()
        }


def write_store(book: Book, root: Path) -> Path:
    """Write the book's filings as one batch into a store at ``root`` (for the CLI tests)."""
    schemas = {
        "filings": FILINGS_SCHEMA,
        "owners": OWNERS_SCHEMA,
        "transactions": TRANSACTIONS_SCHEMA,
        "footnotes": FOOTNOTES_SCHEMA,
    }
    Store(root).write(
        {name: pa.Table.from_pylist(getattr(book, name), schema=s) for name, s in schemas.items()}
    )
    return root


def caps(*rows: tuple[int, dt.date, float], kind: str = "market_cap") -> MarketCaps:
    """Market caps (or shares outstanding, ``kind="shares_outstanding"``) from (issuer, date, value)."""
    frame = pl.DataFrame(
        {"issuer_cik": [r[0] for r in rows], "date": [r[1] for r in rows], kind: [float(r[2]) for r in rows]},
        schema={"issuer_cik": pl.Int64, "date": pl.Date, kind: pl.Float64},
    )
    if not rows:  # load_market_caps rejects an empty table; the property tests also score with no cap at all
        empty = frame.select("issuer_cik", "date", pl.col(kind).alias("cap"))
        return MarketCaps(empty, "market_cap" if kind == "market_cap" else "shares")
    return load_market_caps(frame)
