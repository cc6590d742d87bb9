"""Hostile XML: external entities are never read, entity bombs are refused, nothing reaches the network."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from parsers.ownership import parse_ownership
from parsers.tables import TableBuilder
from parsers.xml_safety import _OPTIONS, _RECOVER, _STRICT, UnsafeXMLError, parse_xml

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


class Listener:
    """A TCP server on 127.0.0.1 recording every connection; it answers like a web server with a DTD
    declaring ``leak``, so a parser that fetched from it would find something to expand."""

    def __init__(self) -> None:
        self.connections: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                self.connections.append(connection.recv(4096).split(b"\r\n", 1)[0])
                body = f'<!ENTITY leak "{SECRET}">'.encode()
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/xml-dtd\r\n\r\n" + body)


class Fetcher(etree.Resolver):
    """Records every resource the parser asks for and fetches http ones from the listener.

    It stands in for libxml2's own HTTP client, which this libxml2 build (2.14) lacks: with it, a parser
    that asks for a network resource reaches the listener on any build. lxml consults resolvers before
    libxml2 applies ``no_network``, so this catches DTD loading and entity resolution; the network flag
    on its own is checked by test_the_network_stays_off_even_with_dtd_loading_forced_on."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        """Record the request; serve http from the listener, leave files to libxml2's own loader."""
        self.requested.append(url)
        if url.startswith("http://"):
            with urllib.request.urlopen(url, timeout=5) as response:
                return self.resolve_string(response.read(), context)
        return None


@pytest.fixture
def dtd_file(tmp_path: Path) -> Path:
    """An external DTD on disk declaring an entity that would leak the secret if it were loaded."""
    path = tmp_path / "evil.dtd"
    path.write_text(f'<!ENTITY leak "{SECRET}">')
    return path


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    """A Fetcher installed on the hardened parsers themselves for the duration of one test."""
    spy = Fetcher()
    for parser in (_STRICT, _RECOVER):
        parser.resolvers.add(spy)
    yield spy
    for parser in (_STRICT, _RECOVER):
        parser.resolvers.remove(spy)


def _hostile_documents(url: str, secret_file: Path, dtd_file: Path) -> dict[str, bytes]:
    """Documents that ask for an outside resource: an external DTD, entity or parameter entity, by
    http (the listener) and by file."""
    body = f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>&leak;</remarks></ownershipDocument>"
    doctypes = {
        "http DTD": f'SYSTEM "{url}/evil.dtd"',
        "http DTD by public id": f'PUBLIC "-//EVIL//DTD X//EN" "{url}/public.dtd"',
        "http entity": f'[<!ENTITY leak SYSTEM "{url}/entity.txt">]',
        "http parameter entity": f'[<!ENTITY % p SYSTEM "{url}/param.dtd"> %p;]',
        "file DTD": f'SYSTEM "{dtd_file.as_uri()}"',
        "file entity": f'[<!ENTITY leak SYSTEM "{secret_file.as_uri()}">]',
        "file parameter entity": f'[<!ENTITY % p SYSTEM "{dtd_file.as_uri()}"> %p;]',
    }
    return {
        name: f'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument {doctype}>\n{body}'.encode()
        for name, doctype in doctypes.items()
    }


HOSTILE = list(_hostile_documents("http://127.0.0.1:1", Path("/secret.txt"), Path("/evil.dtd")))


@pytest.mark.parametrize("kind", HOSTILE)
def test_no_outside_resource_is_ever_requested(
    kind: str, listener: Listener, fetcher: Fetcher, secret_file: Path, dtd_file: Path
) -> None:
    """Kills load_dtd=True and resolve_entities=True in xml_safety (each alone or with no_network=False)."""
    data = _hostile_documents(listener.url, secret_file, dtd_file)[kind]
    texts = []
    for parser in (_STRICT, _RECOVER):
        texts.append(etree.tostring(etree.fromstring(data, parser), encoding="unicode"))
    if "entity" in kind:
        with pytest.raises(UnsafeXMLError):
            parse_xml(data)
        with pytest.raises(UnsafeXMLError):
            parse_ownership(data)
    else:
        root, _ = parse_xml(data)
        texts.append(etree.tostring(root, encoding="unicode"))
        assert parse_ownership(data).issuer_cik == 1
    assert fetcher.requested == []
    assert listener.connections == []
    assert not any(SECRET in text for text in texts)


def test_the_listener_and_fetcher_do_see_a_parser_that_loads_dtds(
    listener: Listener, secret_file: Path, dtd_file: Path
) -> None:
    """The detector itself works: an lxml parser allowed to load DTDs asks for the DTD and the listener
    serves it (so an empty record above means no request, not a broken detector)."""
    careless = etree.XMLParser(load_dtd=True, resolve_entities=True, no_network=False)
    spy = Fetcher()
    careless.resolvers.add(spy)
    data = _hostile_documents(listener.url, secret_file, dtd_file)["http DTD"]
    root = etree.fromstring(data, careless)
    assert spy.requested == [f"{listener.url}/evil.dtd"]
    assert listener.connections == [b"GET /evil.dtd HTTP/1.1"]
    assert root.findtext("remarks") == SECRET


@pytest.mark.parametrize("recover", [False, True], ids=["strict", "recover"])
def test_the_network_stays_off_even_with_dtd_loading_forced_on(
    listener: Listener, secret_file: Path, dtd_file: Path, recover: bool
) -> None:
    """The second line of defence: the hardened options with DTD loading and entity resolution turned on
    still refuse every network URL (libxml2 reports the attempt and the listener sees nothing).

    Kills no_network=False in xml_safety, which no parse with the hardened options can show on its own:
    they never load anything, so the network flag only matters once a DTD or entity is loaded."""
    options = {**_OPTIONS, "load_dtd": True, "resolve_entities": True, "recover": recover}
    data = _hostile_documents(listener.url, secret_file, dtd_file)
    for kind in ("http DTD", "http entity", "http parameter entity"):
        parser = etree.XMLParser(**options)
        with contextlib.suppress(etree.XMLSyntaxError):
            etree.fromstring(data[kind], parser)
        refused = [e.message for e in parser.error_log if e.type_name == "IO_NETWORK_ATTEMPT"]
        assert refused and all("Attempt to load network entity" in message for message in refused), kind
    assert listener.connections == []


@pytest.mark.parametrize("parser", [_STRICT, _RECOVER], ids=["strict", "recover"])
def test_an_internal_entity_is_not_expanded(parser) -> None:
    """Kills resolve_entities=True or ="internal" (lxml's own default since 5.0) in xml_safety."""
    data = (
        '<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument [<!ENTITY e "EXPANDED">]>\n'
        f"<ownershipDocument>{OWNERSHIP_BODY}<remarks>before &e; after</remarks></ownershipDocument>"
    ).encode()
    remarks = etree.fromstring(data, parser).find("remarks")
    assert "EXPANDED" not in "".join(remarks.itertext())
    [reference] = list(remarks)
    assert isinstance(reference, etree._Entity) and reference.text == "&e;"
    with pytest.raises(UnsafeXMLError):
        parse_xml(data)


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
