"""split_submission: both SGML header forms, the PEM envelope, bare XML and the odd cases."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from parsers.submission import Submission, is_sgml, split_submission

PEM_HEAD = (
    b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\n"
    b"Proc-Type: 2001,MIC-CLEAR\n"
    b"Originator-Name: webmaster@www.sec.gov\n"
    b"Originator-Key-Asymmetric:\n"
    b" MFgwCgYEVQgBAQICAf8DSgAwRwJAW2sNKK9AVtBzYZmr6aGjlWyK3XmZv3dTINen\n"
    b"MIC-Info: RSA-MD5,RSA,\n"
    b" Gq3JpIcLCU5A4sOY0hXGSOU3HRsGB8vyYeqVhZTwF0fs0Hpq5OL1MxIpVb5K4zzH\n\n"
)
PEM_TAIL = b"\n-----END PRIVACY-ENHANCED MESSAGE-----\n"


def test_sec_document_header(filings_dir: Path) -> None:
    data = (filings_dir / "0001104659-25-025206.txt").read_bytes()
    sub = split_submission(data)
    assert (sub.accession, sub.filing_date, sub.accepted_at, sub.document_type) == (
        "0001104659-25-025206",
        date(2025, 3, 18),
        datetime(2025, 3, 18, 20, 1, 8),
        "4",
    )
    assert sub.xml.startswith(b'<?xml version="1.0"?>\n<ownershipDocument>')
    assert sub.xml.endswith(b"</ownershipDocument>")


def test_submission_tag_header(filings_dir: Path) -> None:
    sub = split_submission((filings_dir / "0000002488-24-000005.xml").read_bytes())
    assert (sub.accession, sub.filing_date, sub.accepted_at, sub.document_type) == (
        "0000002488-24-000005",
        date(2024, 1, 17),
        None,
        "4",
    )
    assert sub.xml.startswith(b'<?xml version="1.0"?>') and sub.xml.endswith(b"</ownershipDocument>")


def test_pem_wrapped_old_submission(filings_dir: Path) -> None:
    inner = (filings_dir / "0000318300-20-000201.txt").read_bytes()
    sub = split_submission(PEM_HEAD + inner + PEM_TAIL)
    assert (sub.accession, sub.filing_date, sub.accepted_at) == (
        "0000318300-20-000201",
        date(2020, 6, 2),
        datetime(2020, 6, 2, 14, 7, 2),
    )
    assert sub.xml == split_submission(inner).xml


def test_bare_xml_is_returned_unchanged(filings_dir: Path) -> None:
    data = (filings_dir / "sha1-f9f1d12693ba.xml").read_bytes()
    assert not is_sgml(data)
    assert split_submission(data) == Submission(None, None, None, None, data)


def test_ownership_document_is_found_after_other_documents(filings_dir: Path) -> None:
    inner = (filings_dir / "0000318300-20-000201.txt").read_bytes()
    header, rest = inner.split(b"<DOCUMENT>", 1)
    exhibit = (
        b"<DOCUMENT>\n<TYPE>EX-24\n<SEQUENCE>2\n<TEXT>\n<XML>\n<notThis/>\n</XML>\n</TEXT>\n</DOCUMENT>\n"
    )
    sub = split_submission(header + exhibit + b"<DOCUMENT>" + rest)
    assert sub.document_type == "4"
    assert sub.xml == split_submission(inner).xml


def test_non_ownership_submission_has_no_xml() -> None:
    data = (
        b"<SEC-DOCUMENT>0000000001-20-000001.txt : 20200102\n<SEC-HEADER>\n"
        b"ACCESSION NUMBER:\t\t0000000001-20-000001\nCONFORMED SUBMISSION TYPE:\t10-K\n"
        b"FILED AS OF DATE:\t\t20200102\n</SEC-HEADER>\n<DOCUMENT>\n<TYPE>10-K\n<TEXT>\n<XML>\n<x/>\n</XML>\n"
        b"</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )
    sub = split_submission(data)
    assert (sub.accession, sub.document_type, sub.filing_date, sub.xml) == (
        "0000000001-20-000001",
        "10-K",
        date(2020, 1, 2),
        b"",
    )


def test_ownership_type_without_xml_and_bad_acceptance_time() -> None:
    data = (
        b"<SEC-DOCUMENT>\r\n<SEC-HEADER>\r\n<ACCEPTANCE-DATETIME>20021399250000\r\n"
        b"ACCESSION NUMBER:\t\t0000000001-02-000001\r\nCONFORMED SUBMISSION TYPE:\t4\r\n</SEC-HEADER>\r\n"
        b"<DOCUMENT>\r\n<TYPE>4\r\n<TEXT>\r\nplain text form 4\r\n</TEXT>\r\n</DOCUMENT>\r\n"
    )
    sub = split_submission(data)
    assert (sub.accession, sub.accepted_at, sub.document_type, sub.xml) == (
        "0000000001-02-000001",
        None,
        "4",
        b"",
    )


def test_truncated_submission_keeps_what_is_there(filings_dir: Path) -> None:
    data = (filings_dir / "0000318300-20-000201.txt").read_bytes()
    cut = data[: data.index(b"</XML>") - 100]
    sub = split_submission(cut)
    assert sub.accession == "0000318300-20-000201"
    assert sub.xml.startswith(b'<?xml version="1.0"?>') and not sub.xml.endswith(b"</ownershipDocument>")


# Crafted wrappers: where each value is looked for, and where it stops ---------------------------------

HEADER = (
    b"ACCESSION NUMBER:\t0000000001-24-000001\nCONFORMED SUBMISSION TYPE:\t4\n"
    b"FILED AS OF DATE:\t20240105\n<ACCEPTANCE-DATETIME>20241231235959\n"
)


def wrapper(header: bytes, *documents: bytes) -> bytes:
    head = b"<SEC-DOCUMENT>\n<SEC-HEADER>\n" + header + b"</SEC-HEADER>\n"
    return head + b"".join(documents) + b"</SEC-DOCUMENT>\n"


def document(doc_type: bytes | None, body: bytes) -> bytes:
    type_line = b"" if doc_type is None else b"<TYPE>" + doc_type + b"\n"
    return b"<DOCUMENT>\n" + type_line + b"<SEQUENCE>1\n" + body + b"</DOCUMENT>\n"


def xml(text: bytes) -> bytes:
    return b"<XML>\n<ownershipDocument>" + text + b"</ownershipDocument>\n</XML>\n"


def test_every_header_field_to_its_last_digit() -> None:
    sub = split_submission(wrapper(HEADER, document(b"4", xml(b"A"))))
    assert (sub.accession, sub.filing_date, sub.accepted_at, sub.document_type, sub.xml) == (
        "0000000001-24-000001",
        date(2024, 1, 5),
        datetime(2024, 12, 31, 23, 59, 59),
        "4",
        b"<ownershipDocument>A</ownershipDocument>",
    )


def test_a_header_value_not_in_its_form_is_none_and_the_first_of_a_repeated_key_wins() -> None:
    header = (
        b"ACCESSION NUMBER:\tpending\nFILED AS OF DATE:\t20240105\nFILED AS OF DATE:\t20240201\n"
        b"<ACCEPTANCE-DATETIME>soon\n"
    )
    sub = split_submission(wrapper(header, document(b"4", xml(b"A"))))
    assert (sub.accession, sub.filing_date, sub.accepted_at) == (None, date(2024, 1, 5), None)


def test_a_wrapper_without_documents_has_its_header_to_the_last_byte_and_no_xml() -> None:
    sub = split_submission(b"<SEC-HEADER>\nCONFORMED SUBMISSION TYPE:\t4\nFILED AS OF DATE:\t20240105")
    assert (sub.document_type, sub.filing_date, sub.xml) == ("4", date(2024, 1, 5), b"")


def test_header_fields_are_read_from_the_header_only() -> None:
    """A document quoting header tags (an exhibit) lends the submission neither a type nor a time."""
    quoting = document(b"EX-99", b"<TEXT>\n<ACCEPTANCE-DATETIME>20240105093000\n</TEXT>\n")
    sub = split_submission(wrapper(b"ACCESSION NUMBER:\t0000000001-24-000001\n", quoting))
    assert (sub.accession, sub.accepted_at, sub.document_type, sub.xml) == (
        "0000000001-24-000001",
        None,
        None,
        b"",
    )


def test_values_and_documents_at_the_very_start_of_the_bytes_are_read() -> None:
    starts_with_key = b"<ACCEPTANCE-DATETIME>20240105093000\n<SUBMISSION>\n<TYPE>4\n"
    assert split_submission(starts_with_key).accepted_at == datetime(2024, 1, 5, 9, 30)
    starts_with_document = document(b"4", xml(b"A") + b"<ACCEPTANCE-DATETIME>20240105093000\n") + (
        b"<SUBMISSION>\n"
    )
    sub = split_submission(starts_with_document)
    assert (sub.accepted_at, sub.document_type) == (None, "4")
    assert sub.xml.startswith(b"<ownershipDocument>A</ownershipDocument>")


def test_the_xml_is_the_first_ownership_documents_first_block() -> None:
    sub = split_submission(
        wrapper(
            HEADER,
            document(b"EX-99", xml(b"exhibit")),
            document(None, b"<TEXT>no type line</TEXT>\n"),
            document(b"4/a", xml(b"A") + xml(b"second block")),
            document(b"EX-24", b"<TEXT>power of attorney</TEXT>\n"),
            document(b"4", xml(b"B")),
        )
    )
    assert (sub.document_type, sub.xml) == ("4/A", b"<ownershipDocument>A</ownershipDocument>")


def test_an_ownership_document_takes_its_xml_from_itself_only() -> None:
    """No <XML> in the Form 4 document: none is borrowed from the exhibit after it; an <XML> block cut
    short ends at its own document's end."""
    without = wrapper(HEADER, document(b"4", b"<TEXT>paper</TEXT>\n"), document(b"EX-99", xml(b"X")))
    assert split_submission(without).xml == b""
    cut = wrapper(HEADER, document(b"4", b"<XML>\n<ownershipDocument>A\n"), document(b"EX-99", xml(b"X")))
    assert split_submission(cut).xml == b"<ownershipDocument>A"


def test_an_xml_body_starting_on_the_tags_line_is_whole() -> None:
    sub = split_submission(wrapper(HEADER, document(b"4", b"<XML><ownershipDocument/></XML>\n")))
    assert sub.xml == b"<ownershipDocument/>"
