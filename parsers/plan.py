"""The per-transaction Rule 10b5-1 ``plan`` flag of SCORING.md section 6."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

PLAN_PATTERN = re.compile("10b-?5[-\u2010-\u2014 ]?1", re.IGNORECASE)
"""Matches "10b5-1", "10b-5-1", "10b5 1", "10B5\u20111" ... but not a bare "Rule 10b-5"."""


def mentions_plan(text: str | None) -> bool:
    """Whether a text names a Rule 10b5-1 plan."""
    return text is not None and PLAN_PATTERN.search(text) is not None


def is_plan(
    aff10b5one: bool | None,
    remarks_mention: bool,
    footnote_ids: Iterable[str],
    plan_footnotes: Collection[str],
) -> bool:
    """True when the filing's checkbox is ticked, its remarks mention a plan, or any footnote
    referenced inside the transaction element does (``plan_footnotes``: ids whose text matches)."""
    if aff10b5one or remarks_mention:
        return True
    return any(footnote_id in plan_footnotes for footnote_id in footnote_ids)


def plan_footnote_ids(footnotes: Mapping[str, str]) -> frozenset[str]:
    """Ids of the footnotes whose text mentions a 10b5-1 plan."""
    return frozenset(footnote_id for footnote_id, text in footnotes.items() if mentions_plan(text))
