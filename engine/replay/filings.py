"""Real filings as EDGAR holds them: full submissions (bare XML wrapped in EDGAR's SGML header), their
index rows, and synthetic dated copies for volume tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from lxml import etree

from parsers.accessions import is_accession


@dataclass(frozen=True)
class ReplayFiling:
    """One filing as EDGAR would hold it: the full submission bytes and what its index rows say."""

    accession: str
    form_type: str
    filing_date: date
    ciks: tuple[tuple[int, str], ...]
    body: bytes


# -- reading real filings ----------------------------------------------------------------------------


def _header_value(text: str, *keys: str) -> str | None:
    for key in keys:
        found = re.search(rf"{re.escape(key)}[ \t]*([^\r\n<]+)", text)
        if found and found.group(1).strip():
            return found.group(1).strip()
    return None


def _ownership_xml(data: bytes) -> bytes:
    start = data.find(b"<XML>")
    if start >= 0:
        end = data.find(b"</XML>", start)
        return data[start + 5 : end if end >= 0 else len(data)].strip()
    start = data.find(b"<?xml")
    if start < 0:
        start = data.find(b"<ownershipDocument")
    end = data.rfind(b"</ownershipDocument>")
    if start < 0 or end < 0:
        raise ValueError("no ownershipDocument in the file")
    return data[start : end + len(b"</ownershipDocument>")].strip()


def _xml_facts(xml: bytes) -> dict[str, object]:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(xml, parser)
    if root is None:
        raise ValueError("unreadable XML")

    def text(path: str) -> str | None:
        found = root.findtext(path)
        return found.strip() if found and found.strip() else None

    owners = []
    for owner in root.iterfind("reportingOwner/reportingOwnerId"):
        cik = (owner.findtext("rptOwnerCik") or "").strip()
        if cik.isdigit():
            owners.append((int(cik), (owner.findtext("rptOwnerName") or "").strip()))
    signatures = sorted(
        (s.strip() for s in root.xpath("ownerSignature/signatureDate/text()") if s.strip()), reverse=True
    )
    return {
        "document_type": text("documentType"),
        "period": text("periodOfReport"),
        "issuer_cik": text("issuer/issuerCik"),
        "issuer_name": text("issuer/issuerName") or "",
        "owners": owners,
        "signature_date": signatures[0] if signatures else None,
    }


def iso_date(value: str | None) -> date | None:
    """A date from the first eight digits of ``value`` (``20240105`` or ``2024-01-05``), else None."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)[:8]
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def _next_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _derived_accession(digest: bytes, year: int) -> str:
    return f"9999999998-{year % 100:02d}-{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def wrap_submission(
    xml: bytes,
    *,
    accession: str,
    form_type: str,
    filing_date: date,
    accepted_at: datetime,
    period: date | None,
    issuer: tuple[int, str],
    owners: Iterable[tuple[int, str]],
) -> bytes:
    """A ``<SEC-DOCUMENT>`` full submission around an ownership XML, laid out like EDGAR's ``.txt``."""
    lines = [
        f"<SEC-DOCUMENT>{accession}.txt : {filing_date:%Y%m%d}",
        f"<SEC-HEADER>{accession}.hdr.sgml : {filing_date:%Y%m%d}",
        f"<ACCEPTANCE-DATETIME>{accepted_at:%Y%m%d%H%M%S}",
        f"ACCESSION NUMBER:\t\t{accession}",
        f"CONFORMED SUBMISSION TYPE:\t{form_type}",
        "PUBLIC DOCUMENT COUNT:\t\t1",
    ]
    if period:
        lines.append(f"CONFORMED PERIOD OF REPORT:\t{period:%Y%m%d}")
    lines += [f"FILED AS OF DATE:\t\t{filing_date:%Y%m%d}", f"DATE AS OF CHANGE:\t\t{filing_date:%Y%m%d}", ""]
    for cik, name in owners:
        lines += [
            "REPORTING-OWNER:\t",
            "",
            "\tOWNER DATA:\t",
            f"\t\tCOMPANY CONFORMED NAME:\t\t\t{name}",
            f"\t\tCENTRAL INDEX KEY:\t\t\t{cik:010d}",
            "",
            "\tFILING VALUES:",
            f"\t\tFORM TYPE:\t\t{form_type}",
            "\t\tSEC ACT:\t\t1934 Act",
            "",
        ]
    lines += [
        "ISSUER:\t\t",
        "",
        "\tCOMPANY DATA:\t",
        f"\t\tCOMPANY CONFORMED NAME:\t\t\t{issuer[1]}",
        f"\t\tCENTRAL INDEX KEY:\t\t\t{issuer[0]:010d}",
        "</SEC-HEADER>",
        "<DOCUMENT>",
        f"<TYPE>{form_type}",
        "<SEQUENCE>1",
        f"<FILENAME>form{form_type[0]}.xml",
        f"<DESCRIPTION>FORM {form_type}",
        "<TEXT>",
        "<XML>",
    ]
    head = "\n".join(lines).encode("latin-1", "replace") + b"\n"
    return head + xml + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"


def load_filing(path: Path) -> ReplayFiling:
    """Read one fixture file (full ``.txt`` submission, tag-form submission or bare XML) as EDGAR holds it."""
    data = path.read_bytes()
    xml = _ownership_xml(data)
    facts = _xml_facts(xml)
    head = data[: data.find(b"<DOCUMENT>")] if b"<DOCUMENT>" in data else data[:4000]
    header = head.decode("latin-1")
    issuer_cik = int(facts["issuer_cik"]) if str(facts["issuer_cik"] or "").isdigit() else None
    owners = list(facts["owners"])  # type: ignore[call-overload]
    if issuer_cik is None and not owners:
        raise ValueError(f"{path.name}: no issuer or owner CIK")
    ciks = ([(issuer_cik, str(facts["issuer_name"]))] if issuer_cik is not None else []) + [
        owner for owner in owners if owner[0] != issuer_cik
    ]
    form_type = (
        _header_value(header, "CONFORMED SUBMISSION TYPE:", "<TYPE>") or str(facts["document_type"] or "4")
    ).strip()
    if data.startswith(b"<SEC-DOCUMENT>"):
        accession = _header_value(header, "ACCESSION NUMBER:")
        filing_date = iso_date(_header_value(header, "FILED AS OF DATE:"))
        if not accession or not filing_date:
            raise ValueError(f"{path.name}: SGML header without accession or filing date")
        return ReplayFiling(accession, form_type, filing_date, tuple(ciks), data)
    digest = hashlib.sha1(xml).digest()
    period = iso_date(str(facts["period"] or ""))
    filing_date = iso_date(_header_value(header, "<FILING-DATE>"))
    if filing_date is None:
        signed = iso_date(str(facts["signature_date"] or ""))
        filing_date = signed if signed and (period is None or signed >= period) else None
        if filing_date is None:
            filing_date = (period or date(2020, 1, 2)) + timedelta(days=2)
        filing_date = _next_weekday(filing_date)
    accession = _header_value(header, "<ACCESSION-NUMBER>")
    if not accession:
        stem = path.stem
        accession = stem if is_accession(stem) else _derived_accession(digest, filing_date.year)
    seconds = int.from_bytes(digest[8:12], "big") % (16 * 3600)
    accepted_at = datetime.combine(filing_date, datetime.min.time()) + timedelta(hours=6, seconds=seconds)
    body = wrap_submission(
        xml,
        accession=accession,
        form_type=form_type,
        filing_date=filing_date,
        accepted_at=accepted_at,
        period=period,
        issuer=ciks[0],
        owners=ciks[1:] or ciks[:1],
    )
    return ReplayFiling(accession, form_type, filing_date, tuple(ciks), body)


def load_filings(directory: Path) -> list[ReplayFiling]:
    """Every ``.txt`` / ``.xml`` filing of a directory, by accession; a repeated accession is an error."""
    filings = [load_filing(p) for p in sorted(directory.iterdir()) if p.suffix in (".txt", ".xml")]
    seen: dict[str, str] = {}
    for filing in filings:
        if filing.accession in seen:
            raise ValueError(f"accession {filing.accession} appears twice in {directory}")
        seen[filing.accession] = filing.accession
    return sorted(filings, key=lambda f: f.accession)


def synthetic_copies(
    filings: list[ReplayFiling], n: int, *, start: date = date(2030, 1, 2), first: int = 0
) -> list[ReplayFiling]:
    """``n`` filings cycling over real ones under fresh accessions (``99999999..``, numbered from
    ``first``) and business days from ``start``, 1,000 a day: volume for benchmarks, each a real filing
    with its header dates and accession rewritten."""
    copies = []
    day = _next_weekday(start)
    for i in range(n):
        if i and i % 1000 == 0:
            day = _next_weekday(day + timedelta(days=1))
        source = filings[i % len(filings)]
        accession = f"9999999999-{day.year % 100:02d}-{first + i:06d}"
        body = source.body.replace(source.accession.encode(), accession.encode())
        old_day, new_day = f"{source.filing_date:%Y%m%d}".encode(), f"{day:%Y%m%d}".encode()
        body = body.replace(b": " + old_day, b": " + new_day)
        body = body.replace(b"FILED AS OF DATE:\t\t" + old_day, b"FILED AS OF DATE:\t\t" + new_day)
        body = re.sub(rb"<ACCEPTANCE-DATETIME>\d{8}", b"<ACCEPTANCE-DATETIME>" + new_day, body, count=1)
        copies.append(replace(source, accession=accession, filing_date=day, body=body))
    return copies
