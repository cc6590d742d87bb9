"""Hardened XML parsing: never resolve entities, never touch the network, refuse entity declarations.

Strict parse first; a document that is not well-formed gets one recover-mode retry, and the caller is
told it was recovered. Hostile input (a DOCTYPE declaring entities: XXE or an entity-expansion bomb) is
refused before the parser sees it, or, for a document not starting with ASCII ``<`` (UTF-16, a BOM,
leading blanks), as soon as its DTD is seen; entities are never resolved either way.
"""

from __future__ import annotations

import re

from lxml import etree

_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_blank_text": True,
}
_STRICT = etree.XMLParser(**_OPTIONS)
_RECOVER = etree.XMLParser(recover=True, **_OPTIONS)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_UNSAFE = "DOCTYPE declares entities (external-entity or entity-expansion attack)"


class UnsafeXMLError(ValueError):
    """The document declares entities (XXE or an entity-expansion bomb); it is refused, not parsed."""


class MalformedXMLError(ValueError):
    """The document is not XML even in recover mode (empty, binary, or cut off before the root)."""


def check_safe(xml: bytes) -> None:
    """Raise UnsafeXMLError when the document carries entity declarations (checked on the raw bytes,
    which covers every ASCII-compatible encoding; ``parse_xml`` re-checks other encodings after parsing)."""
    if b"<!" in xml and _ENTITY.search(xml):
        raise UnsafeXMLError(_UNSAFE)


def parse_xml(xml: bytes) -> tuple[etree._Element, bool]:
    """The root element and whether recover mode was needed; raises UnsafeXMLError or MalformedXMLError."""
    check_safe(xml)
    try:
        root, recovered = etree.fromstring(xml, _STRICT), False
    except etree.XMLSyntaxError as exc:
        strict_error = exc
        try:
            root, recovered = etree.fromstring(xml, _RECOVER), True
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            raise MalformedXMLError(f"not well-formed XML: {_one_line(strict_error)}") from None
    if xml[:1] != b"<" and _declares_entities(root):
        raise UnsafeXMLError(_UNSAFE)
    return root, recovered


def _declares_entities(root: etree._Element) -> bool:
    """Whether the parsed document's internal DTD declares any entity (UTF-16 and other encodings)."""
    dtd = root.getroottree().docinfo.internalDTD
    return dtd is not None and any(True for _ in dtd.iterentities())


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
