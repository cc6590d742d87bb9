"""Hardened XML parsing: never resolve entities, never touch the network, refuse entity declarations.

Strict parse first; a document that is not well-formed gets one recover-mode retry, and the caller is
told it was recovered. Hostile input (a DOCTYPE declaring entities: XXE or an entity-expansion bomb) is
refused before the parser sees it.
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
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


class UnsafeXMLError(ValueError):
    """The document declares entities (XXE or an entity-expansion bomb); it is refused, not parsed."""


class MalformedXMLError(ValueError):
    """The document is not XML even in recover mode (empty, binary, or cut off before the root)."""


def check_safe(xml: bytes) -> None:
    """Raise UnsafeXMLError when the document carries a DOCTYPE with entity declarations."""
    if b"<!" in xml and _DOCTYPE.search(xml) and _ENTITY.search(xml):
        raise UnsafeXMLError("DOCTYPE declares entities (external-entity or entity-expansion attack)")


def parse_xml(xml: bytes) -> tuple[etree._Element, bool]:
    """The root element and whether recover mode was needed; raises UnsafeXMLError or MalformedXMLError."""
    check_safe(xml)
    try:
        return etree.fromstring(xml, _STRICT), False
    except etree.XMLSyntaxError as exc:
        strict_error = exc
    try:
        root = etree.fromstring(xml, _RECOVER)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        raise MalformedXMLError(f"not well-formed XML: {_one_line(strict_error)}")
    return root, True


def strict_error(xml: bytes) -> str:
    """The strict parser's one-line complaint about a document (for quarantine reasons)."""
    try:
        etree.fromstring(xml, _STRICT)
    except etree.XMLSyntaxError as exc:
        return _one_line(exc)
    return "well-formed"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
