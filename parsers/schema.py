"""Arrow schemas of every table the parsers produce and the store keeps: declared once, imported everywhere.

Each store dataset is hive-partitioned by ``filing_year`` / ``filing_month``: the filing date when it is
known, else the ``available_date`` (SCORING.md section 3). Quarantine rows use the day they were
quarantined. Dates are ``date32``; the acceptance time is a New York wall-clock timestamp.
"""

from __future__ import annotations

import pyarrow as pa

NEW_YORK = "America/New_York"

PARTITION_COLUMNS: tuple[str, ...] = ("filing_year", "filing_month")
PARTITION_SCHEMA = pa.schema([("filing_year", pa.int16()), ("filing_month", pa.int8())])

_PARTITION_FIELDS = [pa.field(name, PARTITION_SCHEMA.field(name).type) for name in PARTITION_COLUMNS]

SIGNATURE_TYPE = pa.struct([("name", pa.string()), ("date", pa.date32())])

FILINGS_SCHEMA = pa.schema(
    [
        pa.field("accession", pa.string(), nullable=False),
        ("document_type", pa.string()),
        ("schema_version", pa.string()),
        ("period_of_report", pa.date32()),
        ("date_of_original_submission", pa.date32()),
        ("no_securities_owned", pa.bool_()),
        ("not_subject_to_section16", pa.bool_()),
        ("form3_holdings_reported", pa.bool_()),
        ("form4_transactions_reported", pa.bool_()),
        ("issuer_cik", pa.int64()),
        ("issuer_name", pa.string()),
        ("ticker", pa.string()),
        ("ticker_raw", pa.string()),
        ("issuer_foreign_trading_symbol", pa.string()),
        ("insider_cik", pa.int64()),
        ("n_owners", pa.int16()),
        ("aff10b5one", pa.bool_()),
        ("remarks", pa.string()),
        ("signatures", pa.list_(SIGNATURE_TYPE)),
        ("signature_date", pa.date32()),
        ("filing_date", pa.date32()),
        ("accepted_at", pa.timestamp("s", tz=NEW_YORK)),
        ("available_date", pa.date32()),
        ("recovered", pa.bool_()),
        ("quality", pa.list_(pa.string())),
        ("source", pa.string()),
        ("xml_sha256", pa.string()),
        *_PARTITION_FIELDS,
    ]
)
"""One row per filing (accession). ``accession`` is ``sha1-<12 hex>`` of the XML when no accession
number is known. ``insider_cik`` is the smallest reporting-owner CIK (SCORING.md section 1).
``quality`` lists the flags of ``parsers.quality`` (``period_of_report:invalid``), empty when clean.
``xml_sha256`` identifies the ownership XML whatever the file it came in (``parsers.tables.content_hash``);
null for rows from the SEC data sets, which have no XML."""

OWNERS_SCHEMA = pa.schema(
    [
        pa.field("accession", pa.string(), nullable=False),
        ("owner_index", pa.int16()),
        ("owner_cik", pa.int64()),
        ("owner_name", pa.string()),
        ("is_director", pa.bool_()),
        ("is_officer", pa.bool_()),
        ("is_ten_percent_owner", pa.bool_()),
        ("is_other", pa.bool_()),
        ("officer_title", pa.string()),
        ("other_text", pa.string()),
        ("role_title", pa.string()),
        ("role", pa.string()),
        ("street1", pa.string()),
        ("street2", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip_code", pa.string()),
        *_PARTITION_FIELDS,
    ]
)
"""One row per reporting owner of a filing. ``role_title`` is the text the title patterns are matched
against (the officer title, or the remarks when the title says "See Remarks"); ``role`` is the owner's
highest-weight role under the default weights of SCORING.md section 6."""

TRANSACTIONS_SCHEMA = pa.schema(
    [
        pa.field("accession", pa.string(), nullable=False),
        ("row_index", pa.int16()),
        ("document_type", pa.string()),
        ("issuer_cik", pa.int64()),
        ("ticker", pa.string()),
        ("insider_cik", pa.int64()),
        ("is_derivative", pa.bool_()),
        ("is_holding", pa.bool_()),
        ("security_title", pa.string()),
        ("transaction_date", pa.date32()),
        ("deemed_execution_date", pa.date32()),
        ("transaction_form_type", pa.string()),
        ("transaction_code", pa.string()),
        ("equity_swap_involved", pa.bool_()),
        ("transaction_timeliness", pa.string()),
        ("shares", pa.float64()),
        ("total_value", pa.float64()),
        ("price", pa.float64()),
        ("acquired_disposed", pa.string()),
        ("shares_owned_after", pa.float64()),
        ("value_owned_after", pa.float64()),
        ("direct_indirect", pa.string()),
        ("nature_of_ownership", pa.string()),
        ("conversion_or_exercise_price", pa.float64()),
        ("exercise_date", pa.date32()),
        ("expiration_date", pa.date32()),
        ("underlying_security_title", pa.string()),
        ("underlying_shares", pa.float64()),
        ("underlying_value", pa.float64()),
        ("footnote_ids", pa.list_(pa.string())),
        ("quality", pa.list_(pa.string())),
        ("plan", pa.bool_()),
        ("period_of_report", pa.date32()),
        ("filing_date", pa.date32()),
        ("accepted_at", pa.timestamp("s", tz=NEW_YORK)),
        ("available_date", pa.date32()),
        *_PARTITION_FIELDS,
    ]
)
"""One row per row of either table of a filing: transactions and holdings (``is_holding``), of the
non-derivative and derivative tables (``is_derivative``). ``row_index`` is the row's position within
its table in document order. A value given only as a footnote is null, never 0. ``plan`` is the
Rule 10b5-1 flag of SCORING.md section 6. ``quality`` lists the flags of ``parsers.quality``
(``transaction_date:invalid``, ``price:implausible``), empty when clean."""

FOOTNOTES_SCHEMA = pa.schema(
    [
        pa.field("accession", pa.string(), nullable=False),
        ("footnote_id", pa.string()),
        ("text", pa.string()),
        *_PARTITION_FIELDS,
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("accession", pa.string()),
        ("reason", pa.string()),
        ("sha1", pa.string()),
        ("size", pa.int64()),
        ("content", pa.binary()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
        *_PARTITION_FIELDS,
    ]
)
"""A file that could not be stored, with its bytes kept so that nothing is lost."""

SHARES_OUTSTANDING_SCHEMA = pa.schema(
    [
        ("issuer_cik", pa.int64()),
        ("period_end", pa.date32()),
        ("filed", pa.date32()),
        ("shares", pa.float64()),
        ("accession", pa.string()),
        ("entity_name", pa.string()),
        ("frame", pa.string()),
    ]
)
"""Point-in-time cover-page share counts (dei:EntityCommonStockSharesOutstanding), one row per fact."""

PRICES_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("issuer_cik", pa.int64()),
        ("date", pa.date32()),
        ("close", pa.float64()),
        ("adj_close", pa.float64()),
        ("dividend", pa.float64()),
        ("split_factor", pa.float64()),
        ("volume", pa.float64()),
    ]
)
"""Daily prices of the store's ``prices/`` dataset, one file per series: ``close`` as traded (null when
unknown), ``adj_close`` split- and dividend-adjusted, ``dividend`` cash per share going ex that day (0 when
none), ``split_factor`` new shares per old share going ex that day (1 when none); ``issuer_cik`` is the
issuer the series was fetched for, null for an index series."""

INDEX_SCHEMA = pa.schema(
    [
        ("form_type", pa.string()),
        ("company_name", pa.string()),
        ("cik", pa.int64()),
        ("date_filed", pa.date32()),
        ("file_name", pa.string()),
        ("accession", pa.string()),
    ]
)
"""Rows of an EDGAR index file (form/master/company, daily or quarterly)."""

STORE_TABLES: dict[str, pa.Schema] = {
    "filings": FILINGS_SCHEMA,
    "owners": OWNERS_SCHEMA,
    "transactions": TRANSACTIONS_SCHEMA,
    "footnotes": FOOTNOTES_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA,
}
"""The partitioned datasets of a store, by directory name."""

OWNERSHIP_FORMS: frozenset[str] = frozenset({"3", "3/A", "4", "4/A", "5", "5/A"})
