"""parse_ownership: the SEC spec-shape samples (3, 3/A, 4, 4/A, 5, 5/A) and the structural quirks."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from parsers.ownership import OwnershipError, parse_ownership
from parsers.xml_safety import MalformedXMLError, parse_xml

SPEC = Path(__file__).parent / "fixtures" / "spec_samples"


def _spec(name: str) -> bytes:
    return (SPEC / f"edgarclient__test_test_data_{name}.xml").read_bytes()


@pytest.mark.parametrize(
    ("name", "document_type", "original", "rows", "owners"),
    [
        ("doc3", "3", None, 2, 1),
        ("doc3a", "3/A", date(2003, 3, 1), 2, 1),
        ("doc4", "4", None, 6, 2),
        ("doc4a", "4/A", date(2003, 3, 1), 6, 2),
        ("doc5", "5", None, 6, 2),
        ("doc5a", "5/A", date(2003, 3, 1), 6, 2),
    ],
)
def test_spec_sample_shapes(name: str, document_type: str, original, rows: int, owners: int) -> None:
    doc = parse_ownership(_spec(name))
    assert doc.document_type == document_type
    assert doc.date_of_original_submission == original
    assert len(doc.rows) == rows
    assert len(doc.owners) == owners
    assert list(doc.footnotes) == ["F1", "F2", "F3", "F4", "F5"]
    assert doc.recovered is False


def test_form_5a_every_field() -> None:
    doc = parse_ownership(_spec("doc5a"))
    assert (doc.period_of_report, doc.not_subject_to_section16, doc.aff10b5one) == (
        date(2002, 9, 15),
        True,
        True,
    )
    assert (doc.issuer_cik, doc.issuer_name, doc.ticker_raw) == (1212121212, None, "AWI")
    first, second = doc.owners
    assert (first.cik, first.is_director, first.is_officer, first.is_ten_percent_owner, first.is_other) == (
        343434,
        True,
        True,
        False,
        True,
    )
    assert (first.officer_title, first.other_text, first.street2, first.city) == (
        "President and CEO",
        "Public Affairs Officer",
        "Apt #44",
        "Anywhere",
    )
    assert (second.cik, second.street1) == (1212121212, None)
    assert doc.remarks == "This is just a general comment."
    assert doc.signatures == [
        ("Jane Doe", date(2002, 11, 23)),
        ("John Q. Public", date(2002, 11, 22)),
        ("Uncle Sam", date(2002, 11, 24)),
    ]
    a, j, holding, s, derivative_holding, conversion = doc.rows
    assert (a.transaction_code, a.transaction_form_type, a.equity_swap_involved, a.acquired_disposed) == (
        "A",
        "5",
        True,
        "D",
    )
    assert (a.shares, a.price, a.shares_owned_after, a.direct_indirect) == (2000.0, 120.0, 22000.0, "I")
    assert a.nature_of_ownership == "This describes the nature of the ownership."
    assert a.footnote_ids == ("F4", "F5", "F3")
    assert (j.transaction_date, j.deemed_execution_date, j.transaction_timeliness) == (
        date(2002, 11, 1),
        date(2002, 11, 2),
        None,
    )
    assert (holding.is_holding, holding.security_title, holding.shares_owned_after, holding.footnote_ids) == (
        True,
        "Preferred Stock Options",
        33333.0,
        ("F1",),
    )
    assert holding.nature_of_ownership is None
    assert (s.shares_owned_after, s.value_owned_after, s.footnote_ids) == (
        None,
        2111111.0,
        ("F1", "F2", "F3"),
    )
    assert (derivative_holding.is_derivative, derivative_holding.is_holding) == (True, True)
    assert (derivative_holding.transaction_form_type, derivative_holding.transaction_code) == ("3", None)
    assert (derivative_holding.conversion_or_exercise_price, derivative_holding.underlying_value) == (
        50.55,
        100.12,
    )
    assert (derivative_holding.exercise_date, derivative_holding.expiration_date) == (
        date(1980, 12, 25),
        date(1980, 12, 25),
    )
    assert (conversion.transaction_code, conversion.shares, conversion.total_value, conversion.price) == (
        "C",
        None,
        500000.0,
        1001.23,
    )
    assert (conversion.value_owned_after, conversion.underlying_security_title) == (
        3210.88,
        "Derived Stock (HOLDING)",
    )
    assert conversion.footnote_ids == ("F1", "F3", "F5", "F2", "F4")


def test_children_in_any_order_give_the_same_record(filings_dir: Path) -> None:
    xml = (filings_dir / "sha1-d89f355775d3.xml").read_bytes()
    root = etree.fromstring(xml)
    reference = parse_ownership(xml)
    rng = random.Random(7)
    for _ in range(5):
        for element in [root, *root.iter("nonDerivativeTransaction", "transactionAmounts", "reportingOwner")]:
            children = list(element)
            rng.shuffle(children)
            element[:] = children
        shuffled = parse_ownership(etree.tostring(root))
        assert shuffled.owners == reference.owners
        assert shuffled.footnotes == reference.footnotes
        assert (shuffled.remarks, shuffled.issuer_cik, shuffled.ticker_raw) == (
            reference.remarks,
            reference.issuer_cik,
            reference.ticker_raw,
        )
        key = lambda row: (row.is_derivative, row.transaction_code or "", row.shares_owned_after or -1)  # noqa: E731
        got, want = sorted(shuffled.rows, key=key), sorted(reference.rows, key=key)
        for a, b in zip(got, want, strict=True):
            assert sorted(a.footnote_ids) == sorted(b.footnote_ids)
            assert a._replace(footnote_ids=()) == b._replace(footnote_ids=())


def _document(body: str, doc_type: str = "4") -> bytes:
    return (
        "<ownershipDocument><documentType>" + doc_type + "</documentType>"
        "<issuer><issuerCik>0000000042</issuerCik><issuerTradingSymbol> none </issuerTradingSymbol></issuer>"
        "<reportingOwner><reportingOwnerId><rptOwnerCik>7</rptOwnerCik></reportingOwnerId>"
        "<reportingOwnerRelationship><isOfficer>1</isOfficer></reportingOwnerRelationship></reportingOwner>"
        + body
        + "</ownershipDocument>"
    ).encode()


def test_unknown_elements_are_ignored() -> None:
    doc = parse_ownership(
        _document(
            "<script>alert(1)</script><futureThing><value>9</value></futureThing><futureFlag>1</futureFlag>"
            "<nonDerivativeTable><nonDerivativeTransaction><newField><value>5</value></newField>"
            "<transactionAmounts><transactionShares><value>10</value></transactionShares></transactionAmounts>"
            "</nonDerivativeTransaction></nonDerivativeTable>"
        )
    )
    [row] = doc.rows
    assert row.shares == 10.0
    assert doc.ticker_raw == "none"
    assert doc.aff10b5one is None  # only <aff10b5One> (any case) is the plan box


def test_comments_and_processing_instructions_inside_a_field_lose_nothing() -> None:
    doc = parse_ownership(
        _document(
            "<nonDerivativeTable><nonDerivativeTransaction><!-- row 1 -->"
            "<transactionAmounts><transactionShares><!-- as filed --><value>10</value></transactionShares>"
            "<transactionPricePerShare><?generator x?><value>12.5</value></transactionPricePerShare>"
            "</transactionAmounts></nonDerivativeTransaction></nonDerivativeTable>"
            "<remarks>CEO <!-- note --> under a 10b5-1 plan</remarks>"
        )
    )
    [row] = doc.rows
    assert (row.shares, row.price) == (10.0, 12.5)
    assert doc.remarks == "CEO  under a 10b5-1 plan"


def test_footnote_only_values_are_null_never_zero() -> None:
    doc = parse_ownership(
        _document(
            "<derivativeTable><derivativeTransaction>"
            '<conversionOrExercisePrice><footnoteId id="F1"/></conversionOrExercisePrice>'
            "<transactionAmounts><transactionShares><value>3</value></transactionShares>"
            '<transactionPricePerShare><footnoteId id="F2"/></transactionPricePerShare></transactionAmounts>'
            '<exerciseDate><footnoteId id="F3"/></exerciseDate>'
            "<expirationDate><value></value></expirationDate>"
            "</derivativeTransaction></derivativeTable>"
        )
    )
    [row] = doc.rows
    assert (row.conversion_or_exercise_price, row.price, row.exercise_date, row.expiration_date) == (
        None,
        None,
        None,
        None,
    )
    assert (row.shares, row.footnote_ids) == (3.0, ("F1", "F2", "F3"))


def test_values_without_value_wrapper_and_scalar_quirks() -> None:
    doc = parse_ownership(
        _document(
            "<periodOfReport>2026-07-20-05:00</periodOfReport><aff10B5One> TRUE </aff10B5One>"
            "<nonDerivativeTable><nonDerivativeTransaction><transactionDate>2020-01-02Z</transactionDate>"
            "<transactionAmounts><transactionShares> 1,234.5 </transactionShares>"
            "<transactionPricePerShare><value>$12.50</value></transactionPricePerShare></transactionAmounts>"
            "<transactionCoding><transactionCode>P</transactionCode><equitySwapInvolved>yes</equitySwapInvolved>"
            "</transactionCoding></nonDerivativeTransaction></nonDerivativeTable>"
        )
    )
    assert (doc.period_of_report, doc.aff10b5one) == (date(2026, 7, 20), True)
    [row] = doc.rows
    assert (row.transaction_date, row.shares, row.price, row.transaction_code) == (
        date(2020, 1, 2),
        1234.5,
        12.5,
        "P",
    )
    assert row.equity_swap_involved is None


def test_each_table_row_says_which_table_and_kind_it_came_from() -> None:
    shares = "<transactionAmounts><transactionShares><value>1</value></transactionShares>"
    shares += "</transactionAmounts>"
    doc = parse_ownership(
        _document(
            f"<nonDerivativeTable><nonDerivativeTransaction>{shares}</nonDerivativeTransaction>"
            "<nonDerivativeHolding/></nonDerivativeTable>"
            f"<derivativeTable><derivativeTransaction>{shares}</derivativeTransaction>"
            "<derivativeHolding/></derivativeTable>",
            doc_type="4/a",
        )
    )
    assert doc.document_type == "4/A"
    kinds = [(row.is_derivative, row.is_holding) for row in doc.rows]
    assert kinds == [(False, False), (False, True), (True, False), (True, True)]
    assert all(type(flag) is bool for kind in kinds for flag in kind)


def test_a_field_keeps_its_first_value_and_a_stray_value_changes_nothing() -> None:
    doc = parse_ownership(
        _document(
            "<nonDerivativeTable><nonDerivativeTransaction>"
            "<transactionAmounts><transactionShares><value>10</value><value>20</value></transactionShares>"
            "</transactionAmounts><transactionCoding><transactionCode>P</transactionCode><value>S</value>"
            "</transactionCoding></nonDerivativeTransaction></nonDerivativeTable>"
        )
    )
    [row] = doc.rows
    assert (row.shares, row.transaction_code) == (10.0, "P")


def test_footnote_ids_without_an_id_are_not_listed() -> None:
    doc = parse_ownership(
        _document(
            "<nonDerivativeTable><nonDerivativeTransaction><transactionAmounts><transactionShares>"
            '<value>1</value><footnoteId/><footnoteId id=" "/><footnoteId id=" F1 "/><footnoteId id="F1"/>'
            "</transactionShares></transactionAmounts></nonDerivativeTransaction></nonDerivativeTable>"
        )
    )
    assert [row.footnote_ids for row in doc.rows] == [("F1",)]


def test_footnotes_keep_the_text_of_their_inner_elements() -> None:
    doc = parse_ownership(
        _document(
            '<footnotes><footnote id="F1">Sold under a <b>Rule 10b5-1</b> plan.</footnote>'
            '<footnote id="F2"/><footnote id="F3">Price <i>weighted</i> <i>average</i>.</footnote>'
            '<footnote id="F4"> plain </footnote></footnotes>'
        )
    )
    assert doc.footnotes == {
        "F1": "Sold under a Rule 10b5-1 plan.",
        "F2": "",
        "F3": "Price weighted average.",
        "F4": "plain",
    }


def test_a_bad_byte_and_a_broken_tag_are_read_in_recover_mode() -> None:
    """Not valid UTF-8, and not well-formed as Windows-1252 either: recover mode reads what it can."""
    root, recovered = parse_xml(b"<a>\x96<b></a>")
    assert (root.tag, [child.tag for child in root], recovered) == ("a", ["b"], True)


def test_a_utf8_document_broken_otherwise_than_by_its_bytes_keeps_its_utf8_text() -> None:
    """A declaration libxml2 refuses (standalone must be yes or no) is no encoding problem: the document
    is read in recover mode as the UTF-8 it is, not re-read as Windows-1252 ("RenÃ©e")."""
    xml = b'<?xml version="1.0" standalone="perhaps"?>' + "<a><b>Ren\u00e9e</b></a>".encode()
    root, recovered = parse_xml(xml)
    assert (root[0].text, recovered) == ("Ren\u00e9e", True)


def test_windows_1252_is_read_with_the_hardened_options() -> None:
    """Bytes undefined in Windows-1252 become U+FFFD; comments, instructions and blank text are dropped
    as in a strict parse."""
    root, recovered = parse_xml(b"<a><t>\x81\x96</t><!-- note --><?pi x?>\n  <b>1</b>\n</a>")
    assert (root.text, [child.tag for child in root], recovered) == (None, ["t", "b"], True)
    assert root[0].text == "\ufffd\u2013"


def test_bytes_that_are_no_xml_at_all_are_refused_with_libxml2s_reason() -> None:
    with pytest.raises(MalformedXMLError) as refused:
        parse_xml(b"\x00\x01\x02\x03")
    assert str(refused.value).startswith("not well-formed XML: Document is empty, line 1, column 1")
    assert "\n" not in str(refused.value)


def test_recover_mode_for_a_malformed_early_filing() -> None:
    xml = _document(
        "<nonDerivativeTable ativeTable><nonDerivativeTransaction><transactionAmounts>"
        "<transactionShares><value>5</value></transactionShares></transactionAmounts>"
        "</nonDerivativeTransaction></nonDerivativeTable>"
    )
    doc = parse_ownership(xml)
    assert doc.recovered is True
    assert [row.shares for row in doc.rows] == [5.0]


def test_windows_1252_bytes_are_read_as_such(filings_dir: Path) -> None:
    data = (filings_dir / "0000842517-24-000086.txt").read_bytes()
    xml = data[data.index(b"<?xml") : data.index(b"</XML>")]
    doc = parse_ownership(xml.replace(b"Includes shares", b"Includes \x93shares\x94"))
    assert doc.recovered is True
    assert (
        doc.footnotes["F1"] == "Includes \u201cshares\u201d acquired through quarterly dividend reinvestment."
    )
    assert len(doc.rows) == 3


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"", "empty document"),
        (b"   \n", "empty document"),
        (b"<html><body/></html>", "not an ownership document: root element <html>"),
        (_document("", doc_type="10-K"), "document type '10-K' is not an ownership form"),
        (_document("", doc_type=" "), "document type None is not an ownership form"),
        (_document("").replace(b"<issuerCik>0000000042</issuerCik>", b""), "no issuer CIK"),
        (_document("").replace(b"<rptOwnerCik>7</rptOwnerCik>", b""), "no reporting-owner CIK"),
        (_document("")[:-40], "truncated document: no closing </ownershipDocument>"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not well-formed XML"),
    ],
)
def test_unusable_documents_raise_a_one_line_reason(xml: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_ownership(xml)
    assert str(raised.value).startswith(reason)
    assert "\n" not in str(raised.value)


def test_ownership_error_is_a_value_error() -> None:
    assert issubclass(OwnershipError, ValueError)


def test_text_that_is_no_value_of_its_type_is_null_and_flagged() -> None:
    doc = parse_ownership(
        _document(
            "<periodOfReport>2023-02-30</periodOfReport>"
            "<nonDerivativeTable><nonDerivativeTransaction>"
            "<transactionDate><value>2023-02-30</value></transactionDate>"
            "<transactionAmounts><transactionShares><value>1e999</value></transactionShares>"
            "<transactionPricePerShare><value> </value></transactionPricePerShare></transactionAmounts>"
            "<transactionCoding><transactionCode>P</transactionCode>"
            "<equitySwapInvolved>yes</equitySwapInvolved></transactionCoding>"
            "</nonDerivativeTransaction></nonDerivativeTable>"
            "<ownerSignature><signatureName>A</signatureName><signatureDate>2023-13-01</signatureDate>"
            "</ownerSignature>"
        )
    )
    assert doc.period_of_report is None
    assert doc.quality == ["period_of_report:invalid", "signature_date:invalid"]
    [row] = doc.rows
    assert (row.transaction_date, row.shares, row.price, row.equity_swap_involved) == (None, None, None, None)
    assert row.quality == ("transaction_date:invalid", "shares:invalid", "equity_swap_involved:invalid")


def test_each_invalid_top_level_field_is_flagged_under_its_own_column() -> None:
    """An owner's flag, the 10b5-1 box and an issuer CIK given twice (once unreadable): each unreadable
    text is null and flagged under the column it would have filled."""
    xml = _document(
        "<aff10b5one>perhaps</aff10b5one>",
    ).replace(b"<isOfficer>1</isOfficer>", b"<isOfficer>1</isOfficer><isDirector>maybe</isDirector>")
    xml = xml.replace(
        b"<issuerCik>0000000042</issuerCik>", b"<issuerCik>n/a</issuerCik><issuerCik>42</issuerCik>"
    )
    doc = parse_ownership(xml)
    assert (doc.issuer_cik, doc.aff10b5one, doc.owners[0].is_director, doc.owners[0].is_officer) == (
        42,
        None,
        None,
        True,
    )
    assert doc.quality == ["issuer_cik:invalid", "is_director:invalid", "aff10b5one:invalid"]


def test_a_signature_without_a_name_or_a_date_has_none_for_it() -> None:
    doc = parse_ownership(
        _document(
            "<ownerSignature><signatureDate>2023-01-05</signatureDate></ownerSignature>"
            "<ownerSignature><signatureName>B</signatureName></ownerSignature>"
        )
    )
    assert doc.signatures == [(None, date(2023, 1, 5)), ("B", None)]
    assert doc.quality == []


def test_clean_documents_have_no_quality_flags(filings_dir: Path) -> None:
    doc = parse_ownership((filings_dir / "0000320121-23-000040.xml").read_bytes())
    assert doc.quality == [] and all(row.quality == () for row in doc.rows)
