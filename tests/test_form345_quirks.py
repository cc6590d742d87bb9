"""Quirks of the SEC's real data sets: glued relationship tokens and the spellings of AFF10B5ONE, read the
way the XML path reads the same filings (fixtures in ``fixtures/form345_quirks``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest

from parsers.form345_dataset import parse_dataset
from parsers.tables import TableBuilder

QUIRKS = Path(__file__).parent / "fixtures" / "form345_quirks"
GLUED = QUIRKS / "glued_2020"
SPELLED = QUIRKS / "aff10b5one_2023_2025"
FLAGS = ["is_director", "is_officer", "is_ten_percent_owner", "is_other"]


def zip_of(directory: Path) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(directory.glob("*.tsv")):
            zipped.writestr(path.name, path.read_bytes())
    return archive.getvalue()


def tables(result) -> dict[str, pl.DataFrame]:
    return {name: pl.from_arrow(table) for name, table in result.tables.items()}


def xml_tables(filings_dir: Path, accessions: list[str]) -> dict[str, pl.DataFrame]:
    builder = TableBuilder()
    for accession in accessions:
        path = next(filings_dir.glob(f"{accession}.*"))
        assert builder.add(path.read_bytes(), source=path.name, accession=accession)
    return {name: pl.from_arrow(table) for name, table in builder.build().items()}


@pytest.mark.parametrize("directory", [GLUED, SPELLED], ids=lambda d: d.name)
def test_the_xml_path_and_the_data_set_path_give_the_same_roles(directory: Path, filings_dir: Path) -> None:
    """Every filing of the fixture that is also a fixture XML filing: same owners, flags and roles.

    The data set cannot tell an absent XML flag from a 0, so flags compare with null as False."""
    data = tables(parse_dataset(zip_of(directory), source=directory.name))
    accessions = sorted(data["owners"]["accession"].unique())
    assert len(accessions) == {GLUED: 2, SPELLED: 11}[directory]
    xml = xml_tables(filings_dir, accessions)

    def owners(frame: pl.DataFrame) -> pl.DataFrame:
        columns = ["accession", "owner_index", "owner_cik", *FLAGS, "officer_title", "role_title", "role"]
        return (
            frame.select(columns)
            .with_columns(pl.col(FLAGS).fill_null(False))
            .sort("accession", "owner_index")
        )

    assert owners(data["owners"]).equals(owners(xml["owners"]))
    per_filing = ["accession", "insider_cik", "n_owners", "issuer_cik", "document_type", "aff10b5one"]
    ours = data["filings"].filter(pl.col("accession").is_in(accessions)).select(per_filing).sort("accession")
    assert ours.equals(xml["filings"].select(per_filing).sort("accession"))

    def trades(frame: pl.DataFrame) -> pl.DataFrame:
        columns = [
            "accession",
            "row_index",
            "transaction_date",
            "transaction_code",
            "shares",
            "price",
            "plan",
        ]
        return (
            frame.filter(~pl.col("is_derivative") & ~pl.col("is_holding")).select(columns).sort(columns[:2])
        )

    assert trades(data["transactions"]).equals(trades(xml["transactions"]))


def test_glued_relationships_give_every_role(filings_dir: Path) -> None:
    """Real owners who are director, ten percent owner and other at once, which the data set writes as
    "Director,TenPercentOwnerOther" and "TenPercentOwnerOther"."""
    written = pl.read_csv(GLUED / "REPORTINGOWNER.tsv", separator="\t", infer_schema=False)
    assert set(written["RPTOWNER_RELATIONSHIP"]) == {
        "Director,TenPercentOwnerOther",
        "TenPercentOwner",
        "TenPercentOwnerOther",
    }
    owners = tables(parse_dataset(zip_of(GLUED), source="glued.zip"))["owners"]
    glued = owners.filter(pl.col("accession") == "0001193805-20-000323")
    assert (
        glued.height == 6
        and glued.select(pl.all_horizontal("is_director", "is_ten_percent_owner", "is_other"))
        .to_series()
        .all()
    )
    assert set(glued["role"]) == {"director"}
    funds = owners.filter(pl.col("accession") == "0001209191-20-043551")
    assert funds.group_by("is_other").agg(pl.col("role").unique()).sort("is_other").rows() == [
        (False, ["ten_percent"]),
        (True, ["ten_percent"]),
    ]
    assert funds["is_ten_percent_owner"].all() and funds["is_other"].sum() == 6


def test_every_real_spelling_of_aff10b5one_is_read_and_blank_is_unknown() -> None:
    result = parse_dataset(zip_of(SPELLED), source="spelled.zip")
    data = tables(result)
    written = pl.read_csv(SPELLED / "SUBMISSION.tsv", separator="\t", infer_schema=False)
    spelled = dict(zip(written["ACCESSION_NUMBER"], written["AFF10B5ONE"].fill_null(""), strict=True))
    assert set(spelled.values()) == {"0", "1", "false", "true", ""}
    read = dict(data["filings"].select("accession", "aff10b5one").iter_rows())
    expected = {"0": False, "false": False, "1": True, "true": True, "": None}
    assert read == {accession: expected[text] for accession, text in spelled.items()}
    ticked = data["transactions"].filter(pl.col("accession").is_in([a for a, flag in read.items() if flag]))
    assert ticked.height == 28 and ticked["plan"].all()
    assert not any("AFF10B5ONE" in warning for warning in result.warnings)


def test_a_release_without_the_aff10b5one_column_is_unknown_throughout() -> None:
    result = parse_dataset(zip_of(GLUED), source="2020q1_form345.zip")
    assert tables(result)["filings"]["aff10b5one"].null_count() == 2
    assert "2020q1_form345.zip: no AFF10B5ONE column (releases before 2023 Q1): aff10b5one is null" in (
        result.warnings
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", False),
        ("1", True),
        ("false", False),
        ("true", True),
        ("FALSE", False),
        ("True", True),
        (" TRUE ", True),
        (" 0 ", False),
        ("", None),
        ("   ", None),
    ],
)
def test_aff10b5one_spellings(text: str, expected: bool | None) -> None:
    submission = (
        "ACCESSION_NUMBER\tFILING_DATE\tDOCUMENT_TYPE\tISSUERCIK\tAFF10B5ONE\n"
        f"0000000001-24-000001\t02-JUL-2024\t4\t42\t{text}\n"
    )
    result = parse_dataset(one_table_zip(submission), source="x.zip")
    assert tables(result)["filings"].item(0, "aff10b5one") is expected
    assert not any("AFF10B5ONE" in warning for warning in result.warnings)


def test_an_unreadable_aff10b5one_is_unknown_and_said() -> None:
    submission = (
        "ACCESSION_NUMBER\tFILING_DATE\tDOCUMENT_TYPE\tISSUERCIK\tAFF10B5ONE\n"
        "0000000001-24-000001\t02-JUL-2024\t4\t42\t1\n"
        "0000000001-24-000002\t02-JUL-2024\t4\t42\tY\n"
    )
    result = parse_dataset(one_table_zip(submission), source="x.zip")
    assert tables(result)["filings"]["aff10b5one"].to_list() == [True, None]
    assert (
        "x.zip: 1 SUBMISSION.tsv rows have an AFF10B5ONE that is not 0, 1, false or true (first: line 3: "
        "'Y'); aff10b5one is null (unknown) there"
    ) in result.warnings


def one_table_zip(submission: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("SUBMISSION.tsv", submission)
    return archive.getvalue()
