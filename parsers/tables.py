"""Accumulate parsed filings into Arrow tables shaped exactly as the store's schemas.

``TableBuilder.add`` takes the bytes of one filing (bare XML or an SGML submission) and never raises on
bad input: anything that cannot be stored becomes a quarantine row with its bytes and a one-line reason.
Rows are kept as tuples in schema order and turned into Arrow arrays once, in ``build``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from parsers.accessions import content_key
from parsers.availability import available_date
from parsers.ownership import OwnershipDocument, OwnershipError, parse_ownership
from parsers.plan import is_plan, mentions_plan, plan_footnote_ids
from parsers.quality import PLAUSIBLE_MAX, VALUE, with_plausibility
from parsers.roles import ROLE_WEIGHTS, owner_roles, primary_role, role_title
from parsers.schema import (
    FILINGS_SCHEMA,
    FOOTNOTES_SCHEMA,
    NEW_YORK,
    OWNERS_SCHEMA,
    OWNERSHIP_FORMS,
    QUARANTINE_SCHEMA,
    TRANSACTIONS_SCHEMA,
)
from parsers.submission import Submission, is_sgml, split_submission
from parsers.values import clean_ticker
from parsers.xml_safety import MalformedXMLError, UnsafeXMLError

_TIMESTAMP_COLUMNS = frozenset({"accepted_at"})
_NEW_YORK_ZONE = ZoneInfo(NEW_YORK)


class TableBuilder:
    """Collects filings into the STORE_TABLES datasets: filings, owners, transactions, footnotes, quarantine.

    ``now`` stamps quarantine rows and partitions them (and any filing with no date at all: no header,
    no signature date); it defaults to the time the builder is made. The same accession added twice
    is stored once. ``build`` does not reset the builder: use one builder per batch.
    """

    def __init__(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self._now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._accessions: set[str] = set()
        self._filings: list[tuple] = []
        self._owners: list[tuple] = []
        self._transactions: list[tuple] = []
        self._footnotes: list[tuple] = []
        self._quarantine: list[tuple] = []

    def __len__(self) -> int:
        """Number of filings stored (quarantined inputs and repeated accessions not counted)."""
        return len(self._filings)

    @property
    def quarantined(self) -> int:
        """Number of inputs quarantined so far."""
        return len(self._quarantine)

    def add(
        self,
        data: bytes,
        *,
        source: str,
        accession: str | None = None,
        filing_date: date | None = None,
        accepted_at: datetime | None = None,
    ) -> str | None:
        """Parse one filing; returns its stored accession, or None when the input was quarantined.

        ``accession``, ``filing_date`` and ``accepted_at`` (naive New York wall clock) override what
        the SGML header says; a filing with no accession at all is keyed ``sha1-<12 hex of its XML>``.
        An accession already stored by this builder is not parsed again.
        """
        known_accession = accession
        try:
            submission = split_submission(data)
            known_accession = accession or submission.accession
            if known_accession in self._accessions:
                return known_accession
            if not submission.xml and is_sgml(data):
                return self._quarantine_row(data, source, known_accession, _no_xml_reason(submission))
            key = known_accession or content_key(submission.xml)
            if key in self._accessions:
                return key
            document = parse_ownership(submission.xml)
            self._add_document(
                document,
                key,
                source,
                content_hash(submission.xml),
                filing_date or submission.filing_date,
                _new_york_wall_clock(accepted_at) or submission.accepted_at,
            )
        except (OwnershipError, UnsafeXMLError, MalformedXMLError) as exc:
            return self._quarantine_row(data, source, known_accession, str(exc))
        except Exception as exc:  # the contract: bad input never raises out of add()
            reason = f"parser failure ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
            return self._quarantine_row(data, source, known_accession, reason)
        self._accessions.add(key)
        return key

    def build(self) -> dict[str, pa.Table]:
        """The accumulated rows as Arrow tables keyed by STORE_TABLES name, each exactly its schema."""
        return {
            "filings": _to_table(self._filings, FILINGS_SCHEMA),
            "owners": _to_table(self._owners, OWNERS_SCHEMA),
            "transactions": _with_plausibility(_to_table(self._transactions, TRANSACTIONS_SCHEMA)),
            "footnotes": _to_table(self._footnotes, FOOTNOTES_SCHEMA),
            "quarantine": _to_table(self._quarantine, QUARANTINE_SCHEMA),
        }

    def _add_document(
        self,
        doc: OwnershipDocument,
        accession: str,
        source: str,
        xml_sha256: str,
        filing_date: date | None,
        accepted_at: datetime | None,
    ) -> None:
        """Append one parsed filing's rows to every table (all of them or, on an error, none), in the
        partition of its filing date, else of its available date, else of now."""
        signature_dates = [signed for _, signed in doc.signatures if signed is not None]
        signature_date = max(signature_dates) if signature_dates else None
        available = available_date(accepted_at, filing_date, signature_date)
        partition_day = filing_date or available or self._now.date()
        partition = (partition_day.year, partition_day.month)
        owner_ciks = [owner.cik for owner in doc.owners if owner.cik is not None]
        insider_cik = min(owner_ciks)
        ticker = clean_ticker(doc.ticker_raw)
        head = (doc.document_type, doc.issuer_cik, ticker, insider_cik)
        tail = (doc.period_of_report, filing_date, accepted_at, available, *partition)
        owners = _owner_rows(doc, accession, partition)
        transactions = _transaction_rows(doc, accession, head, tail)
        footnotes = [(accession, fid, text, *partition) for fid, text in doc.footnotes.items()]
        self._filings.append(
            (
                accession,
                doc.document_type,
                doc.schema_version,
                doc.period_of_report,
                doc.date_of_original_submission,
                doc.no_securities_owned,
                doc.not_subject_to_section16,
                doc.form3_holdings_reported,
                doc.form4_transactions_reported,
                doc.issuer_cik,
                doc.issuer_name,
                ticker,
                doc.ticker_raw,
                doc.issuer_foreign_trading_symbol,
                insider_cik,
                len(doc.owners),
                doc.aff10b5one,
                doc.remarks,
                tuple(doc.signatures),
                signature_date,
                filing_date,
                accepted_at,
                available,
                doc.recovered,
                tuple(doc.quality),
                source,
                xml_sha256,
                *partition,
            )
        )
        self._owners.extend(owners)
        self._transactions.extend(transactions)
        self._footnotes.extend(footnotes)

    def _quarantine_row(self, data: bytes, source: str, accession: str | None, reason: str) -> None:
        self._quarantine.append(
            (
                source,
                accession,
                reason,
                hashlib.sha1(data).hexdigest(),
                len(data),
                data,
                self._now,
                self._now.year,
                self._now.month,
            )
        )


def _owner_rows(doc: OwnershipDocument, accession: str, partition: tuple[int, int]) -> list[tuple]:
    """One owners row per reporting owner, in document order, with the title and role read from it."""
    owners = []
    for index, owner in enumerate(doc.owners):
        title = role_title(owner.officer_title, doc.remarks)
        roles = owner_roles(
            owner.is_director, owner.is_officer, owner.is_ten_percent_owner, owner.is_other, title
        )
        owners.append(
            (
                accession,
                index,
                owner.cik,
                owner.name,
                owner.is_director,
                owner.is_officer,
                owner.is_ten_percent_owner,
                owner.is_other,
                owner.officer_title,
                owner.other_text,
                title,
                primary_role(roles, ROLE_WEIGHTS),
                owner.street1,
                owner.street2,
                owner.city,
                owner.state,
                owner.zip_code,
                *partition,
            )
        )
    return owners


def _transaction_rows(doc: OwnershipDocument, accession: str, head: tuple, tail: tuple) -> list[tuple]:
    """One transactions row per table row, numbered within its table (non-derivative, derivative), with
    the plan flag; ``head`` and ``tail`` are the filing's columns before and after the row's own."""
    remarks_mention = mentions_plan(doc.remarks)
    plan_footnotes = plan_footnote_ids(doc.footnotes)
    transactions = []
    counters = [0, 0]
    for row in doc.rows:
        row_index = counters[row.is_derivative]
        counters[row.is_derivative] = row_index + 1
        plan = is_plan(doc.aff10b5one, remarks_mention, row.footnote_ids, plan_footnotes)
        transactions.append((accession, row_index, *head, *row, plan, *tail))
    return transactions


def content_hash(xml: bytes) -> str:
    """The identity of an ownership XML document whatever file or submission it came in: sha256 of its
    bytes without surrounding white space (a submission's ``<XML>`` body and the bare file differ there)."""
    return hashlib.sha256(xml.strip()).hexdigest()


def _no_xml_reason(submission: Submission) -> str:
    if submission.document_type in OWNERSHIP_FORMS:
        kind = submission.document_type
        return f"form {kind} submission has no <XML> document (truncated, or a pre-2003 text filing)"
    return f"not an ownership filing: submission type {submission.document_type or 'unknown'}"


def _new_york_wall_clock(moment: datetime | None) -> datetime | None:
    """A caller's acceptance time as naive New York wall clock (aware times are converted)."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(_NEW_YORK_ZONE).replace(tzinfo=None)


def _with_plausibility(table: pa.Table) -> pa.Table:
    """Transactions with ``parsers.quality``'s implausible-value flags added to their ``quality`` lists."""
    if table.num_rows == 0:
        return table
    checked = table.select(["quality", *(column for column in PLAUSIBLE_MAX if column != VALUE)])
    quality = pl.from_arrow(checked).select(with_plausibility()).to_series().to_arrow()
    position = table.schema.get_field_index("quality")
    return table.set_column(position, table.schema.field(position), quality.cast(pa.list_(pa.string())))


def _to_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    columns = zip(*rows, strict=True)
    return pa.Table.from_arrays(
        [_column(values, field) for values, field in zip(columns, schema, strict=True)], schema=schema
    )


def _column(values: Iterable, field: pa.Field) -> pa.Array:
    if field.name in _TIMESTAMP_COLUMNS:
        naive = pa.array(values, type=pa.timestamp(field.type.unit))
        aware = pc.assume_timezone(naive, field.type.tz, ambiguous="earliest", nonexistent="latest")
        return aware.cast(field.type)
    return pa.array(values, type=field.type)
