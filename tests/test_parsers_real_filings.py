"""Hand-checked real filings: every expected value below was read by eye from the fixture document.

Covers codes P, S, M, F, G, A, C, J; derivative transactions and holdings; 1, 3 and 10 owners; prices
given only as a footnote; aff10b5One 1/0/true/false and absent; a 4/A; Form 3 holdings (and a Form 3
with nothing owned); a Form 5; both SGML wrappers; bare XML; stray <script> elements; X0203 to X0609.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers.tables import TableBuilder

NY = ZoneInfo("America/New_York")
D = date

# Columns compared for each table row, in this order.
ROW = (
    "is_derivative",
    "is_holding",
    "row_index",
    "transaction_code",
    "transaction_date",
    "shares",
    "price",
    "acquired_disposed",
    "shares_owned_after",
    "direct_indirect",
    "nature_of_ownership",
    "footnote_ids",
    "plan",
)


class Parsed:
    """One fixture filing through TableBuilder, as Python rows."""

    def __init__(self, filings_dir: Path, name: str, accession: str | None = None) -> None:
        self.data = (filings_dir / name).read_bytes()
        builder = TableBuilder(now=datetime(2026, 1, 1))
        self.accession = builder.add(self.data, source=name, accession=accession)
        tables = builder.build()
        assert tables["quarantine"].num_rows == 0, tables["quarantine"].to_pylist()
        [self.filing] = tables["filings"].to_pylist()
        self.owners = tables["owners"].to_pylist()
        self.rows = sorted(
            tables["transactions"].to_pylist(), key=lambda r: (r["is_derivative"], r["row_index"])
        )
        self.footnotes = {f["footnote_id"]: f["text"] for f in tables["footnotes"].to_pylist()}

    def row_tuples(self) -> list[tuple]:
        return [tuple(row[c] for c in ROW) for row in self.rows]

    def filing_fields(self, *names: str) -> tuple:
        return tuple(self.filing[n] for n in names)


def test_draftkings_sgml_sales_with_checkbox(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0001104659-25-025206.txt")
    assert p.accession == "0001104659-25-025206"
    f = p.filing
    assert (f["document_type"], f["schema_version"], f["period_of_report"]) == ("4", "X0508", D(2025, 3, 14))
    assert (f["issuer_cik"], f["issuer_name"], f["ticker"], f["ticker_raw"]) == (
        1883685,
        "DraftKings Inc.",
        "DKNG",
        "DKNG",
    )
    assert f["filing_date"] == D(2025, 3, 18)
    assert f["accepted_at"] == datetime(2025, 3, 18, 20, 1, 8, tzinfo=NY)
    assert f["available_date"] == D(2025, 3, 19)  # accepted after 16:00
    assert (f["aff10b5one"], f["not_subject_to_section16"], f["insider_cik"], f["n_owners"]) == (
        True,
        False,
        1404430,
        1,
    )
    assert f["signatures"] == [{"name": "/s/ Faisal Hasan, attorney-in-fact", "date": D(2025, 3, 18)}]
    assert (f["filing_year"], f["filing_month"]) == (2025, 3)
    [owner] = p.owners
    assert owner == {
        "accession": "0001104659-25-025206",
        "owner_index": 0,
        "owner_cik": 1404430,
        "owner_name": "Dodge R Stanton",
        "is_director": False,
        "is_officer": True,
        "is_ten_percent_owner": False,
        "is_other": False,
        "officer_title": "Chief Legal Officer",
        "other_text": None,
        "role_title": "Chief Legal Officer",
        "role": "officer",
        "street1": "C/O DRAFTKINGS INC.",
        "street2": "222 BERKELEY STREET, 5TH FLOOR",
        "city": "BOSTON",
        "state": "MA",
        "zip_code": "02116",
        "filing_year": 2025,
        "filing_month": 3,
    }
    assert p.row_tuples() == [
        (False, False, 0, "S", D(2025, 3, 14), 49252.0, 37.59, "D", 710145.0, "D", None, ["F1", "F2"], True),
        (False, False, 1, "S", D(2025, 3, 14), 3525.0, 38.05, "D", 706620.0, "D", None, ["F1", "F3"], True),
        (False, False, 2, "S", D(2025, 3, 17), 52777.0, 39.0, "D", 653843.0, "D", None, ["F1"], True),
    ]
    first = p.rows[0]
    assert (first["deemed_execution_date"], first["transaction_timeliness"], first["security_title"]) == (
        None,
        None,
        "Class A Common Stock",
    )
    assert (first["transaction_form_type"], first["equity_swap_involved"]) == ("4", False)
    assert (first["document_type"], first["issuer_cik"], first["ticker"], first["insider_cik"]) == (
        "4",
        1883685,
        "DKNG",
        1404430,
    )
    assert first["available_date"] == D(2025, 3, 19)
    assert p.footnotes["F1"].startswith("The reported sale was made pursuant to a pre-arranged program")
    assert len(p.footnotes) == 3


def test_isabella_purchase_with_holdings_checkbox_zero(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000842517-24-000086.txt")
    assert p.filing_fields("issuer_cik", "ticker", "aff10b5one", "accepted_at", "available_date") == (
        842517,
        "ISBA",
        False,
        datetime(2024, 5, 1, 13, 7, 22, tzinfo=NY),
        D(2024, 5, 1),  # accepted before 16:00
    )
    assert p.filing["remarks"] is None
    [owner] = p.owners
    assert (owner["owner_name"], owner["is_director"], owner["role"], owner["street2"]) == (
        "McGuirk Richard L",
        True,
        "director",
        None,
    )
    assert p.row_tuples() == [
        (False, False, 0, "P", D(2024, 4, 29), 275.634, 18.14, "A", 15711.8844, "D", None, ["F1"], False),
        (False, True, 1, None, None, None, None, None, 2170.3157, "I", "Held by minor child", ["F1"], False),
        (False, True, 2, None, None, None, None, None, 383262.5326, "I", "Held by LLC", ["F1"], False),
    ]
    assert p.rows[0]["security_title"] == "common"


def test_peoples_bancorp_j_codes_without_footnotes(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000318300-20-000201.txt")
    assert p.filing_fields(
        "period_of_report", "not_subject_to_section16", "available_date", "aff10b5one"
    ) == (
        D(2020, 2, 18),
        True,
        D(2020, 6, 2),
        None,
    )
    assert p.owners[0]["role"] == "officer"
    assert p.owners[0]["officer_title"] == "Chief Credit Officer"
    assert p.row_tuples() == [
        (False, False, 0, "J", D(2020, 2, 18), 7.6, 0.0, "A", 540.21, "I", "401 (k) Plan", [], False),
        (False, False, 1, "J", D(2020, 5, 18), 17.66, 0.0, "A", 557.87, "I", "401 (k) Plan", [], False),
    ]
    assert p.footnotes == {}


def test_palo_alto_4a_bare_xml_keyed_by_sha1(filings_dir: Path) -> None:
    name = "sha1-f9f1d12693ba.xml"
    p = Parsed(filings_dir, name)
    expected = "sha1-" + hashlib.sha1((filings_dir / name).read_bytes()).hexdigest()[:12]
    assert p.accession == p.filing["accession"] == expected
    f = p.filing
    assert (f["document_type"], f["date_of_original_submission"], f["period_of_report"]) == (
        "4/A",
        D(2021, 12, 15),
        D(2021, 12, 14),
    )
    assert (f["filing_date"], f["accepted_at"], f["signature_date"]) == (None, None, D(2022, 1, 13))
    assert f["available_date"] == D(2022, 1, 14)  # latest signature + 1
    assert (f["filing_year"], f["filing_month"]) == (2022, 1)
    assert f["remarks"] == (
        "The sole purpose of this amendment is to add the Reporting Person's Power of Attorney as Exhibit 24."
    )
    assert p.owners[0]["role"] == "director"
    assert p.row_tuples() == [
        (False, False, 0, "A", D(2021, 12, 14), 661.0, 0.0, "A", 7448.0, "D", None, ["F1"], False),
    ]
    assert p.rows[0]["transaction_timeliness"] is None
    assert p.footnotes["F1"].startswith('Each share is represented by a Restricted Stock Unit ("RSU").')


def test_cardinal_form3_no_securities_owned(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000721371-20-000061.txt")
    assert p.filing_fields("document_type", "schema_version", "no_securities_owned", "available_date") == (
        "3",
        "X0206",
        True,
        D(2020, 7, 8),
    )
    assert p.rows == []
    assert p.owners[0]["officer_title"] is None
    assert p.owners[0]["role"] == "director"


def test_rivernorth_form3_holding_with_other_owner(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000898432-20-000437.txt")
    assert p.filing_fields("document_type", "no_securities_owned", "available_date", "issuer_cik") == (
        "3",
        False,
        D(2020, 3, 27),  # accepted 21:28:30
        1790177,
    )
    [owner] = p.owners
    assert (owner["is_director"], owner["is_officer"], owner["is_other"], owner["other_text"]) == (
        None,
        None,
        True,
        "Portfolio Manager",
    )
    assert owner["role"] == "other"
    assert p.row_tuples() == [
        (False, True, 0, None, None, None, None, None, 0.0, "D", None, ["F1"], False),
    ]


def test_vmware_x0203_form3_derivative_holdings(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "sha1-e8ee9564b50c.xml")
    assert p.filing_fields("schema_version", "document_type", "available_date", "ticker") == (
        "X0203",
        "3",
        D(2011, 2, 1),
        "VMW",
    )
    assert p.owners[0]["officer_title"] == "Co-President, Customer Ops."
    assert p.owners[0]["role"] == "officer"
    assert p.row_tuples()[0] == (False, True, 0, None, None, None, None, None, 99103.0, "D", None, [], False)
    derivative = [
        (
            r["row_index"],
            r["is_holding"],
            r["security_title"],
            r["conversion_or_exercise_price"],
            r["exercise_date"],
            r["expiration_date"],
            r["underlying_security_title"],
            r["underlying_shares"],
            r["footnote_ids"],
        )
        for r in p.rows
        if r["is_derivative"]
    ]
    option = "Employee Stock Option (right to buy)"
    assert derivative == [
        (0, True, option, 21.87, None, D(2016, 5, 3), "Class A Common Stock", 15290.0, ["F1"]),
        (1, True, option, 23.0, None, D(2013, 6, 8), "Class A Common Stock", 43751.0, ["F2"]),
        (2, True, option, 30.8, None, D(2015, 6, 15), "Class A Common Stock", 31251.0, ["F3"]),
    ]
    assert all(r["shares_owned_after"] is None for r in p.rows if r["is_derivative"])


def test_schneider_form5_gift_with_footnote_only_price(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000892712-20-000081.txt")
    f = p.filing
    assert (f["document_type"], f["form3_holdings_reported"], f["form4_transactions_reported"]) == (
        "5",
        False,
        False,
    )
    assert f["available_date"] == D(2020, 2, 13)  # accepted 16:29:48
    assert p.owners[0]["role"] == "ten_percent"
    assert p.row_tuples()[:2] == [
        (False, False, 0, "G", D(2019, 3, 5), 16549.0, None, "A", 1537590.0, "D", None, ["F1"], False),
        (False, True, 1, None, None, None, None, None, 3029320.0, "I", "By Trusts", [], False),
    ]
    assert p.rows[0]["transaction_form_type"] == "5"
    derivative = p.rows[2]
    assert (derivative["is_derivative"], derivative["is_holding"], derivative["security_title"]) == (
        True,
        True,
        "Class A Common Stock",
    )
    assert (
        derivative["conversion_or_exercise_price"],
        derivative["exercise_date"],
        derivative["expiration_date"],
    ) == (None, None, None)
    assert (derivative["underlying_security_title"], derivative["underlying_shares"]) == (
        "Class B Common Stock",
        16605900.0,
    )
    assert (derivative["shares_owned_after"], derivative["nature_of_ownership"]) == (
        16605900.0,
        "See Footnote 2.",
    )
    assert derivative["footnote_ids"] == ["F2"]


def test_amd_submission_tag_wrapper(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000002488-24-000005.xml")
    assert p.accession == "0000002488-24-000005"
    f = p.filing
    assert (f["filing_date"], f["accepted_at"], f["available_date"]) == (D(2024, 1, 17), None, D(2024, 1, 18))
    assert (f["issuer_name"], f["ticker"], f["aff10b5one"]) == ("ADVANCED MICRO DEVICES INC", "AMD", False)
    [owner] = p.owners
    assert (owner["is_officer"], owner["is_other"], owner["other_text"], owner["officer_title"]) == (
        False,
        True,
        "Chief Accounting Officer",
        None,
    )
    assert (owner["role"], owner["role_title"]) == ("other", None)
    assert p.row_tuples() == [
        (False, False, 0, "M", D(2024, 1, 15), 472.0, 0.0, "A", 6076.0, "D", None, [], False),
        (False, False, 1, "F", D(2024, 1, 15), 189.0, 146.56, "D", 5887.0, "D", None, ["F1"], False),
        (True, False, 0, "M", D(2024, 1, 15), 472.0, 0.0, "D", 473.0, "D", None, ["F2", "F3"], False),
    ]
    rsu = p.rows[2]
    assert (rsu["security_title"], rsu["conversion_or_exercise_price"], rsu["exercise_date"]) == (
        "Restricted Stock Units",
        None,
        None,
    )
    assert (rsu["underlying_security_title"], rsu["underlying_shares"]) == ("Common Stock", 472.0)


def test_wd40_script_element_and_footnote_only_prices(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "sha1-3f3fa1f386ed.xml")
    f = p.filing
    assert (f["issuer_cik"], f["ticker"], f["recovered"], f["available_date"]) == (
        105132,
        "WDFC",
        False,
        D(2021, 10, 27),
    )
    assert f["signatures"] == [
        {"name": "Richard T. Clampitt, attorney-in-fact for Garry O. Ridge", "date": D(2021, 10, 26)}
    ]
    [owner] = p.owners
    assert (owner["is_director"], owner["is_officer"], owner["officer_title"], owner["role"]) == (
        True,
        True,
        "CEO and Board Chair",
        "ceo",
    )
    assert p.row_tuples() == [
        (False, False, 0, "F", D(2021, 10, 22), 2032.0, None, "D", 66340.648, "D", None, ["F1"], False),
        (False, False, 1, "F", D(2021, 10, 22), 3961.0, None, "D", 62379.648, "D", None, ["F2"], False),
        (False, False, 2, "F", D(2021, 10, 22), 1672.0, None, "D", 60707.648, "D", None, ["F3", "F4"], False),
        (False, True, 3, None, None, None, None, None, 12460.505, "I", "By Spouse", ["F5"], False),
    ]


def test_microvision_x0609(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "sha1-5ce22dfda270.xml")
    f = p.filing
    assert (f["schema_version"], f["issuer_foreign_trading_symbol"], f["available_date"]) == (
        "X0609",
        None,
        D(2026, 6, 11),
    )
    assert (p.owners[0]["officer_title"], p.owners[0]["role"], p.owners[0]["city"]) == (
        "GC",
        "officer",
        "REDMOND",
    )
    assert p.row_tuples() == [
        (False, False, 0, "M", D(2026, 6, 8), 150000.0, 0.0, "A", 622308.0, "D", None, ["F1"], False),
        (False, False, 1, "M", D(2026, 6, 8), 118800.0, 0.0, "A", 741108.0, "D", None, ["F1"], False),
        (
            False,
            False,
            2,
            "F",
            D(2026, 6, 10),
            77905.0,
            0.3621,
            "D",
            663203.0,
            "D",
            None,
            ["F2", "F3"],
            False,
        ),
        (True, False, 0, "A", D(2026, 6, 8), 150000.0, 0.0, "A", 150000.0, "D", None, ["F4", "F5"], False),
        (True, False, 1, "M", D(2026, 6, 8), 150000.0, 0.0, "D", 0.0, "D", None, ["F6", "F5"], False),
        (True, False, 2, "M", D(2026, 6, 8), 118800.0, 0.0, "D", 0.0, "D", None, ["F6", "F7"], False),
    ]
    grant = p.rows[3]
    assert (grant["conversion_or_exercise_price"], grant["exercise_date"], grant["expiration_date"]) == (
        0.0,
        D(2026, 6, 8),
        D(2026, 6, 8),
    )
    assert (grant["underlying_security_title"], grant["underlying_shares"]) == ("Common stock", 150000.0)


def test_coresite_ten_owners(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000950123-20-007937.txt")
    f = p.filing
    assert (f["n_owners"], f["insider_cik"], f["available_date"], f["not_subject_to_section16"]) == (
        10,
        1501294,
        D(2020, 8, 8),
        True,
    )
    assert [o["owner_cik"] for o in p.owners] == [
        1501294,
        1501297,
        1501694,
        1501300,
        1501301,
        1501512,
        1641308,
        1501299,
        1501302,
        1501695,
    ]
    assert [o["owner_index"] for o in p.owners] == list(range(10))
    assert {o["role"] for o in p.owners} == {"ten_percent"}
    assert p.owners[6]["owner_name"] == "CoreSite CRP III Holdings (VCOC), LLC"
    assert (p.owners[0]["street1"], p.owners[0]["zip_code"]) == ("C/O THE CARLYLE GROUP, 1001", "20004-2505")
    assert len(f["signatures"]) == 10
    assert f["signatures"][2]["name"].startswith("CoreSite CRP III Holdings, LLC, By: Carlyle Realty III")
    assert {s["date"] for s in f["signatures"]} == {D(2020, 8, 7)}
    nature = "See footnote"
    assert p.row_tuples() == [
        (
            False,
            False,
            0,
            "M",
            D(2020, 8, 5),
            230172.0,
            None,
            "A",
            230172.0,
            "I",
            nature,
            ["F1", "F2"],
            False,
        ),
        (False, False, 1, "S", D(2020, 8, 5), 230172.0, 128.55, "D", 0.0, "I", nature, ["F2"], False),
        (True, False, 0, "M", D(2020, 8, 5), 230172.0, None, "D", 0.0, "I", nature, ["F1", "F2"], False),
    ]
    assert p.rows[2]["security_title"] == "Operating Partnership Units"


def test_square_conversions_and_distributions(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000899243-18-030317.xml", accession="0000899243-18-030317")
    assert p.accession == "0000899243-18-030317"
    assert p.filing_fields("issuer_name", "ticker", "available_date") == (
        "Square, Inc.",
        "SQ",
        D(2018, 12, 7),
    )
    assert p.owners[0]["owner_name"] == "BOTHA ROELOF"
    fund = "By Sequoia Capital U.S. Venture 2010 Fund, LP"
    q_fund = "By Sequoia Capital U.S. Venture 2010 Partners Fund (Q), LP"
    partners = "By Sequoia Capital U.S. Venture 2010 Partners Fund, LP"
    seed = "By Sequoia Capital U.S. Venture 2010-Seed Fund, L.P."
    d = D(2018, 12, 3)
    assert p.row_tuples() == [
        (False, False, 0, "C", d, 2779822.0, 0.0, "A", 2779822.0, "I", fund, ["F1"], False),
        (False, False, 1, "C", d, 304186.0, 0.0, "A", 304186.0, "I", q_fund, ["F1"], False),
        (False, False, 2, "C", d, 61654.0, 0.0, "A", 61654.0, "I", partners, ["F1"], False),
        (False, False, 3, "J", d, 2779822.0, 0.0, "D", 0.0, "I", fund, ["F2", "F1"], False),
        (False, False, 4, "J", d, 304186.0, 0.0, "D", 0.0, "I", q_fund, ["F2", "F1"], False),
        (False, False, 5, "J", d, 61654.0, 0.0, "D", 0.0, "I", partners, ["F2", "F1"], False),
        (False, False, 6, "J", d, 179995.0, 0.0, "D", 719981.0, "I", seed, ["F2", "F1"], False),
        (
            False,
            False,
            7,
            "J",
            d,
            127231.0,
            0.0,
            "A",
            127231.0,
            "I",
            "By estate planning vehicle",
            ["F3"],
            False,
        ),
        (False, True, 8, None, None, None, None, None, 49322.0, "D", None, [], False),
        (
            False,
            True,
            9,
            None,
            None,
            None,
            None,
            None,
            858081.0,
            "I",
            "By Sequoia Capital U.S. Growth Fund IV, L.P.",
            ["F4"],
            False,
        ),
        (
            False,
            True,
            10,
            None,
            None,
            None,
            None,
            None,
            35657.0,
            "I",
            "By Sequoia Capital USGF Principals Fund IV, L.P.",
            ["F4"],
            False,
        ),
        (True, False, 0, "C", d, 2779822.0, 0.0, "D", 11119288.0, "I", fund, ["F5", "F1"], False),
        (True, False, 1, "C", d, 304186.0, 0.0, "D", 1216744.0, "I", q_fund, ["F5", "F1"], False),
        (True, False, 2, "C", d, 61654.0, 0.0, "D", 246616.0, "I", partners, ["F5", "F1"], False),
    ]
    assert p.rows[11]["underlying_shares"] == 2779822.0
    assert p.rows[11]["security_title"] == "Class B Common Stock"


def test_turtle_beach_x0407_checkbox_false_string(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000929638-23-001482.xml", accession="0000929638-23-001482")
    assert p.filing_fields("schema_version", "aff10b5one", "available_date", "issuer_name") == (
        "X0407",
        False,
        D(2023, 5, 16),
        "Turtle Beach Corp",
    )
    [owner] = p.owners
    assert (owner["is_director"], owner["is_officer"], owner["is_ten_percent_owner"], owner["is_other"]) == (
        True,
        None,
        None,
        None,
    )
    assert owner["role"] == "director"
    assert p.row_tuples() == [
        (False, False, 0, "P", D(2023, 5, 11), 5000.0, 11.03, "A", 18453.0, "D", None, ["F1"], False),
    ]


def test_1800flowers_three_owners_purchases(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0000921895-25-001190.txt")
    f = p.filing
    assert (f["n_owners"], f["insider_cik"], f["available_date"], f["aff10b5one"]) == (
        3,
        1580144,
        D(2025, 4, 29),  # accepted 16:37:35
        False,
    )
    assert [(o["owner_cik"], o["owner_name"]) for o in p.owners] == [
        (1959730, "Fund 1 Investments, LLC"),
        (2052009, "PLP Funds Master Fund LP"),
        (1580144, "Pleasant Lake Partners LLC"),
    ]
    assert (p.owners[0]["state"], p.owners[0]["zip_code"]) == ("PR", "00677")
    title = "Class A Common Stock, $0.01 par value"
    assert {r["security_title"] for r in p.rows} == {title}
    fn = ["F1", "F2"]
    assert p.row_tuples() == [
        (
            False,
            False,
            0,
            "P",
            D(2025, 4, 24),
            16000.0,
            5.3569,
            "A",
            8536067.0,
            "I",
            "See Footnotes",
            fn,
            False,
        ),
        (
            False,
            False,
            1,
            "P",
            D(2025, 4, 24),
            16847.0,
            5.4231,
            "A",
            8552914.0,
            "I",
            "See Footnotes",
            fn,
            False,
        ),
        (
            False,
            False,
            2,
            "P",
            D(2025, 4, 25),
            100000.0,
            5.4598,
            "A",
            8652914.0,
            "I",
            "See Footnotes",
            fn,
            False,
        ),
        (
            False,
            False,
            3,
            "P",
            D(2025, 4, 28),
            35000.0,
            5.4173,
            "A",
            8687914.0,
            "I",
            "See Footnotes",
            fn,
            False,
        ),
    ]
    assert all(r["insider_cik"] == 1580144 for r in p.rows)


def test_silk_road_plan_from_footnote_and_true_false_booleans(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "sha1-d89f355775d3.xml")
    assert p.filing["aff10b5one"] is None
    [owner] = p.owners
    assert (owner["is_director"], owner["is_officer"], owner["is_ten_percent_owner"], owner["role"]) == (
        True,
        True,
        False,
        "ceo",
    )
    trust = "Trustees of The Surace/Rogers Family Trust"
    assert p.row_tuples() == [
        (False, False, 0, "M", D(2022, 1, 11), 10000.0, 1.6, "A", 142179.0, "D", None, ["F1"], True),
        (
            False,
            False,
            1,
            "S",
            D(2022, 1, 11),
            10000.0,
            41.8787,
            "D",
            132179.0,
            "D",
            None,
            ["F1", "F2"],
            True,
        ),
        (False, True, 2, None, None, None, None, None, 83843.0, "I", trust, ["F3"], False),
        (True, False, 0, "M", D(2022, 1, 11), 10000.0, 0.0, "D", 152654.0, "D", None, ["F1", "F4"], True),
    ]
    assert p.rows[0]["equity_swap_involved"] is False
    option = p.rows[3]
    assert (option["conversion_or_exercise_price"], option["exercise_date"], option["expiration_date"]) == (
        1.6,
        D(2016, 9, 4),
        D(2026, 8, 4),
    )


def test_2seventy_see_remarks_title_one_line_submission(filings_dir: Path) -> None:
    p = Parsed(filings_dir, "0001562180-25-000280.xml")
    assert p.accession == "0001562180-25-000280"
    assert p.filing_fields("filing_date", "available_date", "aff10b5one", "not_subject_to_section16") == (
        D(2025, 1, 8),
        D(2025, 1, 9),
        False,
        False,
    )
    [owner] = p.owners
    assert owner["officer_title"] == "See Remarks"
    assert owner["role_title"] == "Title: Senior Vice President of Quality and Enabling Functions"
    assert owner["role"] == "officer"
    assert owner["zip_code"] == "02142"
    assert p.row_tuples() == [
        (False, False, 0, "A", D(2025, 1, 6), 106150.0, 0.0, "A", 253329.0, "D", None, ["F1"], False),
        (True, False, 0, "A", D(2025, 1, 6), 70750.0, 0.0, "A", 70750.0, "D", None, ["F2"], False),
    ]
    option = p.rows[1]
    assert (option["security_title"], option["conversion_or_exercise_price"], option["expiration_date"]) == (
        "Stock Option (Right to buy)",
        2.64,
        D(2035, 1, 6),
    )


@pytest.mark.parametrize(
    "name",
    ["0000842517-24-000086.txt", "sha1-d89f355775d3.xml", "0000002488-24-000005.xml"],
)
def test_parsing_is_deterministic(filings_dir: Path, name: str) -> None:
    first, second = Parsed(filings_dir, name), Parsed(filings_dir, name)
    assert first.filing == second.filing and first.rows == second.rows and first.owners == second.owners
