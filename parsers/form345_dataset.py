"""The SEC's quarterly Insider Transactions Data Set (``{YYYY}q{N}_form345.zip``) -> the store's tables.

Pure: bytes in, Arrow tables out. The zip holds tab-separated tables (SUBMISSION, REPORTINGOWNER,
NONDERIV_TRANS, NONDERIV_HOLDING, DERIV_TRANS, DERIV_HOLDING, FOOTNOTES, OWNER_SIGNATURE) joined on
ACCESSION_NUMBER; column names are matched case-insensitively, dates are ``DD-MON-YYYY``, footnote ids
sit in the ``*_FN`` columns. There is no acceptance time, so ``available_date`` is the filing date + 1
(SCORING.md section 3). Roles, the 10b5-1 flag and tickers follow the XML path's rules
(``parsers.roles``, ``parsers.plan``, ``parsers.values``); RPTOWNER_RELATIONSHIP is read by token
containment, as it is not always well formed ("DirectorOther"), and AFF10B5ONE, absent before 2023, is
null where absent or blank. A table missing from the zip yields no rows and a warning; rows that cannot
be placed (no submission, no filing date) are quarantined, not lost.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any

import polars as pl
import pyarrow as pa

from parsers.availability import available_date
from parsers.plan import mentions_plan
from parsers.roles import (
    RELATIONSHIP_TOKENS,
    ROLE_WEIGHTS,
    owner_roles,
    primary_role,
    relationship_flags,
    role_title,
)
from parsers.schema import (
    FILINGS_SCHEMA,
    FOOTNOTES_SCHEMA,
    OWNERS_SCHEMA,
    QUARANTINE_SCHEMA,
    TRANSACTIONS_SCHEMA,
)
from parsers.values import clean_ticker, parse_bool

TABLES: tuple[str, ...] = (
    "SUBMISSION",
    "REPORTINGOWNER",
    "NONDERIV_TRANS",
    "NONDERIV_HOLDING",
    "DERIV_TRANS",
    "DERIV_HOLDING",
    "FOOTNOTES",
    "OWNER_SIGNATURE",
)
DATE_FORMAT = "%d-%b-%Y"

_ROW_TABLES: tuple[tuple[str, bool, bool], ...] = (
    ("NONDERIV_TRANS", False, False),
    ("NONDERIV_HOLDING", False, True),
    ("DERIV_TRANS", True, False),
    ("DERIV_HOLDING", True, True),
)
"""(table, is_derivative, is_holding); within a filing's table, transactions come before holdings."""

_ROW_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "security_title": (("SECURITY_TITLE",), "str"),
    "transaction_date": (("TRANS_DATE",), "date"),
    "deemed_execution_date": (("DEEMED_EXECUTION_DATE",), "date"),
    "transaction_form_type": (("TRANS_FORM_TYPE",), "str"),
    "transaction_code": (("TRANS_CODE",), "str"),
    "equity_swap_involved": (("EQUITY_SWAP_INVOLVED",), "bool"),
    "transaction_timeliness": (("TRANS_TIMELINESS",), "str"),
    "shares": (("TRANS_SHARES",), "num"),
    "total_value": (("TRANS_TOTAL_VALUE",), "num"),
    "price": (("TRANS_PRICEPERSHARE",), "num"),
    "acquired_disposed": (("TRANS_ACQUIRED_DISP_CD",), "str"),
    "shares_owned_after": (("SHRS_OWND_FOLWNG_TRANS",), "num"),
    "value_owned_after": (("VALU_OWND_FOLWNG_TRANS",), "num"),
    "direct_indirect": (("DIRECT_INDIRECT_OWNERSHIP",), "str"),
    "nature_of_ownership": (("NATURE_OF_OWNERSHIP",), "str"),
    "conversion_or_exercise_price": (("CONV_EXERCISE_PRICE",), "num"),
    "exercise_date": (("EXERCISE_DATE", "EXCERCISE_DATE"), "date"),
    "expiration_date": (("EXPIRATION_DATE",), "date"),
    "underlying_security_title": (("UNDLYNG_SEC_TITLE",), "str"),
    "underlying_shares": (("UNDLYNG_SEC_SHARES",), "num"),
    "underlying_value": (("UNDLYNG_SEC_VALUE",), "num"),
}
"""Transaction column -> (data-set column names, first found wins; kind)."""

_RELATIONSHIP_TYPE = pl.Struct({**{name: pl.Boolean for name in RELATIONSHIP_TOKENS}, "unread": pl.String})


class DatasetError(ValueError):
    """The bytes are not a usable data-set zip; the message names the problem."""


@dataclass
class DatasetResult:
    """The store tables parsed from one zip, and what was missing or set aside."""

    tables: dict[str, pa.Table]
    warnings: list[str] = field(default_factory=list)

    @property
    def filings(self) -> int:
        """Filings (submissions) parsed."""
        return self.tables["filings"].num_rows


def read_tables(
    data: bytes | IO[bytes], *, source: str = "form345.zip"
) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """Every known table of the zip as all-string frames with upper-case column names; absent ones warned."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{source}: not a zip archive ({exc})") from exc
    members = {PurePosixPath(name).name.upper(): name for name in archive.namelist()}
    frames: dict[str, pl.DataFrame] = {}
    warnings: list[str] = []
    for table in TABLES:
        member = members.get(f"{table}.TSV") or members.get(f"{table}.TXT")
        if member is None:
            warnings.append(f"{source}: {table}.tsv is absent; it contributes no rows")
            continue
        raw = archive.read(member)
        if not raw.strip():
            warnings.append(f"{source}: {table}.tsv is empty")
            continue
        frame = pl.read_csv(
            raw,
            separator="\t",
            quote_char=None,
            infer_schema=False,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
        )
        frame = frame.rename({name: name.strip().upper() for name in frame.columns})
        if "ACCESSION_NUMBER" not in frame.columns:
            raise DatasetError(
                f"{source}: {table}.tsv has no ACCESSION_NUMBER column (columns: {frame.columns[:5]})"
            )
        frames[table] = frame.with_columns(pl.col("ACCESSION_NUMBER").str.strip_chars())
    if "SUBMISSION" not in frames:
        raise DatasetError(f"{source}: no SUBMISSION.tsv; not an Insider Transactions Data Set zip")
    return frames, warnings


def _column(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.Expr:
    for name in names:
        if name in frame.columns:
            return pl.col(name).str.strip_chars().replace("", None)
    return pl.repeat(None, pl.len(), dtype=pl.String)


def _typed(expr: pl.Expr, kind: str) -> pl.Expr:
    if kind == "date":
        return expr.str.to_date(DATE_FORMAT, strict=False)
    if kind == "num":
        return expr.str.replace_all(",", "").cast(pl.Float64, strict=False)
    if kind == "bool":
        return _mapped(expr, parse_bool, pl.Boolean)
    if kind == "cik":
        return expr.cast(pl.Int64, strict=False)
    return expr


def _mapped(expr: pl.Expr, function: Callable[[Any], Any], dtype: pl.DataType) -> pl.Expr:
    """Apply a scalar rule of the XML path to each distinct value (few distinct values, many rows)."""
    return expr.map_batches(
        lambda s: (
            s.unique()
            .to_frame("k")
            .with_columns(pl.col("k").map_elements(function, return_dtype=dtype, skip_nulls=True).alias("v"))
            .pipe(
                lambda m: s.to_frame("k").join(m, on="k", how="left", nulls_equal=True, maintain_order="left")
            )
            .get_column("v")
        ),
        return_dtype=dtype,
    )


def _footnote_ids(frame: pl.DataFrame) -> pl.Expr:
    columns = [c for c in frame.columns if c.endswith("_FN")]
    if not columns:
        return pl.lit([], dtype=pl.List(pl.String))
    ids = pl.concat_list([pl.col(c).fill_null("").str.split(",") for c in columns]).list.eval(
        pl.element().str.strip_chars().filter(pl.element().is_not_null() & (pl.element() != ""))
    )
    return ids.list.unique(maintain_order=True)


def parse_dataset(
    data: bytes | IO[bytes], *, source: str = "form345.zip", now: datetime | None = None
) -> DatasetResult:
    """Parse one data-set zip into STORE_TABLES-shaped Arrow tables (filings, owners, transactions,
    footnotes, quarantine); ``source`` names the zip in the rows and warnings."""
    now = now or datetime.now(UTC)
    frames, warnings = read_tables(data, source=source)
    submissions, quarantine = _submissions(frames, source, warnings, now)
    accessions = submissions.select("accession")

    owners = _owners(frames, submissions, accessions, source, warnings)
    signatures = _signatures(frames, accessions)
    footnotes = _footnotes(frames, accessions)
    filings = _filings(submissions, owners, signatures, source, frames)
    transactions = _transactions(frames, filings, footnotes, warnings)
    if "FOOTNOTES" not in frames:
        warnings.append(f"{source}: no footnotes, so 10b5-1 plans named only in footnotes are not flagged")
    partitions = filings.select("accession", "filing_year", "filing_month")
    for name, frame in frames.items():
        if name != "SUBMISSION":
            orphans = frame.join(
                accessions, left_on="ACCESSION_NUMBER", right_on="accession", how="anti"
            ).height
            if orphans:
                warnings.append(
                    f"{source}: {name}.tsv has {orphans} rows of accessions not in SUBMISSION.tsv or "
                    "quarantined there; skipped"
                )
    tables = {
        "filings": _arrow(filings, FILINGS_SCHEMA),
        "owners": _arrow(owners.join(partitions, on="accession"), OWNERS_SCHEMA),
        "transactions": _arrow(transactions, TRANSACTIONS_SCHEMA),
        "footnotes": _arrow(footnotes.join(partitions, on="accession"), FOOTNOTES_SCHEMA),
        "quarantine": quarantine,
    }
    return DatasetResult(tables, warnings)


def _submissions(
    frames: dict[str, pl.DataFrame], source: str, warnings: list[str], now: datetime
) -> tuple[pl.DataFrame, pa.Table]:
    raw = frames["SUBMISSION"].with_row_index("_line", offset=2)
    frame = raw.select(
        "_line",
        _column(raw, ("ACCESSION_NUMBER",)).alias("accession"),
        _column(raw, ("DOCUMENT_TYPE",)).alias("document_type"),
        _typed(_column(raw, ("PERIOD_OF_REPORT",)), "date").alias("period_of_report"),
        _typed(_column(raw, ("DATE_OF_ORIG_SUB",)), "date").alias("date_of_original_submission"),
        _typed(_column(raw, ("NO_SECURITIES_OWNED",)), "bool").alias("no_securities_owned"),
        _typed(_column(raw, ("NOT_SUBJECT_SEC16",)), "bool").alias("not_subject_to_section16"),
        _typed(_column(raw, ("FORM3_HOLDINGS_REPORTED",)), "bool").alias("form3_holdings_reported"),
        _typed(_column(raw, ("FORM4_TRANS_REPORTED",)), "bool").alias("form4_transactions_reported"),
        _typed(_column(raw, ("ISSUERCIK",)), "cik").alias("issuer_cik"),
        _column(raw, ("ISSUERNAME",)).alias("issuer_name"),
        _column(raw, ("ISSUERTRADINGSYMBOL",)).alias("ticker_raw"),
        _typed(_column(raw, ("AFF10B5ONE",)), "bool").alias("aff10b5one"),
        _column(raw, ("REMARKS",)).alias("remarks"),
        _column(raw, ("FILING_DATE",)).alias("_filing_date_text"),
        _column(raw, ("AFF10B5ONE",)).alias("_aff10b5one_text"),
    ).with_columns(pl.col("_filing_date_text").str.to_date(DATE_FORMAT, strict=False).alias("filing_date"))
    if "AFF10B5ONE" not in raw.columns:
        warnings.append(f"{source}: no AFF10B5ONE column (releases before 2023 Q1): aff10b5one is null")
    unread = frame.filter(pl.col("_aff10b5one_text").is_not_null() & pl.col("aff10b5one").is_null())
    if unread.height:
        warnings.append(
            f"{source}: {unread.height} SUBMISSION.tsv rows have an AFF10B5ONE that is not 0, 1, false or "
            f"true (first: line {unread.item(0, '_line')}: {unread.item(0, '_aff10b5one_text')!r}); "
            "aff10b5one is null (unknown) there"
        )
    reason = (
        pl.when(pl.col("accession").is_null())
        .then(pl.lit("no ACCESSION_NUMBER"))
        .when(pl.col("filing_date").is_null())
        .then(pl.format("unreadable FILING_DATE {}", pl.col("_filing_date_text").fill_null("(empty)")))
        .when(pl.col("accession").is_duplicated())
        .then(pl.lit("ACCESSION_NUMBER repeated in SUBMISSION.tsv"))
    )
    frame = frame.with_columns(reason.alias("_reason"))
    bad = frame.filter(pl.col("_reason").is_not_null())
    first_of_repeats = bad.filter(pl.col("_reason").str.starts_with("ACCESSION_NUMBER repeated")).unique(
        "accession", keep="first", maintain_order=True
    )
    bad = bad.join(first_of_repeats.select("_line"), on="_line", how="anti")
    if bad.height:
        warnings.append(
            f"{source}: {bad.height} SUBMISSION.tsv rows quarantined (first: line "
            f"{bad.item(0, '_line')}: {bad.item(0, '_reason')})"
        )
    good = frame.join(bad.select("_line"), on="_line", how="anti")
    good = good.drop("_line", "_reason", "_filing_date_text", "_aff10b5one_text")
    return good, _quarantine(raw, bad, source, now)


def _quarantine(raw: pl.DataFrame, bad: pl.DataFrame, source: str, now: datetime) -> pa.Table:
    if bad.height == 0:
        return QUARANTINE_SCHEMA.empty_table()
    lines = raw.join(bad.select("_line", "_reason", "accession"), on="_line")
    columns = [c for c in raw.columns if c != "_line"]
    rows = []
    for record in lines.iter_rows(named=True):
        content = "\t".join(record[c] or "" for c in columns).encode()
        rows.append(
            {
                "source": f"{source}:SUBMISSION.tsv:{record['_line']}",
                "accession": record["accession"],
                "reason": record["_reason"],
                "sha1": hashlib.sha1(content).hexdigest(),
                "size": len(content),
                "content": content,
                "quarantined_at": now,
                "filing_year": now.year,
                "filing_month": now.month,
            }
        )
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def _owners(
    frames: dict[str, pl.DataFrame],
    submissions: pl.DataFrame,
    accessions: pl.DataFrame,
    source: str,
    warnings: list[str],
) -> pl.DataFrame:
    raw = frames.get("REPORTINGOWNER")
    if raw is None:
        return pl.DataFrame(schema={"accession": pl.String, "owner_cik": pl.Int64})
    relationship = _column(raw, ("RPTOWNER_RELATIONSHIP",))
    flags = _mapped(relationship, lambda text: relationship_flags(text)._asdict(), _RELATIONSHIP_TYPE)
    raw = raw.with_row_index("_line", offset=2).with_columns(
        relationship.alias("_relationship"), flags.alias("_flags")
    )
    unread = raw.filter(pl.col("_flags").struct.field("unread").is_not_null())
    if unread.height:
        warnings.append(
            f"{source}: {unread.height} REPORTINGOWNER.tsv rows have RPTOWNER_RELATIONSHIP text other than "
            f"Director, Officer, TenPercentOwner, Other (first: line {unread.item(0, '_line')}: "
            f"{unread.item(0, '_relationship')!r}); their roles are read from the tokens found"
        )
    frame = raw.select(
        _column(raw, ("ACCESSION_NUMBER",)).alias("accession"),
        _typed(_column(raw, ("RPTOWNERCIK",)), "cik").alias("owner_cik"),
        _column(raw, ("RPTOWNERNAME",)).alias("owner_name"),
        *[pl.col("_flags").struct.field(name) for name in RELATIONSHIP_TOKENS],
        _column(raw, ("RPTOWNER_TITLE",)).alias("officer_title"),
        _column(raw, ("RPTOWNER_TXT",)).alias("other_text"),
        _column(raw, ("RPTOWNER_STREET1",)).alias("street1"),
        _column(raw, ("RPTOWNER_STREET2",)).alias("street2"),
        _column(raw, ("RPTOWNER_CITY",)).alias("city"),
        _column(raw, ("RPTOWNER_STATE",)).alias("state"),
        _column(raw, ("RPTOWNER_ZIPCODE",)).alias("zip_code"),
    ).join(accessions, on="accession", how="semi", maintain_order="left")
    frame = frame.with_columns(pl.int_range(pl.len()).over("accession").cast(pl.Int16).alias("owner_index"))
    remarks = submissions.select("accession", "remarks")
    keyed = frame.join(remarks, on="accession", how="left", maintain_order="left")
    titles, roles = [], []
    for officer_title, remark, director, officer, ten, other in keyed.select(
        "officer_title", "remarks", "is_director", "is_officer", "is_ten_percent_owner", "is_other"
    ).iter_rows():
        title = role_title(officer_title, remark)
        titles.append(title)
        roles.append(primary_role(owner_roles(director, officer, ten, other, title), ROLE_WEIGHTS))
    return frame.with_columns(
        pl.Series("role_title", titles, dtype=pl.String), pl.Series("role", roles, dtype=pl.String)
    )


def _signatures(frames: dict[str, pl.DataFrame], accessions: pl.DataFrame) -> pl.DataFrame:
    raw = frames.get("OWNER_SIGNATURE")
    if raw is None:
        return pl.DataFrame(
            schema={
                "accession": pl.String,
                "signatures": pl.List(pl.Struct({"name": pl.String, "date": pl.Date})),
                "signature_date": pl.Date,
            }
        )
    frame = raw.select(
        _column(raw, ("ACCESSION_NUMBER",)).alias("accession"),
        _column(raw, ("OWNERSIGNATURENAME",)).alias("name"),
        _typed(_column(raw, ("OWNERSIGNATUREDATE",)), "date").alias("date"),
    ).join(accessions, on="accession", how="semi", maintain_order="left")
    return frame.group_by("accession", maintain_order=True).agg(
        pl.struct("name", "date").alias("signatures"), pl.col("date").max().alias("signature_date")
    )


def _footnotes(frames: dict[str, pl.DataFrame], accessions: pl.DataFrame) -> pl.DataFrame:
    raw = frames.get("FOOTNOTES")
    if raw is None:
        return pl.DataFrame(schema={"accession": pl.String, "footnote_id": pl.String, "text": pl.String})
    return raw.select(
        _column(raw, ("ACCESSION_NUMBER",)).alias("accession"),
        _column(raw, ("FOOTNOTE_ID",)).alias("footnote_id"),
        _column(raw, ("FOOTNOTE_TXT",)).alias("text"),
    ).join(accessions, on="accession", how="semi", maintain_order="left")


def _filings(
    submissions: pl.DataFrame,
    owners: pl.DataFrame,
    signatures: pl.DataFrame,
    source: str,
    frames: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    owner_stats = owners.group_by("accession").agg(
        pl.col("owner_cik").min().alias("insider_cik"), pl.len().cast(pl.Int16).alias("n_owners")
    )
    frame = submissions.join(owner_stats, on="accession", how="left", maintain_order="left").join(
        signatures, on="accession", how="left", maintain_order="left"
    )
    pairs = frame.select("filing_date", "signature_date").unique()
    pairs = pairs.with_columns(
        pl.Series(
            "available_date",
            [available_date(None, f, s) for f, s in pairs.iter_rows()],
            dtype=pl.Date,
        )
    )
    frame = frame.join(
        pairs, on=["filing_date", "signature_date"], how="left", nulls_equal=True, maintain_order="left"
    )
    return frame.with_columns(
        _mapped(pl.col("ticker_raw"), clean_ticker, pl.String).alias("ticker"),
        pl.lit(False).alias("recovered"),
        pl.lit(source).alias("source"),
        pl.col("filing_date").dt.year().cast(pl.Int16).alias("filing_year"),
        pl.col("filing_date").dt.month().cast(pl.Int8).alias("filing_month"),
    )


def _transactions(
    frames: dict[str, pl.DataFrame], filings: pl.DataFrame, footnotes: pl.DataFrame, warnings: list[str]
) -> pl.DataFrame:
    parts = []
    for table, is_derivative, is_holding in _ROW_TABLES:
        raw = frames.get(table)
        if raw is None:
            continue
        sk = next((c for c in raw.columns if c.endswith("_SK")), None)
        order = pl.col(sk).cast(pl.Int64, strict=False) if sk else pl.int_range(pl.len())
        parts.append(
            raw.select(
                _column(raw, ("ACCESSION_NUMBER",)).alias("accession"),
                pl.lit(is_derivative).alias("is_derivative"),
                pl.lit(is_holding).alias("is_holding"),
                order.alias("_order"),
                *[
                    _typed(_column(raw, names), kind).alias(name)
                    for name, (names, kind) in _ROW_COLUMNS.items()
                ],
                _footnote_ids(raw).alias("footnote_ids"),
            )
        )
    if not parts:
        return pl.DataFrame(schema={"accession": pl.String})
    rows = pl.concat(parts, how="vertical").join(filings.select("accession"), on="accession", how="semi")
    rows = rows.sort("accession", "is_derivative", "is_holding", "_order").with_columns(
        pl.int_range(pl.len()).over("accession", "is_derivative").cast(pl.Int16).alias("row_index")
    )
    plan_notes = (
        footnotes.filter(_mapped(pl.col("text"), mentions_plan, pl.Boolean).fill_null(False))
        .select("accession", pl.col("footnote_id").alias("_fid"))
        .unique()
    )
    referenced = (
        rows.select("accession", "is_derivative", "row_index", pl.col("footnote_ids").alias("_fid"))
        .explode("_fid")
        .join(plan_notes, on=["accession", "_fid"], how="semi")
        .select("accession", "is_derivative", "row_index", pl.lit(True).alias("_note_plan"))
        .unique()
    )
    head = filings.select(
        "accession",
        "document_type",
        "issuer_cik",
        "ticker",
        "insider_cik",
        "period_of_report",
        "filing_date",
        "available_date",
        "filing_year",
        "filing_month",
        (
            pl.col("aff10b5one").fill_null(False)
            | _mapped(pl.col("remarks"), mentions_plan, pl.Boolean).fill_null(False)
        ).alias("_filing_plan"),
    )
    rows = rows.join(head, on="accession", how="left").join(
        referenced, on=["accession", "is_derivative", "row_index"], how="left"
    )
    return rows.with_columns(
        (pl.col("_filing_plan") | pl.col("_note_plan").fill_null(False)).alias("plan")
    ).sort("accession", "is_derivative", "row_index")


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """A frame as exactly ``schema``: columns in order, types cast, absent columns null."""
    arrays = []
    for column in schema:
        if column.name in frame.columns:
            arrays.append(frame.get_column(column.name).to_arrow().cast(column.type))
        else:
            arrays.append(pa.nulls(frame.height, column.type))
    return pa.Table.from_arrays(arrays, schema=schema)
