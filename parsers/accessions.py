"""Accessions, spelled once: EDGAR's accession number (``0001234567-24-000001``) and the store's content
key (``sha1-<12 hex>`` of the XML) for a filing that came without one.

Every reader that finds or checks an accession (SGML headers, index files, file names, the replay
server's URLs, the store's int64 codec in ``engine.store.accessions``) uses these patterns.
"""

from __future__ import annotations

import hashlib
import re

ACCESSION_PATTERN = r"\d{10}-\d{2}-\d{6}"
"""An EDGAR accession number: filer agent CIK, year, sequence (a regular expression, no anchors)."""
CONTENT_KEY_PREFIX = "sha1-"
"""Accessions of this form are content keys: the filing came with no accession number."""
CONTENT_KEY_PATTERN = CONTENT_KEY_PREFIX + r"[0-9a-f]{12}"
"""A content key (a regular expression, no anchors): 12 lower-case hex digits of the XML's sha1."""

_ACCESSION = re.compile(ACCESSION_PATTERN)
_COMPACT = re.compile(r"(\d{10})(\d{2})(\d{6})")


def is_accession(text: str) -> bool:
    """Whether ``text`` is exactly an EDGAR accession number."""
    return _ACCESSION.fullmatch(text) is not None


def find_accession(text: str) -> str | None:
    """The first accession number spelled inside ``text`` (a file name, a URL), or None."""
    found = _ACCESSION.search(text)
    return found.group(0) if found else None


def from_compact(text: str) -> str | None:
    """An accession number written without dashes (``000001154420000013``), dashed; None otherwise."""
    compact = _COMPACT.fullmatch(text)
    return "-".join(compact.groups()) if compact else None


def content_key(xml: bytes) -> str:
    """The accession of a filing without an accession number: ``sha1-`` and 12 hex digits of its XML."""
    return CONTENT_KEY_PREFIX + hashlib.sha1(xml).hexdigest()[:12]


def is_content_key(accession: str) -> bool:
    """Whether an accession is a content key (``sha1-...``) rather than an EDGAR accession number."""
    return accession.startswith(CONTENT_KEY_PREFIX)
