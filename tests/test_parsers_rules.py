"""Roles, the 10b5-1 plan flag and available_date exactly as SCORING.md sections 1, 3 and 6 say."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from parsers.availability import available_date
from parsers.plan import PLAN_PATTERN, is_plan, mentions_plan, plan_footnote_ids
from parsers.roles import (
    CEO_PATTERN,
    CFO_PATTERN,
    ROLE_WEIGHTS,
    owner_roles,
    primary_role,
    relationship_flags,
    role_title,
    role_weight,
)


def test_role_weights_are_the_contract_defaults() -> None:
    assert ROLE_WEIGHTS == {
        "ceo": 1.0,
        "cfo": 1.0,
        "officer": 0.6,
        "director": 0.5,
        "ten_percent": 0.25,
        "other": 0.25,
    }


@pytest.mark.parametrize(
    ("title", "ceo", "cfo"),
    [
        ("CEO", True, False),
        ("Chairman and CEO", True, False),
        ("President & Chief Executive Officer", True, False),
        ("principal executive officer", True, False),
        ("VICE CHAIR & CFO", False, True),
        ("VP & Chief Financial Officer", False, True),
        ("Principal Financial and Accounting Officer", False, True),
        ("CEO and CFO", True, True),
        ("Chief Accounting Officer", False, False),
        ("Executive Chairman", False, False),
        ("CEOs Office Manager", False, False),
        ("Co-CEO", True, False),
    ],
)
def test_title_patterns(title: str, ceo: bool, cfo: bool) -> None:
    assert bool(CEO_PATTERN.search(title)) is ceo
    assert bool(CFO_PATTERN.search(title)) is cfo


def test_see_remarks_uses_the_remarks() -> None:
    remarks = "Chief Executive Officer and Director; Exhibit 24 - Power of Attorney"
    for title in ("See Remarks", "SEE REMARKS", "see remarks below", "See  remarks."):
        assert role_title(title, remarks) == remarks
    assert role_title("See Remarks", None) is None
    assert role_title("CFO", remarks) == "CFO"
    assert role_title(None, remarks) is None


@pytest.mark.parametrize(
    ("flags", "title", "roles", "primary"),
    [
        ((True, True, False, False), "CEO and Board Chair", ["ceo", "director"], "ceo"),
        ((False, True, False, False), "Chief Financial Officer", ["cfo"], "cfo"),
        ((False, True, False, False), "CEO and CFO", ["ceo", "cfo"], "ceo"),
        ((True, True, True, False), "General Counsel", ["officer", "director", "ten_percent"], "officer"),
        ((True, False, True, False), None, ["director", "ten_percent"], "director"),
        ((False, False, True, False), None, ["ten_percent"], "ten_percent"),
        ((False, False, False, True), None, ["other"], "other"),
        ((None, None, None, None), None, ["other"], "other"),
        ((False, False, False, False), "CEO", ["other"], "other"),  # a title without isOfficer is no officer
        ((None, True, None, None), None, ["officer"], "officer"),
        ((False, False, True, True), None, ["ten_percent", "other"], "ten_percent"),
    ],
)
def test_owner_roles_and_primary_role(flags, title, roles, primary) -> None:
    assert owner_roles(*flags, title) == roles
    assert primary_role(roles) == primary
    assert role_weight(roles) == ROLE_WEIGHTS[primary]


def test_primary_role_follows_the_weights_given() -> None:
    """With weights that rank a director above an officer, the later role listed wins."""
    weights = {**ROLE_WEIGHTS, "director": 0.9}
    assert primary_role(["officer", "ten_percent", "director"], weights) == "director"
    assert primary_role(["officer", "director"], weights) == "director"
    assert primary_role(["ten_percent", "other"], weights) == "ten_percent"  # a tie keeps the first


@pytest.mark.parametrize(
    ("text", "flags", "primary"),
    [
        # glued forms seen in the SEC's data sets ("Other" run into the token before it)
        ("DirectorOther", (True, False, False, True), "director"),
        ("Director,OfficerOther", (True, True, False, True), "officer"),
        ("Director,TenPercentOwnerOther", (True, False, True, True), "director"),
        ("TenPercentOwnerOther", (False, False, True, True), "ten_percent"),
        ("OfficerOther", (False, True, False, True), "officer"),
        ("Director,Officer,TenPercentOwnerOther", (True, True, True, True), "officer"),
        # clean forms, any case and spacing
        ("Director", (True, False, False, False), "director"),
        ("Officer", (False, True, False, False), "officer"),
        ("TenPercentOwner", (False, False, True, False), "ten_percent"),
        ("Other", (False, False, False, True), "other"),
        ("Director,Officer", (True, True, False, False), "officer"),
        ("Officer,TenPercentOwner", (False, True, True, False), "officer"),
        ("Director,TenPercentOwner", (True, False, True, False), "director"),
        ("Director,Officer,TenPercentOwner,Other", (True, True, True, True), "officer"),
        ("DIRECTOR, OFFICER", (True, True, False, False), "officer"),
        ("tenpercentowner", (False, False, True, False), "ten_percent"),
        ("Ten Percent Owner", (False, False, True, False), "ten_percent"),
    ],
)
def test_relationship_tokens_are_read_by_containment(text: str, flags: tuple, primary: str) -> None:
    read = relationship_flags(text)
    assert read[:4] == flags and read.unread is None
    assert primary_role(owner_roles(*read[:4], None)) == primary


def test_relationship_blank_is_unknown_and_stray_text_is_kept_aside() -> None:
    assert relationship_flags(None) == relationship_flags("  ") == (None, None, None, None, None)
    assert relationship_flags("Director,Chairman") == (True, False, False, False, "chairman")


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("pursuant to a Rule 10b5-1 trading plan", True),
        ("Rule 10b-5-1", True),
        ("10B5-1", True),
        ("10b5 1 plan", True),
        ("10b51 plan", True),
        ("10b5\u20111 plan", True),
        ("10b5\u20141 plan", True),
        ("10b5_1", False),
        ("Rule 10b-5 of the Exchange Act", False),
        ("Rule 10b5", False),
        ("", False),
    ],
)
def test_plan_pattern(text: str, matches: bool) -> None:
    assert bool(PLAN_PATTERN.search(text)) is matches
    assert mentions_plan(text) is matches


def test_plan_flag_sources() -> None:
    footnotes = {"F1": "weighted average price", "F2": "adopted a Rule 10b5-1 plan on May 1"}
    plan_ids = plan_footnote_ids(footnotes)
    assert plan_ids == {"F2"}
    assert is_plan(True, False, [], plan_ids) is True
    assert is_plan(None, True, [], plan_ids) is True
    assert is_plan(False, False, ["F1", "F2"], plan_ids) is True
    assert is_plan(False, False, ["F1"], plan_ids) is False
    assert is_plan(None, False, [], plan_ids) is False


@pytest.mark.parametrize(
    ("accepted", "filed", "signed", "expected"),
    [
        (datetime(2025, 1, 10, 15, 59, 59), date(2025, 1, 10), None, date(2025, 1, 10)),
        (datetime(2025, 1, 10, 16, 0, 0), date(2025, 1, 10), None, date(2025, 1, 11)),
        (datetime(2024, 6, 7, 18, 10, 30), date(2024, 6, 7), None, date(2024, 6, 8)),
        (datetime(2024, 12, 31, 23, 0), None, None, date(2025, 1, 1)),
        (None, date(2020, 2, 28), date(2020, 1, 1), date(2020, 2, 29)),
        (None, None, date(2022, 1, 13), date(2022, 1, 14)),
        (None, None, None, None),
    ],
)
def test_available_date(accepted, filed, signed, expected) -> None:
    assert available_date(accepted, filed, signed) == expected
