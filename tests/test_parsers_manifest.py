"""Every one of the 608 real fixture filings against its MANIFEST.csv row (compiled independently of
this parser): document type, schema version, period, issuer, ticker, owner count, transaction codes of
both tables, footnote count, the aff10b5One checkbox and whether a footnote or the remarks cite 10b5-1."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from parsers.plan import PLAN_PATTERN
from parsers.tables import TableBuilder

MANIFEST = Path(__file__).parent / "fixtures" / "filings" / "MANIFEST.csv"
ENTRIES = list(csv.DictReader(MANIFEST.open(newline="")))
CHECKBOX = {"": None, "0": False, "false": False, "1": True, "true": True}


@pytest.fixture(scope="module")
def corpus(filings_dir: Path) -> dict:
    builder = TableBuilder(now=datetime(2026, 1, 1))
    for entry in ENTRIES:
        data = (filings_dir / entry["file"]).read_bytes()
        builder.add(data, source=entry["file"], accession=entry["accession"] or None)
    tables = builder.build()
    by_accession: dict[str, dict] = defaultdict(lambda: {"rows": [], "footnotes": [], "owners": []})
    for row in tables["transactions"].to_pylist():
        by_accession[row["accession"]]["rows"].append(row)
    for footnote in tables["footnotes"].to_pylist():
        by_accession[footnote["accession"]]["footnotes"].append(footnote["text"])
    for owner in tables["owners"].to_pylist():
        by_accession[owner["accession"]]["owners"].append(owner)
    filings = {f["source"]: f for f in tables["filings"].to_pylist()}
    return {"filings": filings, "parts": by_accession, "quarantine": tables["quarantine"].to_pylist()}


def _codes(rows: list[dict], derivative: bool) -> str:
    counts = Counter(
        r["transaction_code"] for r in rows if r["is_derivative"] is derivative and not r["is_holding"]
    )
    return " ".join(f"{code}:{n}" for code, n in sorted(counts.items()))


def test_nothing_quarantined(corpus: dict) -> None:
    assert corpus["quarantine"] == []
    assert len(corpus["filings"]) == len(ENTRIES) == 608


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_filing_matches_manifest(corpus: dict, entry: dict) -> None:
    filing = corpus["filings"][entry["file"]]
    parts = corpus["parts"][filing["accession"]]
    if entry["accession"]:
        assert filing["accession"] == entry["accession"]
    else:  # from the SUBMISSION header when there is one, else the sha1 key
        assert re.fullmatch(r"sha1-[0-9a-f]{12}|[0-9]{10}-[0-9]{2}-[0-9]{6}", filing["accession"])
    assert filing["document_type"] == entry["doc_type"]
    assert filing["schema_version"] == entry["schema_version"]
    assert filing["period_of_report"] == date.fromisoformat(entry["period_of_report"][:10])  # may carry a tz
    assert filing["issuer_cik"] == int(entry["issuer_cik"])
    assert filing["ticker_raw"] == (entry["ticker"] or None)
    assert filing["n_owners"] == len(parts["owners"]) == int(entry["n_reporting_owners"])
    assert filing["insider_cik"] == min(o["owner_cik"] for o in parts["owners"])
    assert _codes(parts["rows"], derivative=False) == entry["nonderiv_codes"]
    assert _codes(parts["rows"], derivative=True) == entry["deriv_codes"]
    assert len(parts["footnotes"]) == int(entry["n_footnotes"])
    assert filing["aff10b5one"] is CHECKBOX[entry["aff10b5One"]]
    mentions = any(PLAN_PATTERN.search(text) for text in parts["footnotes"]) or bool(
        filing["remarks"] and PLAN_PATTERN.search(filing["remarks"])
    )
    assert mentions is (entry["footnote_or_remarks_mention_10b5_1"] == "1")
    assert filing["available_date"] is not None
    assert filing["recovered"] is False
