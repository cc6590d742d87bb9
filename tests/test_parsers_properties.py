"""Property tests: generated ownership documents round-trip; damaged real filings are parsed or
quarantined, never raised; adding the same filings twice gives the same tables as adding them once."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from parsers.ownership import parse_ownership
from parsers.schema import OWNERSHIP_FORMS, STORE_TABLES
from parsers.tables import TableBuilder

FILINGS = Path(__file__).parent / "fixtures" / "filings"
CORPUS = sorted(p for p in FILINGS.iterdir() if p.suffix in {".xml", ".txt"})
NOW = datetime(2026, 1, 1)

text = (
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs"), max_codepoint=0x2FFF),
        min_size=1,
        max_size=25,
    )
    .map(str.strip)
    .filter(bool)
)
optional_text = st.none() | text
booleans = st.sampled_from([("1", True), ("0", False), ("true", True), ("FALSE", False), (" True ", True)])
optional_bool = st.none() | booleans
dates = st.builds(
    lambda d, suffix: (d.isoformat() + suffix, d),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    st.sampled_from(["", "-05:00", "Z", "+01:00"]),
)
numbers = st.builds(
    lambda d, style: (style.format(d), float(d)),
    st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from(["{}", "{:,}", "${}", " {} "]),
)
FOOTNOTE_IDS = [f"F{i}" for i in range(1, 6)]
PLAN_TEXTS = (
    "Sales under a Rule 10b5-1 plan",
    "adopted a 10b-5-1 trading plan",
    "per a 10B5 1 plan",
    "Rule 10b5\u20111 plan",
    "a 10b-5\u20141 arrangement",
)
"""Spellings of a Rule 10b5-1 plan that SCORING.md section 6 counts (hyphen, none, space, U+2011, U+2014)."""
NOT_PLAN_TEXTS = ("Rule 10b-5 does not apply", "a 10b5-2 relationship", "10b 5-1 spaced", "10b5--1 doubled")
"""Near misses that are not a 10b5-1 plan."""
labelled_texts = (
    text.filter(lambda t: "10b" not in t.lower()).map(lambda t: (t, False))
    | st.sampled_from(PLAN_TEXTS).map(lambda t: (t, True))
    | st.sampled_from(NOT_PLAN_TEXTS).map(lambda t: (t, False))
)
"""(text, whether it names a 10b5-1 plan), the label written by hand rather than computed by the regex."""

ROW_FIELDS = {  # field -> (element path, strategy of (text, expected))
    "security_title": (("securityTitle",), text.map(lambda t: (t, t))),
    "transaction_date": (("transactionDate",), dates),
    "deemed_execution_date": (("deemedExecutionDate",), dates),
    "transaction_timeliness": (("transactionTimeliness",), st.sampled_from([("E", "E"), ("L", "L")])),
    "shares": (("transactionAmounts", "transactionShares"), numbers),
    "price": (("transactionAmounts", "transactionPricePerShare"), numbers),
    "acquired_disposed": (
        ("transactionAmounts", "transactionAcquiredDisposedCode"),
        st.sampled_from(["A", "D"]),
    ),
    "shares_owned_after": (("postTransactionAmounts", "sharesOwnedFollowingTransaction"), numbers),
    "value_owned_after": (("postTransactionAmounts", "valueOwnedFollowingTransaction"), numbers),
    "direct_indirect": (("ownershipNature", "directOrIndirectOwnership"), st.sampled_from(["D", "I"])),
    "nature_of_ownership": (("ownershipNature", "natureOfOwnership"), text.map(lambda t: (t, t))),
    "conversion_or_exercise_price": (("conversionOrExercisePrice",), numbers),
    "exercise_date": (("exerciseDate",), dates),
    "expiration_date": (("expirationDate",), dates),
    "underlying_security_title": (
        ("underlyingSecurity", "underlyingSecurityTitle"),
        text.map(lambda t: (t, t)),
    ),
    "underlying_shares": (("underlyingSecurity", "underlyingSecurityShares"), numbers),
}
CODING = {
    "transaction_form_type": ("transactionFormType", st.sampled_from(["3", "4", "5"]).map(lambda t: (t, t))),
    "transaction_code": ("transactionCode", st.sampled_from(list("ACDFGJMPSXZ")).map(lambda t: (t, t))),
    "equity_swap_involved": ("equitySwapInvolved", booleans),
}


def _pair(value):
    return value if isinstance(value, tuple) else (value, value)


@st.composite
def rows(draw) -> dict:
    fields = {}
    for name, (path, strategy) in ROW_FIELDS.items():
        if draw(st.booleans()):
            fields[name] = (
                path,
                _pair(draw(strategy)),
                draw(st.lists(st.sampled_from(FOOTNOTE_IDS), max_size=2)),
            )
    coding = {name: (tag, _pair(draw(s))) for name, (tag, s) in CODING.items() if draw(st.booleans())}
    footnote_only = draw(st.lists(st.sampled_from(sorted(set(ROW_FIELDS) - set(fields))), max_size=2))
    return {
        "is_derivative": draw(st.booleans()),
        "is_holding": draw(st.booleans()),
        "fields": fields,
        "coding": coding,
        "footnote_only": {name: draw(st.sampled_from(FOOTNOTE_IDS)) for name in footnote_only},
    }


@st.composite
def documents(draw) -> dict:
    remarks, remarks_plan = draw(st.none() | labelled_texts) or (None, False)
    footnotes = {fid: draw(labelled_texts) for fid in FOOTNOTE_IDS[: draw(st.integers(0, len(FOOTNOTE_IDS)))]}
    owners = []
    for cik in draw(st.lists(st.integers(1, 9_999_999_999), min_size=1, max_size=10, unique=True)):
        owners.append(
            {
                "cik": cik,
                "name": draw(optional_text),
                "flags": [draw(optional_bool) for _ in range(4)],
                "officer_title": draw(st.none() | text | st.just("See Remarks")),
            }
        )
    return {
        "document_type": draw(st.sampled_from(sorted(OWNERSHIP_FORMS))),
        "period": draw(dates),
        "issuer_cik": draw(st.integers(1, 9_999_999_999)),
        "ticker": draw(text),
        "aff10b5one": draw(optional_bool),
        "remarks": remarks,
        "remarks_plan": remarks_plan,
        "owners": owners,
        "rows": draw(st.lists(rows(), max_size=6)),
        "footnotes": {fid: body for fid, (body, _) in footnotes.items()},
        "plan_footnotes": {fid for fid, (_, plan) in footnotes.items() if plan},
        "signatures": draw(st.lists(st.tuples(text, dates), min_size=1, max_size=3)),
        "seed": draw(st.integers(0, 2**32)),
    }


def _sub(parent: etree._Element, tag: str, value: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if value is not None:
        element.text = value
    return element


def _valued(parent: etree._Element, path: tuple[str, ...], value: str | None, footnotes: list[str]):
    for tag in path[:-1]:
        found = parent.find(tag)
        parent = found if found is not None else _sub(parent, tag)
    field = _sub(parent, path[-1])
    if value is not None:
        _sub(field, "value", value)
    for footnote_id in footnotes:
        _sub(field, "footnoteId").set("id", footnote_id)


def to_xml(doc: dict) -> bytes:
    rng = random.Random(doc["seed"])
    root = etree.Element("ownershipDocument")
    _sub(root, "documentType", doc["document_type"])
    _sub(root, "periodOfReport", doc["period"][0])
    issuer = _sub(root, "issuer")
    _sub(issuer, "issuerCik", f"{doc['issuer_cik']:010d}")
    _sub(issuer, "issuerTradingSymbol", doc["ticker"])
    for owner in doc["owners"]:
        element = _sub(root, "reportingOwner")
        identity = _sub(element, "reportingOwnerId")
        _sub(identity, "rptOwnerCik", str(owner["cik"]))
        if owner["name"] is not None:
            _sub(identity, "rptOwnerName", owner["name"])
        relationship = _sub(element, "reportingOwnerRelationship")
        for tag, flag in zip(
            ("isDirector", "isOfficer", "isTenPercentOwner", "isOther"), owner["flags"], strict=True
        ):
            if flag is not None:
                _sub(relationship, tag, flag[0])
        if owner["officer_title"] is not None:
            _sub(relationship, "officerTitle", owner["officer_title"])
    if doc["aff10b5one"] is not None:
        _sub(root, "aff10b5One", doc["aff10b5one"][0])
    tables = {False: _sub(root, "nonDerivativeTable"), True: _sub(root, "derivativeTable")}
    for row in doc["rows"]:
        kind = ("derivative" if row["is_derivative"] else "nonDerivative") + (
            "Holding" if row["is_holding"] else "Transaction"
        )
        element = _sub(tables[row["is_derivative"]], kind)
        for path, (raw, _), footnotes in row["fields"].values():
            _valued(element, path, raw, footnotes)
        for name, footnote_id in row["footnote_only"].items():
            _valued(element, ROW_FIELDS[name][0], None, [footnote_id])
        if row["coding"]:
            coding = _sub(element, "transactionCoding")
            for tag, (raw, _) in row["coding"].values():
                _sub(coding, tag, raw)
        children = list(element)
        rng.shuffle(children)
        element[:] = children
    if doc["footnotes"]:
        footnotes = _sub(root, "footnotes")
        for footnote_id, body in doc["footnotes"].items():
            _sub(footnotes, "footnote", body).set("id", footnote_id)
    if doc["remarks"] is not None:
        _sub(root, "remarks", doc["remarks"])
    for name, signed in doc["signatures"]:
        signature = _sub(root, "ownerSignature")
        _sub(signature, "signatureName", name)
        _sub(signature, "signatureDate", signed[0])
    groups: dict[str, list[etree._Element]] = {}
    for child in root:
        groups.setdefault(child.tag, []).append(child)
    order = list(groups)
    rng.shuffle(order)  # element kinds in any order; repeated ones (owners, signatures) keep theirs
    root[:] = [child for tag in order for child in groups[tag]]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=rng.random() < 0.5)


def _row_footnotes(element: etree._Element) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.get("id") for f in element.iter("footnoteId")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_round_trip(doc: dict) -> None:
    xml = to_xml(doc)
    parsed = parse_ownership(xml)
    assert (parsed.document_type, parsed.period_of_report, parsed.issuer_cik, parsed.ticker_raw) == (
        doc["document_type"],
        doc["period"][1],
        doc["issuer_cik"],
        doc["ticker"],
    )
    assert parsed.aff10b5one == (doc["aff10b5one"][1] if doc["aff10b5one"] else None)
    assert parsed.remarks == doc["remarks"]
    assert parsed.footnotes == doc["footnotes"]
    assert parsed.signatures == [(name, signed[1]) for name, signed in doc["signatures"]]
    assert [(o.cik, o.name, o.officer_title) for o in parsed.owners] == [
        (o["cik"], o["name"], o["officer_title"]) for o in doc["owners"]
    ]
    for owner, expected in zip(parsed.owners, doc["owners"], strict=True):
        flags = (owner.is_director, owner.is_officer, owner.is_ten_percent_owner, owner.is_other)
        assert flags == tuple(f[1] if f else None for f in expected["flags"])
    # document order within each table is kept; tables themselves may have been shuffled
    expected_rows = sorted(doc["rows"], key=lambda r: r["is_derivative"])
    got_rows = sorted(parsed.rows, key=lambda r: r.is_derivative)
    assert len(got_rows) == len(expected_rows)
    elements = {
        kind: list(etree.fromstring(xml).iterfind(f"{kind}/*"))
        for kind in ("nonDerivativeTable", "derivativeTable")
    }
    ordered = elements["nonDerivativeTable"] + elements["derivativeTable"]
    for got, want, element in zip(got_rows, expected_rows, ordered, strict=True):
        assert (got.is_derivative, got.is_holding) == (want["is_derivative"], want["is_holding"])
        for name in ROW_FIELDS:
            expected_value = want["fields"][name][1][1] if name in want["fields"] else None
            assert getattr(got, name) == expected_value, name
        for name in CODING:
            assert getattr(got, name) == (want["coding"][name][1][1] if name in want["coding"] else None), (
                name
            )
        assert got.footnote_ids == _row_footnotes(element)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_plan_flag_and_insider_through_the_builder(doc: dict) -> None:
    """Expected from the document as generated (SCORING.md sections 1, 3 and 6): the smallest owner CIK,
    the latest signature date + 1 (no acceptance time), and each row's plan flag from the checkbox and the
    hand-made labels of the remarks and of the footnotes the row references."""
    builder = TableBuilder(now=NOW)
    accession = builder.add(to_xml(doc), source="generated.xml")
    assert accession is not None and accession.startswith("sha1-")
    tables = builder.build()
    [filing] = tables["filings"].to_pylist()
    assert filing["insider_cik"] == min(o["cik"] for o in doc["owners"])
    assert filing["available_date"] == max(signed[1] for _, signed in doc["signatures"]) + timedelta(days=1)
    filing_plan = bool(doc["aff10b5one"] and doc["aff10b5one"][1]) or doc["remarks_plan"]
    expected, counters = {}, {False: 0, True: 0}
    for row in doc["rows"]:
        referenced = {fid for _, _, ids in row["fields"].values() for fid in ids}
        referenced |= set(row["footnote_only"].values())
        expected[row["is_derivative"], counters[row["is_derivative"]]] = filing_plan or bool(
            referenced & doc["plan_footnotes"]
        )
        counters[row["is_derivative"]] += 1
    got = {(r["is_derivative"], r["row_index"]): r["plan"] for r in tables["transactions"].to_pylist()}
    assert got == expected


def _mutate(data: bytes, kind: str, position: float, junk: bytes) -> bytes:
    at = int(position * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "overwrite":
        return data[:at] + junk + data[at + len(junk) :]
    if kind == "delete":
        return data[:at] + data[at + len(junk) :]
    return data[:at] + junk + data[at:]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(CORPUS),
    kind=st.sampled_from(["truncate", "overwrite", "delete", "insert"]),
    position=st.floats(0, 1),
    junk=st.binary(min_size=1, max_size=40) | st.sampled_from([b"<", b"</", b"&", b"]]>", b"\x00", b"<!--"]),
)
def test_damaged_real_filings_are_parsed_or_quarantined_never_raised(
    path: Path, kind, position, junk
) -> None:
    original = path.read_bytes()
    data = _mutate(original, kind, position, junk)
    builder = TableBuilder(now=NOW)
    accession = builder.add(data, source=path.name)
    tables = builder.build()
    for name, table in tables.items():
        assert table.schema.equals(STORE_TABLES[name])
    if accession is None:
        [row] = tables["quarantine"].to_pylist()
        assert row["reason"] and "\n" not in row["reason"]
        assert (row["content"], row["size"], row["source"]) == (data, len(data), path.name)
    else:
        assert tables["quarantine"].num_rows == 0
        assert tables["filings"]["accession"].to_pylist() == [accession]
    closing = original.find(b"</ownershipDocument>") + len(b"</ownershipDocument>")
    if kind == "truncate" and len(data) < closing:
        assert accession is None, "a truncated ownership document must not be stored"


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(CORPUS), min_size=1, max_size=8), st.randoms())
def test_adding_twice_gives_the_same_tables(paths: list[Path], rng) -> None:
    once, twice = TableBuilder(now=NOW), TableBuilder(now=NOW)
    for path in paths:
        once.add(path.read_bytes(), source=path.name)
    repeated = paths + paths
    for path in repeated:
        twice.add(path.read_bytes(), source=path.name)
    assert len(once) == len(twice) == len(set(paths))
    a, b = once.build(), twice.build()
    for name in STORE_TABLES:
        assert a[name].equals(b[name]), name
