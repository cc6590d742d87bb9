"""Role of a reporting owner (SCORING.md sections 1 and 6): ceo, cfo, officer, director, ten_percent, other.

An owner's role is the highest-weight role it holds; an officer's title is matched against the CEO and
CFO patterns, or the filing's remarks when the title says "See Remarks". The XML gives the four
relationship flags as elements; the SEC's data sets give them as one text (``relationship_flags``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

CEO_PATTERN = re.compile(r"\b(ceo|chief executive|principal executive)\b", re.IGNORECASE)
CFO_PATTERN = re.compile(r"\b(cfo|chief financial|principal financial)\b", re.IGNORECASE)
SEE_REMARKS_PATTERN = re.compile(r"see\s+remarks", re.IGNORECASE)

ROLE_WEIGHTS: dict[str, float] = {
    "ceo": 1.0,
    "cfo": 1.0,
    "officer": 0.6,
    "director": 0.5,
    "ten_percent": 0.25,
    "other": 0.25,
}
"""Default weight of each role; ties resolve in this order (ceo before cfo before officer ...)."""


RELATIONSHIP_TOKENS: dict[str, str] = {
    "is_director": "director",
    "is_officer": "officer",
    "is_ten_percent_owner": "tenpercentowner",
    "is_other": "other",
}
"""Owner flag -> its token in a data set's ``RPTOWNER_RELATIONSHIP`` (compared lower-case)."""


class Relationship(NamedTuple):
    """The owner flags read from ``RPTOWNER_RELATIONSHIP``, and any text that is none of the tokens."""

    is_director: bool | None
    is_officer: bool | None
    is_ten_percent_owner: bool | None
    is_other: bool | None
    unread: str | None


def relationship_flags(text: str | None) -> Relationship:
    """The four flags of a data set's ``RPTOWNER_RELATIONSHIP``, each True when its token occurs anywhere
    in the text (any case, spaces ignored): the SEC's comma-joined set is not always well formed
    ("DirectorOther", "Director,TenPercentOwnerOther"), so splitting on commas would lose roles.
    Blank text -> every flag None (unknown, as an absent XML flag)."""
    compact = "".join((text or "").lower().split())
    if not compact:
        return Relationship(None, None, None, None, None)
    flags = {flag: token in compact for flag, token in RELATIONSHIP_TOKENS.items()}
    rest = compact
    for token in RELATIONSHIP_TOKENS.values():
        rest = rest.replace(token, "")
    return Relationship(**flags, unread=rest.replace(",", "") or None)


def role_title(officer_title: str | None, remarks: str | None) -> str | None:
    """The text the title patterns are matched against: the remarks when the title says "See Remarks"."""
    if officer_title is not None and SEE_REMARKS_PATTERN.search(officer_title):
        return remarks
    return officer_title


def owner_roles(
    is_director: bool | None,
    is_officer: bool | None,
    is_ten_percent_owner: bool | None,
    is_other: bool | None,
    title: str | None,
) -> list[str]:
    """Every role an owner holds, in ROLE_WEIGHTS order; ``title`` is its role_title (see above)."""
    roles = []
    if is_officer:
        if title is not None and CEO_PATTERN.search(title):
            roles.append("ceo")
        if title is not None and CFO_PATTERN.search(title):
            roles.append("cfo")
        if not roles:
            roles.append("officer")
    if is_director:
        roles.append("director")
    if is_ten_percent_owner:
        roles.append("ten_percent")
    if is_other or not (is_director or is_officer or is_ten_percent_owner):
        roles.append("other")
    return roles


def primary_role(roles: list[str], weights: dict[str, float] = ROLE_WEIGHTS) -> str:
    """The highest-weight role of a list (the first one listed on a tie: ``owner_roles`` lists them in
    ROLE_WEIGHTS order)."""
    best = roles[0]
    for role in roles[1:]:
        if weights[role] > weights[best]:
            best = role
    return best


def role_weight(roles: list[str], weights: dict[str, float] = ROLE_WEIGHTS) -> float:
    """One owner's weight: the largest weight of the roles it holds."""
    return max(weights[role] for role in roles)
