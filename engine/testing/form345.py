"""Synthetic Insider Transactions Data Set zips with the SEC's real column layout, for scale and layout tests.

The tables and columns come from the SEC's own ``FORM_345_metadata.json`` (shipped in ``engine/data``);
the values are random but well-formed: DD-MON-YYYY dates, zero-padded CIKs, comma-separated footnote
ids resolving in FOOTNOTES, relationships as the SEC writes them, some 10b5-1 footnotes and remarks.
Real data sets are too large to ship; this is what benchmarks and the full-layout tests read.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import date, timedelta
from importlib import resources

from engine.edgar.calendar import quarter_bounds

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_TITLES = ("Chief Executive Officer", "CFO", "EVP, General Counsel", "See Remarks", "President and COO", "")
_RELATIONSHIPS = (
    "Director",
    "Officer",
    "TenPercentOwner",
    "Other",
    "Director,Officer",
    "Officer,TenPercentOwner",
    "DirectorOther",
    "Director,OfficerOther",
    "Director,TenPercentOwnerOther",
    "TenPercentOwnerOther",
)
"""Clean and glued ("Other" run into the token before it) relationship texts, as the SEC writes them."""


def dataset_columns() -> dict[str, list[str]]:
    """Table name (``SUBMISSION`` ...) -> its columns in the SEC's order, from the SEC's metadata file."""
    text = resources.files("engine").joinpath("data/form345_metadata.json").read_text()
    return {
        table["url"].removesuffix(".tsv"): [c["name"] for c in table["tableSchema"]["columns"]]
        for table in json.loads(text)["tables"]
    }


def _day(value: date) -> str:
    return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.year}"


def synthetic_dataset(
    n_filings: int,
    *,
    year: int = 2024,
    quarter: int = 3,
    seed: int = 0,
    aff10b5one: bool = True,
    lowercase_headers: bool = False,
) -> bytes:
    """A ``{year}q{quarter}_form345.zip`` of ``n_filings`` submissions (about 2.5 table rows each)."""
    rng = random.Random(seed)
    columns = dataset_columns()
    if aff10b5one:
        columns["SUBMISSION"] = [*columns["SUBMISSION"], "AFF10B5ONE"]
    first = quarter_bounds(year, quarter)[0]
    days = [
        first + timedelta(days=int(d)) for d in range(90) if (first + timedelta(days=int(d))).weekday() < 5
    ]
    tables: dict[str, list[dict[str, str]]] = {name: [] for name in columns}
    forms = rng.choices(["4", "3", "4/A", "5"], weights=[85, 9, 4, 2], k=n_filings)
    sk = 1_000_000
    for i in range(n_filings):
        accession = f"{9_000_000_000 + i % 997:010d}-{year % 100:02d}-{i:06d}"
        filed = days[rng.randrange(len(days))]
        period = filed - timedelta(days=rng.randrange(3))
        issuer = rng.randrange(1000, 2_000_000)
        plan_note = bool(rng.random() < 0.15)
        remarks = "Trades under a Rule 10b5-1 plan adopted March 1." if rng.random() < 0.05 else ""
        notes = ["F1", "F2"] if rng.random() < 0.6 else []
        tables["SUBMISSION"].append(
            {
                "ACCESSION_NUMBER": accession,
                "FILING_DATE": _day(filed),
                "PERIOD_OF_REPORT": _day(period),
                "DOCUMENT_TYPE": forms[i],
                "ISSUERCIK": f"{issuer:010d}",
                "ISSUERNAME": f"Issuer {issuer} Inc",
                "ISSUERTRADINGSYMBOL": rng.choice(["ABC", "xyz ", "NONE", "", "DEF.B"]),
                "REMARKS": remarks,
                "NOT_SUBJECT_SEC16": rng.choice(["0", "false", ""]),
                "AFF10B5ONE": rng.choice(["0", "1", "false", ""]),
                "DATE_OF_ORIG_SUB": _day(period) if forms[i].endswith("/A") else "",
            }
        )
        owners = 1 if rng.random() < 0.9 else rng.randrange(2, 4)
        for k in range(owners):
            owner = rng.randrange(1_000_000, 2_000_000)
            tables["REPORTINGOWNER"].append(
                {
                    "ACCESSION_NUMBER": accession,
                    "RPTOWNERCIK": f"{owner:010d}",
                    "RPTOWNERNAME": f"Owner {owner}",
                    "RPTOWNER_RELATIONSHIP": rng.choice(_RELATIONSHIPS),
                    "RPTOWNER_TITLE": rng.choice(_TITLES),
                    "RPTOWNER_CITY": "NEW YORK",
                    "RPTOWNER_STATE": "NY",
                    "RPTOWNER_ZIPCODE": "10001",
                }
            )
            tables["OWNER_SIGNATURE"].append(
                {
                    "ACCESSION_NUMBER": accession,
                    "OWNERSIGNATURENAME": f"/s/ Owner {owner} ({k})",
                    "OWNERSIGNATUREDATE": _day(filed),
                }
            )
        for note in notes:
            text = (
                "Sold under a Rule 10b5-1 trading plan."
                if plan_note and note == "F1"
                else "Weighted average price."
            )
            tables["FOOTNOTES"].append(
                {"ACCESSION_NUMBER": accession, "FOOTNOTE_ID": note, "FOOTNOTE_TXT": text}
            )
        counts = {
            "NONDERIV_TRANS": rng.choices((0, 1, 2, 3, 4), weights=(22, 34, 25, 13, 6))[0],
            "NONDERIV_HOLDING": int(rng.random() < 0.3),
            "DERIV_TRANS": int(rng.random() < 0.5),
            "DERIV_HOLDING": int(rng.random() < 0.2),
        }
        for table, count in counts.items():
            for _ in range(count):
                sk += 1
                shares = round(rng.lognormvariate(7, 1.5), 2)
                row = {
                    "ACCESSION_NUMBER": accession,
                    f"{table}_SK": str(sk),
                    "SECURITY_TITLE": "Common Stock",
                    "TRANS_DATE": _day(period),
                    "TRANS_FORM_TYPE": "4",
                    "TRANS_CODE": rng.choice(["P", "S", "M", "A"]),
                    "EQUITY_SWAP_INVOLVED": rng.choice(["0", "false"]),
                    "TRANS_SHARES": f"{shares}",
                    "TRANS_PRICEPERSHARE": f"{round(rng.uniform(1, 300), 4)}",
                    "TRANS_ACQUIRED_DISP_CD": rng.choice(["A", "D"]),
                    "SHRS_OWND_FOLWNG_TRANS": f"{round(shares * 3, 2)}",
                    "DIRECT_INDIRECT_OWNERSHIP": "D",
                    "TRANS_SHARES_FN": ",".join(notes[:1]),
                    "TRANS_PRICEPERSHARE_FN": ",".join(notes),
                    "CONV_EXERCISE_PRICE": "12.5",
                    "EXCERCISE_DATE": _day(period),
                    "EXERCISE_DATE": _day(period),
                    "EXPIRATION_DATE": _day(period + timedelta(days=3650)),
                    "UNDLYNG_SEC_TITLE": "Common Stock",
                    "UNDLYNG_SEC_SHARES": f"{shares}",
                }
                tables[table].append(row)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zipped:
        for name, rows in tables.items():
            header = [c.lower() if lowercase_headers else c for c in columns[name]]
            lines = ["\t".join(header)]
            lines.extend("\t".join(str(row.get(c, "")) for c in columns[name]) for row in rows)
            zipped.writestr(f"{name}.tsv", "\n".join(lines) + "\n")
    return archive.getvalue()
