"""EDGAR full-submission wrappers (``{accession}.txt``, ``.nc``) -> header fields + the ownership XML.

Handles the ``<SEC-DOCUMENT>``/``<SEC-HEADER>`` form (``KEY:<tab>value`` lines, possibly inside a
``-----BEGIN PRIVACY-ENHANCED MESSAGE-----`` envelope), the ``<SUBMISSION>`` tag form, and bare XML
(returned as is, header fields None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from parsers.accessions import ACCESSION_PATTERN
from parsers.schema import OWNERSHIP_FORMS
from parsers.values import parse_compact_date

_SGML_MARKERS = (b"<SEC-DOCUMENT>", b"<SEC-HEADER>", b"<SUBMISSION>", b"-----BEGIN PRIVACY-ENHANCED MESSAGE")
# Header keys of the two forms (``KEY:<tab>value`` and ``<KEY>value``) and the value each one starts.
_ACCEPTED = ((b"<ACCEPTANCE-DATETIME>",), re.compile(rb"[ \t]*(\d{14})"))
_ACCESSION = (
    (b"ACCESSION NUMBER:", b"<ACCESSION-NUMBER>"),
    re.compile(rb"[ \t]*(" + ACCESSION_PATTERN.encode() + rb")"),
)
_FILED = ((b"FILED AS OF DATE:", b"<FILING-DATE>"), re.compile(rb"[ \t]*(\d{8})"))
_SUBMISSION_TYPE = ((b"CONFORMED SUBMISSION TYPE:", b"<TYPE>"), re.compile(rb"[ \t]*([^\r\n<]*)"))
_DOCUMENT_TYPE = re.compile(rb"<TYPE>[ \t]*([^\r\n<]*)")


@dataclass(frozen=True, slots=True)
class Submission:
    """Header fields of a submission and the bytes of its ownership XML document."""

    accession: str | None
    filing_date: date | None
    accepted_at: datetime | None
    document_type: str | None
    xml: bytes


def is_sgml(data: bytes) -> bool:
    """Whether the bytes are an SGML submission wrapper rather than a bare XML document."""
    head = data[:512]
    return any(marker in head for marker in _SGML_MARKERS)


def split_submission(data: bytes) -> Submission:
    """Header fields and ownership XML of an SGML submission; bare XML comes back unchanged.

    ``xml`` is the ``<XML>`` body of the first document whose ``<TYPE>`` is an ownership form, or
    ``b""`` when there is none; ``document_type`` is then the submission's own type.
    """
    if not is_sgml(data):
        return Submission(None, None, None, None, data)
    first_document = data.find(b"<DOCUMENT>")
    header = data if first_document < 0 else data[:first_document]
    accepted = _header_value(header, _ACCEPTED)
    accession = _header_value(header, _ACCESSION)
    filed = _header_value(header, _FILED)
    document_type = _header_value(header, _SUBMISSION_TYPE)
    xml = b""
    if first_document >= 0:
        document_type, xml = _ownership_document(data, first_document, document_type)
    return Submission(
        accession=accession,
        filing_date=parse_compact_date(filed),
        accepted_at=_acceptance(accepted) if accepted else None,
        document_type=document_type,
        xml=xml,
    )


def _header_value(header: bytes, key: tuple[tuple[bytes, ...], re.Pattern[bytes]]) -> str | None:
    """The value after the first of the key's spellings found in the header (plain ``find``: fast)."""
    spellings, value = key
    for spelling in spellings:
        at = header.find(spelling)
        if at >= 0:
            found = value.match(header, at + len(spelling))
            text = found.group(1).decode("latin-1").strip() if found else ""
            return text or None
    return None


def _ownership_document(data: bytes, start: int, submission_type: str | None) -> tuple[str | None, bytes]:
    """(type, XML body) of the first ownership-form ``<DOCUMENT>`` from ``start`` on."""
    while start >= 0:
        end = data.find(b"</DOCUMENT>", start)
        stop = len(data) if end < 0 else end
        found = _DOCUMENT_TYPE.search(data, start, stop)
        doc_type = found.group(1).decode("latin-1").strip().upper() if found else ""
        if doc_type in OWNERSHIP_FORMS:
            body_start = data.find(b"<XML>", start, stop)
            if body_start < 0:
                return doc_type, b""
            body_end = data.find(b"</XML>", body_start, stop)
            body = data[body_start + 5 : stop if body_end < 0 else body_end]
            return doc_type, body.strip()
        start = data.find(b"<DOCUMENT>", stop)
    return submission_type, b""


def _acceptance(text: str) -> datetime | None:
    """``YYYYMMDDHHMMSS`` (New York wall clock) as a naive datetime; None if it is not a real time."""
    try:
        return datetime(
            int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14])
        )
    except ValueError:
        return None
