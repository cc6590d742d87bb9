"""EDGAR index files: real daily and quarterly form/master/company/crawler files and the edge cases."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from parsers.index import IndexFormatError, parse_index
from parsers.schema import INDEX_SCHEMA

INDEX = Path(__file__).parent / "fixtures" / "index"


def _read(relative: str) -> bytes:
    path = INDEX / relative
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _row(table, accession: str, cik: int) -> dict:
    rows = [r for r in table.to_pylist() if r["accession"] == accession and r["cik"] == cik]
    assert len(rows) == 1, (accession, cik, rows)
    return rows[0]


# (file, ownership rows, all rows, distinct ownership accessions): counted with grep/awk on the raw files.
COUNTS = [
    ("daily/master.20200103.idx.gz", 6286, 7989, 3096),
    ("daily/master.20181231.idx.gz", 825, 2619, 385),
    ("daily/form.20200318.idx.gz", 2165, 4084, 1036),
    ("daily/company.20221003.idx.gz", 2311, 4925, 1126),
    ("quarterly/form.2016QTR2.excerpt.idx", 79, 97, 69),
    ("quarterly/master.1993QTR4.sample.idx", 0, 20, 0),
    ("edge_cases/badform.idx.txt", 0, 10, 0),
    ("edge_cases/empty-form.idx", 0, 0, 0),
    ("daily/crawler_sample.20250501.idx", 0, 8, 0),
]


@pytest.mark.parametrize(("name", "ownership", "total", "accessions"), COUNTS)
def test_row_counts(name: str, ownership: int, total: int, accessions: int) -> None:
    data = _read(name)
    table = parse_index(data)
    assert table.schema.equals(INDEX_SCHEMA)
    assert table.num_rows == ownership
    assert len(set(table["accession"].to_pylist())) == accessions
    assert set(table["form_type"].to_pylist()) <= {"3", "3/A", "4", "4/A", "5", "5/A"}
    assert parse_index(data, forms=None).num_rows == total


def test_master_daily_lists_each_form4_once_per_cik() -> None:
    table = parse_index(_read("daily/master.20200103.idx.gz"), forms={"4"})
    assert table.num_rows == 6083
    assert len(set(table["accession"].to_pylist())) == 3002
    issuer = _row(table, "0001209191-20-000788", 1000229)
    owner = _row(table, "0001209191-20-000788", 1282547)
    assert issuer["company_name"] == "CORE LABORATORIES N V"
    assert owner["company_name"] == "DEMSHUR DAVID M"
    assert issuer["date_filed"] == owner["date_filed"] == date(2020, 1, 3)
    assert issuer["file_name"] == "edgar/data/1000229/0001209191-20-000788.txt"


def test_form_daily_fixed_width() -> None:
    table = parse_index(_read("daily/form.20200318.idx.gz"))
    row = _row(table, "0001209191-20-019882", 1080709)
    assert row == {
        "form_type": "4/A",
        "company_name": "ARENA PHARMACEUTICALS INC",
        "cik": 1080709,
        "date_filed": date(2020, 3, 18),
        "file_name": "edgar/data/1080709/0001209191-20-019882.txt",
        "accession": "0001209191-20-019882",
    }
    everything = parse_index(_read("daily/form.20200318.idx.gz"), forms=None)
    spaced = _row(everything, "0001010549-20-000033", 1749817)
    assert (spaced["form_type"], spaced["company_name"]) == ("1-A POS", "Belpointe REIT, Inc.")


def test_company_daily_with_broken_header() -> None:
    table = parse_index(_read("daily/company.20221003.idx.gz"))
    row = _row(table, "0001127602-22-023286", 885590)
    assert (row["form_type"], row["company_name"]) == ("4/A", "Bausch Health Companies Inc.")
    assert row["date_filed"] == date(2022, 10, 3)
    everything = parse_index(_read("daily/company.20221003.idx.gz"), forms=None)
    first = everything.slice(0, 1).to_pylist()[0]
    assert (first["company_name"], first["form_type"], first["cik"]) == (
        "1st stREIT Office Inc.",
        "1-A POS",
        1700461,
    )


def test_quarterly_dates_and_overflowing_name() -> None:
    everything = parse_index(_read("edge_cases/badform.idx.txt"), forms=None)
    row = _row(everything, "9999999997-21-003146", 820694)
    assert row["company_name"] == "UNITED PLANNERS' FINANCIAL SERVICES OF AMERICA A LIMITED PARTNER"
    assert row["form_type"] == "X-17A-5"
    assert row["date_filed"] == date(2021, 2, 24)
    quarterly = parse_index(_read("quarterly/form.2016QTR2.excerpt.idx"))
    assert _row(quarterly, "0001246360-16-005523", 1671019)["date_filed"] == date(2016, 4, 13)


def test_master_quarterly_1993_header() -> None:
    everything = parse_index(_read("quarterly/master.1993QTR4.sample.idx"), forms=None)
    row = _row(everything, "0000011860-94-000005", 11860)
    assert (row["form_type"], row["company_name"], row["date_filed"]) == (
        "10-Q",
        "BETHLEHEM STEEL CORP /DE/",
        date(1993, 11, 12),
    )


def test_crawler_urls_give_accessions() -> None:
    everything = parse_index(_read("daily/crawler_sample.20250501.idx"), forms=None)
    row = _row(everything, "0000921895-25-001237", 1873893)
    assert row["form_type"] == "SCHEDULE 13D/A"


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_empty_file_is_an_empty_table(data: bytes) -> None:
    assert parse_index(data).num_rows == 0


def test_not_an_index_is_a_clear_error() -> None:
    with pytest.raises(IndexFormatError, match="not an EDGAR"):
        parse_index(b"<html><body>403 Forbidden</body></html>")


def test_unreadable_line_names_its_number() -> None:
    data = _read("edge_cases/empty-form.idx") + b"4   garbage\n"
    with pytest.raises(IndexFormatError, match="line 11"):
        parse_index(data)


def test_crlf_line_endings_read_the_same() -> None:
    data = _read("daily/master.20181231.idx.gz")
    assert parse_index(data.replace(b"\n", b"\r\n")).equals(parse_index(data))


def test_gzip_compressed_index_is_read_directly() -> None:
    compressed = (INDEX / "daily/master.20181231.idx.gz").read_bytes()
    assert parse_index(compressed).equals(parse_index(gzip.decompress(compressed)))


def test_broken_gzip_is_a_clear_error() -> None:
    compressed = (INDEX / "daily/master.20181231.idx.gz").read_bytes()
    with pytest.raises(IndexFormatError, match="cannot be decompressed"):
        parse_index(compressed[: len(compressed) // 2])
