"""``<ownershipDocument>`` XML (Forms 3, 4, 5 and amendments, schema X0201..X0609) -> a parsed record.

One pass over the tree by element name with tag-dispatch tables: order-agnostic, unknown elements
(a stray ``<script>``, future additions) are ignored. Values are decoded by ``parsers.values``; a field
given only as a footnote reference is None, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import NamedTuple

from lxml import etree

from parsers.quality import flag_invalid
from parsers.schema import OWNERSHIP_FORMS
from parsers.values import parse_bool, parse_cik, parse_date, parse_number, text_or_none
from parsers.xml_safety import parse_xml

ROOT_TAG = "ownershipDocument"


class OwnershipError(ValueError):
    """The bytes are not a usable ownership document; the message is a one-line reason."""


class Owner(NamedTuple):
    """One ``reportingOwner``: identity, relationship flags (None when absent) and address."""

    cik: int | None
    name: str | None
    is_director: bool | None
    is_officer: bool | None
    is_ten_percent_owner: bool | None
    is_other: bool | None
    officer_title: str | None
    other_text: str | None
    street1: str | None
    street2: str | None
    city: str | None
    state: str | None
    zip_code: str | None


class Row(NamedTuple):
    """One row of Table I or II (a transaction or a holding); fields in TRANSACTIONS_SCHEMA order."""

    is_derivative: bool
    is_holding: bool
    security_title: str | None
    transaction_date: date | None
    deemed_execution_date: date | None
    transaction_form_type: str | None
    transaction_code: str | None
    equity_swap_involved: bool | None
    transaction_timeliness: str | None
    shares: float | None
    total_value: float | None
    price: float | None
    acquired_disposed: str | None
    shares_owned_after: float | None
    value_owned_after: float | None
    direct_indirect: str | None
    nature_of_ownership: str | None
    conversion_or_exercise_price: float | None
    exercise_date: date | None
    expiration_date: date | None
    underlying_security_title: str | None
    underlying_shares: float | None
    underlying_value: float | None
    footnote_ids: tuple[str, ...]
    quality: tuple[str, ...]


@dataclass(slots=True)
class OwnershipDocument:
    """Everything an ownership document says, decoded; ``recovered`` when it was not well-formed XML
    and a fallback (Windows-1252 or recover mode) read it."""

    schema_version: str | None = None
    document_type: str | None = None
    period_of_report: date | None = None
    date_of_original_submission: date | None = None
    no_securities_owned: bool | None = None
    not_subject_to_section16: bool | None = None
    form3_holdings_reported: bool | None = None
    form4_transactions_reported: bool | None = None
    issuer_cik: int | None = None
    issuer_name: str | None = None
    ticker_raw: str | None = None
    issuer_foreign_trading_symbol: str | None = None
    aff10b5one: bool | None = None
    remarks: str | None = None
    owners: list[Owner] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    footnotes: dict[str, str] = field(default_factory=dict)
    signatures: list[tuple[str | None, date | None]] = field(default_factory=list)
    recovered: bool = False
    quality: list[str] = field(default_factory=list)
    """``parsers.quality`` flags of the document's own fields (``signature_date:invalid``)."""


def parse_ownership(xml: bytes) -> OwnershipDocument:
    """Decode ownership XML bytes; raises OwnershipError (or an xml_safety error) with a one-line reason.

    The document must have an ownership document type, an issuer CIK and at least one reporting-owner
    CIK; a recovered (not well-formed) document must still end with ``</ownershipDocument>``, so a
    truncated file is refused rather than stored with rows missing.
    """
    if not xml or xml.isspace():
        raise OwnershipError("empty document")
    root, recovered = parse_xml(xml)
    if root.tag != ROOT_TAG:
        raise OwnershipError(f"not an ownership document: root element <{root.tag}>")
    if recovered and b"</" + ROOT_TAG.encode() + b">" not in xml[-4096:]:
        raise OwnershipError("truncated document: no closing </ownershipDocument>")
    doc = OwnershipDocument(recovered=recovered)
    for child in root:
        handler = _TOP.get(child.tag)
        if handler is not None:
            handler(doc, child)
        elif isinstance(child.tag, str) and child.tag.lower() == "aff10b5one":
            doc.aff10b5one = _decoded(doc, "aff10b5one", parse_bool, child.text)
    _check_required(doc)
    return doc


def _check_required(doc: OwnershipDocument) -> None:
    if doc.document_type not in OWNERSHIP_FORMS:
        raise OwnershipError(f"document type {doc.document_type!r} is not an ownership form (3, 4, 5, /A)")
    if doc.issuer_cik is None:
        raise OwnershipError("no issuer CIK (<issuer><issuerCik>)")
    if not any(owner.cik is not None for owner in doc.owners):
        raise OwnershipError("no reporting-owner CIK (<reportingOwnerId><rptOwnerCik>)")


def _decoded(doc: OwnershipDocument, column: str, decode: Callable[[str | None], object], text: str | None):
    """``decode(text)``, flagging ``column:invalid`` on the document when the text is no such value."""
    value = decode(text)
    flag_invalid(doc.quality, column, text, value)
    return value


def _all_text(element: etree._Element) -> str | None:
    """Text of an element including any mixed-content children (footnotes, remarks)."""
    if len(element) == 0:
        return text_or_none(element.text)
    return text_or_none("".join(element.itertext()))


# Top level -------------------------------------------------------------------------------------------

_ISSUER: dict[str, tuple[str, Callable[[str | None], object]]] = {
    "issuerCik": ("issuer_cik", parse_cik),
    "issuerName": ("issuer_name", text_or_none),
    "issuerTradingSymbol": ("ticker_raw", text_or_none),
    "issuerForeignTradingSymbol": ("issuer_foreign_trading_symbol", text_or_none),
}


def _issuer(doc: OwnershipDocument, element: etree._Element) -> None:
    for child in element:
        spec = _ISSUER.get(child.tag)
        if spec is not None:
            setattr(doc, spec[0], _decoded(doc, spec[0], spec[1], child.text))


_OWNER: dict[str, tuple[int, Callable[[str | None], object], str]] = {
    tag: (Owner._fields.index(name), decode, name)
    for tag, name, decode in [
        ("rptOwnerCik", "cik", parse_cik),
        ("rptOwnerName", "name", text_or_none),
        ("rptOwnerStreet1", "street1", text_or_none),
        ("rptOwnerStreet2", "street2", text_or_none),
        ("rptOwnerCity", "city", text_or_none),
        ("rptOwnerState", "state", text_or_none),
        ("rptOwnerZipCode", "zip_code", text_or_none),
        ("isDirector", "is_director", parse_bool),
        ("isOfficer", "is_officer", parse_bool),
        ("isTenPercentOwner", "is_ten_percent_owner", parse_bool),
        ("isOther", "is_other", parse_bool),
        ("officerTitle", "officer_title", text_or_none),
        ("otherText", "other_text", text_or_none),
    ]
}
_EMPTY_OWNER: list[object] = [None] * len(Owner._fields)


def _owner(doc: OwnershipDocument, element: etree._Element) -> None:
    values = _EMPTY_OWNER.copy()
    for group in element:  # reportingOwnerId, reportingOwnerAddress, reportingOwnerRelationship
        for child in group:
            spec = _OWNER.get(child.tag)
            if spec is not None:
                values[spec[0]] = _decoded(doc, spec[2], spec[1], child.text)
    doc.owners.append(Owner._make(values))


def _footnotes(doc: OwnershipDocument, element: etree._Element) -> None:
    for child in element:
        if child.tag == "footnote":
            footnote_id = text_or_none(child.get("id"))
            if footnote_id is not None:
                doc.footnotes[footnote_id] = _all_text(child) or ""


def _signature(doc: OwnershipDocument, element: etree._Element) -> None:
    name = signed = None
    for child in element:
        if child.tag == "signatureName":
            name = text_or_none(child.text)
        elif child.tag == "signatureDate":
            signed = _decoded(doc, "signature_date", parse_date, child.text)
    doc.signatures.append((name, signed))


def _table(is_derivative: bool, doc: OwnershipDocument, element: etree._Element) -> None:
    for child in element:
        is_holding = _ROW_KINDS.get(child.tag)
        if is_holding is not None:
            doc.rows.append(_row(child, is_derivative, is_holding))


def _scalar(
    attribute: str, decode: Callable[[str | None], object], doc: OwnershipDocument, element: etree._Element
) -> None:
    setattr(doc, attribute, _decoded(doc, attribute, decode, element.text))


def _document_type(text: str | None) -> str | None:
    return (text_or_none(text) or "").upper() or None


def _remarks(doc: OwnershipDocument, element: etree._Element) -> None:
    doc.remarks = _all_text(element)


_TOP: dict[str, Callable[[OwnershipDocument, etree._Element], None]] = {
    # partial, not closures: the handlers are plain functions, called (and mutation-tested) per document
    "schemaVersion": partial(_scalar, "schema_version", text_or_none),
    "documentType": partial(_scalar, "document_type", _document_type),
    "periodOfReport": partial(_scalar, "period_of_report", parse_date),
    "dateOfOriginalSubmission": partial(_scalar, "date_of_original_submission", parse_date),
    "noSecuritiesOwned": partial(_scalar, "no_securities_owned", parse_bool),
    "notSubjectToSection16": partial(_scalar, "not_subject_to_section16", parse_bool),
    "form3HoldingsReported": partial(_scalar, "form3_holdings_reported", parse_bool),
    "form4TransactionsReported": partial(_scalar, "form4_transactions_reported", parse_bool),
    "aff10b5One": partial(_scalar, "aff10b5one", parse_bool),
    "remarks": _remarks,
    "issuer": _issuer,
    "reportingOwner": _owner,
    "nonDerivativeTable": partial(_table, False),
    "derivativeTable": partial(_table, True),
    "footnotes": _footnotes,
    "ownerSignature": _signature,
}

# Table rows ------------------------------------------------------------------------------------------

_ROW_KINDS: dict[str, bool] = {
    "nonDerivativeTransaction": False,
    "nonDerivativeHolding": True,
    "derivativeTransaction": False,
    "derivativeHolding": True,
}

_ROW_FIELDS: dict[str, tuple[str, Callable[[str | None], object], bool]] = {
    # element -> (Row field, decoder, whether the text sits in a <value> child)
    "securityTitle": ("security_title", text_or_none, True),
    "transactionDate": ("transaction_date", parse_date, True),
    "deemedExecutionDate": ("deemed_execution_date", parse_date, True),
    "transactionTimeliness": ("transaction_timeliness", text_or_none, True),
    "transactionShares": ("shares", parse_number, True),
    "transactionTotalValue": ("total_value", parse_number, True),
    "transactionPricePerShare": ("price", parse_number, True),
    "transactionAcquiredDisposedCode": ("acquired_disposed", text_or_none, True),
    "sharesOwnedFollowingTransaction": ("shares_owned_after", parse_number, True),
    "valueOwnedFollowingTransaction": ("value_owned_after", parse_number, True),
    "directOrIndirectOwnership": ("direct_indirect", text_or_none, True),
    "natureOfOwnership": ("nature_of_ownership", text_or_none, True),
    "conversionOrExercisePrice": ("conversion_or_exercise_price", parse_number, True),
    "exerciseDate": ("exercise_date", parse_date, True),
    "expirationDate": ("expiration_date", parse_date, True),
    "underlyingSecurityTitle": ("underlying_security_title", text_or_none, True),
    "underlyingSecurityShares": ("underlying_shares", parse_number, True),
    "underlyingSecurityValue": ("underlying_value", parse_number, True),
    "transactionFormType": ("transaction_form_type", text_or_none, False),
    "transactionCode": ("transaction_code", text_or_none, False),
    "equitySwapInvolved": ("equity_swap_involved", parse_bool, False),
}
_ROW_SPECS: dict[str, tuple[int, Callable[[str | None], object], bool, str]] = {
    tag: (Row._fields.index(name), decode, wrapped, name)
    for tag, (name, decode, wrapped) in _ROW_FIELDS.items()
}
_EMPTY_ROW: list[object] = [None] * len(Row._fields)


def _row(element: etree._Element, is_derivative: bool, is_holding: bool) -> Row:
    """One pass over the row's descendants in document order: a field element is followed by its
    ``<value>`` child, so the value is credited to the field seen last. Text that is no value of its
    field's type is flagged ``<field>:invalid`` (``parsers.quality``)."""
    values = _EMPTY_ROW.copy()
    values[0] = is_derivative
    values[1] = is_holding
    footnote_ids: list[str] = []
    quality: list[str] = []
    pending = None
    for child in element.iter():
        tag = child.tag
        if tag == "value":
            if pending is not None:
                text = child.text
                value = values[pending[0]] = pending[1](text)
                if value is None:
                    flag_invalid(quality, pending[3], text, value)
                pending = None
        elif tag == "footnoteId":
            footnote_id = (child.get("id") or "").strip()
            if footnote_id and footnote_id not in footnote_ids:
                footnote_ids.append(footnote_id)
        else:
            spec = _ROW_SPECS.get(tag)
            if spec is None:
                pending = None
                continue
            text = child.text
            if text is not None:
                value = values[spec[0]] = spec[1](text)
                if value is None:
                    flag_invalid(quality, spec[3], text, value)
            pending = spec if spec[2] else None
    values[-2] = tuple(footnote_ids)
    values[-1] = tuple(quality)
    return Row._make(values)
