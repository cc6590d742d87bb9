"""TableBuilder: every real fixture filing into tables of exactly the store schemas; bad input quarantined."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from parsers.schema import STORE_TABLES
from parsers.tables import TableBuilder

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _filing_paths(filings_dir: Path) -> list[Path]:
    return sorted(p for p in filings_dir.iterdir() if p.suffix in {".xml", ".txt"})


@pytest.fixture(scope="module")
def corpus_tables(filings_dir: Path) -> dict:
    builder = TableBuilder(now=NOW)
    for path in _filing_paths(filings_dir):
        builder.add(path.read_bytes(), source=path.name)
    return builder.build()


def test_every_fixture_filing_is_stored_with_exact_schemas(corpus_tables: dict, filings_dir: Path) -> None:
    assert set(corpus_tables) == set(STORE_TABLES)
    for name, table in corpus_tables.items():
        assert table.schema.equals(STORE_TABLES[name]), name
    assert corpus_tables["quarantine"].num_rows == 0
    assert corpus_tables["filings"].num_rows == len(_filing_paths(filings_dir))


def test_same_accession_twice_is_stored_once(filings_dir: Path) -> None:
    data = (filings_dir / "0000011544-20-000013.txt").read_bytes()
    builder = TableBuilder(now=NOW)
    assert builder.add(data, source="a") == "0000011544-20-000013"
    assert builder.add(data, source="b") == "0000011544-20-000013"
    tables = builder.build()
    assert len(builder) == 1
    assert tables["filings"].num_rows == 1
    assert tables["transactions"].num_rows == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b"<html><body>hello</body></html>", "not an ownership document: root element <html>"),
        (b"\x00\x01\x02garbage", "not well-formed XML"),
    ],
)
def test_bad_input_is_quarantined_not_raised(data: bytes, reason: str) -> None:
    builder = TableBuilder(now=NOW)
    assert builder.add(data, source="bad.xml", accession="0000000000-00-000001") is None
    quarantine = builder.build()["quarantine"].to_pylist()
    assert len(quarantine) == 1
    row = quarantine[0]
    assert row["reason"].startswith(reason)
    assert row["source"] == "bad.xml"
    assert row["accession"] == "0000000000-00-000001"
    assert row["content"] == data
    assert row["size"] == len(data)
    assert (row["filing_year"], row["filing_month"]) == (2026, 11)
    assert row["quarantined_at"] == NOW
    assert len(builder) == 0


def test_caller_dates_override_the_header(filings_dir: Path) -> None:
    data = (filings_dir / "0000011544-20-000013.txt").read_bytes()
    builder = TableBuilder(now=NOW)
    builder.add(
        data,
        source="x",
        accession="0000011544-20-999999",
        filing_date=date(2020, 3, 2),
        accepted_at=datetime(2020, 3, 2, 9, 30),
    )
    filing = builder.build()["filings"].to_pylist()[0]
    assert filing["accession"] == "0000011544-20-999999"
    assert filing["filing_date"] == date(2020, 3, 2)
    assert filing["available_date"] == date(2020, 3, 2)
    assert (filing["filing_year"], filing["filing_month"]) == (2020, 3)


def test_recovered_filing_is_flagged_and_dateless_one_partitioned_by_now() -> None:
    xml = (
        b"<ownershipDocument><documentType>4</documentType><issuer><issuerCik>5</issuerCik></issuer>"
        b"<reportingOwner><reportingOwnerId><rptOwnerCik>9</rptOwnerCik></reportingOwnerId></reportingOwner>"
        b"<nonDerivativeTable ativeTable></nonDerivativeTable></ownershipDocument>"
    )
    builder = TableBuilder(now=NOW)
    accession = builder.add(xml, source="old.xml")
    [filing] = builder.build()["filings"].to_pylist()
    assert filing["accession"] == accession
    assert filing["recovered"] is True
    assert (filing["filing_date"], filing["available_date"]) == (None, None)
    assert (filing["filing_year"], filing["filing_month"]) == (2026, 11)


def test_non_ownership_submission_is_quarantined_with_its_type() -> None:
    data = (
        b"<SEC-DOCUMENT>\n<SEC-HEADER>\nACCESSION NUMBER:\t0000000001-20-000001\n"
        b"CONFORMED SUBMISSION TYPE:\t10-K\n</SEC-HEADER>\n"
        b"<DOCUMENT>\n<TYPE>10-K\n<TEXT>x</TEXT>\n</DOCUMENT>\n"
    )
    builder = TableBuilder(now=NOW)
    assert builder.add(data, source="10k.txt") is None
    [row] = builder.build()["quarantine"].to_pylist()
    assert row["reason"] == "not an ownership filing: submission type 10-K"
    assert row["accession"] == "0000000001-20-000001"


def test_aware_acceptance_time_is_converted_to_new_york(filings_dir: Path) -> None:
    data = (filings_dir / "sha1-f9f1d12693ba.xml").read_bytes()
    builder = TableBuilder(now=NOW)
    builder.add(data, source="x", accepted_at=datetime(2022, 1, 13, 21, 30, tzinfo=UTC))  # 16:30 in New York
    [filing] = builder.build()["filings"].to_pylist()
    assert filing["accepted_at"].isoformat() == "2022-01-13T16:30:00-05:00"
    assert filing["available_date"] == date(2022, 1, 14)


def _one_trade(shares: str, price: str, total: str = "") -> bytes:
    total_value = f"<transactionTotalValue><value>{total}</value></transactionTotalValue>" if total else ""
    return (
        "<ownershipDocument><documentType>4</documentType><issuer><issuerCik>42</issuerCik></issuer>"
        "<reportingOwner><reportingOwnerId><rptOwnerCik>7</rptOwnerCik></reportingOwnerId></reportingOwner>"
        "<nonDerivativeTable><nonDerivativeTransaction><transactionAmounts>"
        f"<transactionShares><value>{shares}</value></transactionShares>"
        f"<transactionPricePerShare><value>{price}</value></transactionPricePerShare>{total_value}"
        "</transactionAmounts></nonDerivativeTransaction></nonDerivativeTable></ownershipDocument>"
    ).encode()


@pytest.mark.parametrize(
    ("shares", "price", "total", "flags"),
    [
        ("1e308", "1e308", "", ["price:implausible", "shares:implausible", "value:implausible"]),
        ("100", "2000000", "", ["price:implausible"]),
        ("10000000", "1000000", "", ["value:implausible"]),
        ("100", "10", "2e12", ["total_value:implausible"]),
        ("100", "1000000", "100000000", []),
        ("-5", "10", "", []),
    ],
)
def test_implausible_values_are_kept_as_filed_and_flagged(shares, price, total, flags) -> None:
    builder = TableBuilder(now=NOW)
    assert builder.add(_one_trade(shares, price, total), source="x.xml", accession="0000000000-26-000001")
    [row] = builder.build()["transactions"].to_pylist()
    assert (row["shares"], row["price"]) == (float(shares), float(price))
    assert row["quality"] == flags


def test_real_filings_are_flagged_only_where_a_price_is_no_price(corpus_tables: dict) -> None:
    """The fixture corpus is clean but for convertible notes whose "price" is the notes' dollar amount."""
    assert all(flags == [] for flags in corpus_tables["filings"].column("quality").to_pylist())
    flagged = [row for row in corpus_tables["transactions"].to_pylist() if row["quality"]]
    assert len(flagged) == 3
    for row in flagged:
        assert row["quality"] == ["price:implausible"] and row["shares"] is None
        assert "Note" in row["security_title"]
