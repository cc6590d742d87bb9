"""Hostile XML: external entities are never read, entity bombs are refused, nothing reaches the network."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from parsers.ownership import parse_ownership
from parsers.tables import TableBuilder
from parsers.xml_safety import _RECOVER, _STRICT, UnsafeXMLError, parse_xml

SECRET = "TOP-SECRET-7f3a9c"

OWNERSHIP_BODY = (
    "<documentType>4</documentType>"
    "<issuer><issuerCik>1</issuerCik><issuerTradingSymbol>X</issuerTradingSymbol></issuer>"
    "<reportingOwner><reportingOwnerId><rptOwnerCik>2</rptOwnerCik></reportingOwnerId></reportingOwner>"
)


def _xxe(secret_file: Path) -> str:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE ownershipDocument [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>&xxe;</remarks></ownershipDocument>"
    )


def _bomb(levels: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels)
    ]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument [{"".join(entities)}]>\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>&lol{levels - 1};</remarks></ownershipDocument>"
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def _quarantined(data: bytes) -> dict:
    builder = TableBuilder(now=datetime(2026, 1, 1))
    assert builder.add(data, source="hostile.xml", accession="0000000000-26-000001") is None
    tables = builder.build()
    assert tables["filings"].num_rows == 0
    [row] = tables["quarantine"].to_pylist()
    return row


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be"])
def test_external_entity_is_refused_and_never_read(secret_file: Path, encoding: str) -> None:
    text = _xxe(secret_file)
    if encoding != "utf-8":
        text = text.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding.upper()}"?>')
    data = text.encode(encoding)
    row = _quarantined(data)
    assert row["reason"].startswith("DOCTYPE declares entities")
    assert row["content"] == data
    assert SECRET.encode(encoding) not in row["reason"].encode(encoding)
    with pytest.raises(UnsafeXMLError):
        parse_ownership(data)


@pytest.mark.parametrize("parser", [_STRICT, _RECOVER], ids=["strict", "recover"])
def test_the_parsers_themselves_never_resolve_external_entities(secret_file: Path, parser) -> None:
    root = etree.fromstring(_xxe(secret_file).encode(), parser)
    assert SECRET not in etree.tostring(root, encoding="unicode")
    assert SECRET not in "".join(root.itertext())


def test_external_dtd_is_not_loaded(secret_file: Path, tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak "{SECRET}">')
    data = (
        f'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument SYSTEM "{dtd.as_uri()}">\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>&leak;</remarks></ownershipDocument>"
    ).encode()
    root, _ = parse_xml(data)
    assert SECRET not in etree.tostring(root, encoding="unicode")


def test_network_dtd_is_not_fetched() -> None:
    data = (
        '<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument SYSTEM "http://127.0.0.1:9/never.dtd">\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}</ownershipDocument>"
    ).encode()
    started = time.perf_counter()
    doc = parse_ownership(data)
    assert doc.issuer_cik == 1
    assert time.perf_counter() - started < 1.0


def test_billion_laughs_is_refused_fast() -> None:
    data = _bomb().encode()
    started = time.perf_counter()
    row = _quarantined(data)
    assert time.perf_counter() - started < 1.0
    assert row["reason"].startswith("DOCTYPE declares entities")
    assert row["size"] == len(data)


@pytest.mark.parametrize("parser", [_STRICT, _RECOVER], ids=["strict", "recover"])
def test_the_parsers_themselves_do_not_expand_a_bomb(parser) -> None:
    started = time.perf_counter()
    try:
        root = etree.fromstring(_bomb().encode(), parser)
    except etree.XMLSyntaxError:
        root = None
    assert time.perf_counter() - started < 1.0
    if root is not None:
        assert len(etree.tostring(root)) < 100_000


def test_quadratic_blowup_entity_is_refused() -> None:
    data = (
        f'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument [<!ENTITY a "{"x" * 50_000}">]>\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>{'&a;' * 1000}</remarks></ownershipDocument>"
    ).encode()
    assert _quarantined(data)["reason"].startswith("DOCTYPE declares entities")


@pytest.mark.parametrize(
    "remarks",
    [b"A" * 10_000_001, b"<![CDATA[" + b"A" * 10_000_001 + b"]]>", b"<b>" * 300 + b"</b>" * 300],
    ids=["text over 10 MB", "CDATA over 10 MB", "nesting 300 deep"],
)
def test_a_document_beyond_the_parser_limits_is_quarantined_not_cut(remarks: bytes) -> None:
    data = (
        b'<?xml version="1.0"?><ownershipDocument>'
        + OWNERSHIP_BODY.encode()
        + b"<remarks>"
        + remarks
        + b"</remarks></ownershipDocument>"
    )
    row = _quarantined(data)
    assert row["reason"].startswith(
        "beyond the XML parser's limits (a text over 10 MB or nesting over 256 deep)"
    )
    assert row["content"] == data
