"""Polars lazy pipeline from the store's tables to per-trade events (SCORING.md sections 2 to 6).

One event per eligible trade that can move the score: its issuer, insider key, the day it becomes
known, the day an amendment supersedes it (if any), its side and its term
``role_weight * plan_factor * value / market_cap`` (NaN when no market cap is known and the term is
not 0 whatever the cap).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from engine.scoring.amendments import amendment_dates, with_superseded
from engine.scoring.config import ROLES, ScoreConfig
from engine.scoring.market_caps import SHARES, MarketCaps
from engine.scoring.rules import dollar_value, eligible_trades, priced
from engine.store.accessions import KEY, accession_key, check_keys
from parsers.roles import SEE_REMARKS_PATTERN

NEVER = np.iinfo(np.int64).max // 2
"""Superseded day of a trade no amendment supersedes."""

TERM_LIMIT = 1e100
"""Largest term scored: a term is a fraction of a market cap, and past this (or not finite) the window
sums and the cross-section's squares could overflow, so the term is marked ``inf`` instead and nulls
only its own issuer's ``raw`` (``non_finite_term``)."""


@dataclass
class TradeEvents:
    """Eligible trades as NumPy columns (issuer, day order not yet imposed) plus what was left out."""

    issuer_cik: np.ndarray
    insider_cik: np.ndarray
    start: np.ndarray
    superseded: np.ndarray
    is_buy: np.ndarray
    term: np.ndarray
    notes: list[str] = field(default_factory=list)


def _regex(pattern: str) -> str:
    return f"(?i){pattern}"


PARTITION_SLACK = dt.timedelta(days=31)
"""Margin around a date range when pruning the store's ``filing_year/filing_month`` partitions: a
filing's partition month (its filing date) is within days of its ``available_date``."""


def partition_window(first: dt.date, last: dt.date) -> pl.Expr:
    """Rows whose partition month can hold filings available in ``[first, last]`` (or no partition)."""
    lo, hi = first - PARTITION_SLACK, last + PARTITION_SLACK
    month = pl.col("filing_year").cast(pl.Int32) * 12 + pl.col("filing_month").cast(pl.Int32)
    return month.is_null() | month.is_between(lo.year * 12 + lo.month, hi.year * 12 + hi.month)


_FLAGS = ("is_officer", "is_director", "is_ten_percent_owner", "is_other")


def owner_roles(
    owners: pl.LazyFrame, config: ScoreConfig, keys: pl.Series, keep: Sequence[str] = ()
) -> pl.LazyFrame:
    """``acc_key, roles`` (and the ``keep`` columns) per owner of the filings in ``keys``: the roles the
    owner holds (section 6) as a bit set, bit ``k`` for ``ROLES[k]``, from the flags and ``role_title``."""
    says_see_remarks = pl.col("officer_title").str.contains(_regex(SEE_REMARKS_PATTERN.pattern))
    title = (
        pl.when(says_see_remarks.fill_null(False))
        .then(pl.col("role_title"))
        .otherwise(pl.coalesce("role_title", "officer_title"))
    )
    officer = pl.col("is_officer").fill_null(False)
    director = pl.col("is_director").fill_null(False)
    ten = pl.col("is_ten_percent_owner").fill_null(False)
    ceo, cfo = pl.col("ceo"), pl.col("cfo")
    roles = {
        "ceo": ceo,
        "cfo": cfo,
        "officer": officer & ~ceo & ~cfo,
        "director": director,
        "ten_percent": ten,
        "other": pl.col("is_other").fill_null(False) | ~(officer | director | ten),
    }
    role_bits = pl.sum_horizontal([held.cast(pl.UInt8) * (1 << ROLES.index(r)) for r, held in roles.items()])
    return (
        owners.select(accession_key(), *keep, "officer_title", "role_title", *_FLAGS)
        .filter(pl.col(KEY).is_in(keys.implode()))
        .with_columns(title.alias("title"))
        .with_columns(
            (officer & _title_matches(config.ceo_pattern)).alias("ceo"),
            (officer & _title_matches(config.cfo_pattern)).alias("cfo"),
        )
        .select(KEY, *keep, role_bits.alias("roles"))
    )


def role_weights(owners: pl.LazyFrame, config: ScoreConfig, keys: pl.Series) -> pl.LazyFrame:
    """``acc_key, role_weight`` of the filings in ``keys``: the largest weight over a filing's owners,
    each owner's weight the largest of its roles (section 6). A filing's roles are the union of its
    owners' bit sets and the weight a lookup of that union: one integer group-by instead of a float one."""
    return (
        owner_roles(owners, config, keys)
        .group_by(KEY)
        .agg(pl.col("roles").bitwise_or())
        .select(KEY, role_weight(config))
    )


def role_weight(config: ScoreConfig, roles: str = "roles") -> pl.Expr:
    """``role_weight``: the weight of the role set in column ``roles`` (the largest of its roles)."""
    return pl.lit(_weight_table(config)).gather(pl.col(roles)).alias("role_weight")


def _title_matches(pattern: str) -> pl.Expr:
    return pl.col("title").str.contains(_regex(pattern)).fill_null(False)


def _weight_table(config: ScoreConfig) -> pl.Series:
    """Weight of every set of roles (bit ``k`` = ``ROLES[k]``): the largest weight of its roles."""
    weights = [config.role_weights[role] for role in ROLES]
    sets = range(1 << len(ROLES))
    return pl.Series([max((w for k, w in enumerate(weights) if s >> k & 1), default=0.0) for s in sets])


PLAN_SOURCES = ("plan_checkbox", "plan_remarks", "plan_footnotes")
"""Where section 6 finds a plan: the filing's checkbox, its remarks, the ids of the trade's footnotes."""


def plan_flags(
    trades: pl.LazyFrame, filings: pl.LazyFrame, footnotes: pl.LazyFrame, config: ScoreConfig
) -> pl.LazyFrame:
    """Add ``plan``: the store's flag under the default pattern, else recomputed from the checkbox, the
    remarks and every footnote referenced inside the transaction element (section 6)."""
    if config.default_plan_pattern:
        return trades.with_columns(pl.col("plan").fill_null(False))
    return (
        plan_sources(trades.drop("plan"), filings, footnotes, config)
        .with_columns(
            (
                pl.col("plan_checkbox") | pl.col("plan_remarks") | (pl.col("plan_footnotes").list.len() > 0)
            ).alias("plan")
        )
        .drop(PLAN_SOURCES)
    )


def plan_sources(
    trades: pl.LazyFrame, filings: pl.LazyFrame, footnotes: pl.LazyFrame, config: ScoreConfig
) -> pl.LazyFrame:
    """Add ``PLAN_SOURCES`` under the configured pattern: whether the filing's checkbox is ticked, whether
    its remarks match, and which footnotes referenced inside the transaction element match."""
    pattern = _regex(config.plan_pattern)
    by_filing = filings.select(
        "accession",
        pl.col("aff10b5one").fill_null(False).alias("plan_checkbox"),
        pl.col("remarks").str.contains(pattern).fill_null(False).alias("plan_remarks"),
    )
    plan_notes = (
        footnotes.filter(pl.col("text").str.contains(pattern))
        .select("accession", "footnote_id", pl.lit(True).alias("note_plan"))
        .unique()
    )
    by_row = (
        trades.select("accession", "row_index", "footnote_ids")
        .explode("footnote_ids")
        .join(
            plan_notes,
            left_on=["accession", "footnote_ids"],
            right_on=["accession", "footnote_id"],
            how="left",
        )
        .group_by("accession", "row_index")
        .agg(pl.col("footnote_ids").filter(pl.col("note_plan").fill_null(False)).alias("plan_footnotes"))
    )
    return (
        trades.join(by_filing, on="accession", how="left")
        .join(by_row, on=["accession", "row_index"], how="left")
        .with_columns(
            pl.col("plan_checkbox", "plan_remarks").fill_null(False),
            pl.col("plan_footnotes").fill_null([]),
        )
    )


BLOCK = ("issuer_cik", "available_date", "transaction_date", "transaction_code", "shares", "price")
"""Columns whose equal values make two trades one block reported in two accessions (``dedupe_affiliated``)."""


def affiliated_repeats(trades: pl.LazyFrame, owners: pl.LazyFrame) -> pl.LazyFrame:
    """``acc_key, row_index`` of the trades that repeat the block (equal ``BLOCK``, none of it null) of an
    earlier accession (smaller key) with a reporting-owner CIK in common: affiliated filers reporting one
    trade in several filings the same day. The earliest accession's report is the one that is not listed."""
    ciks = (
        pl.concat(
            [
                owners.select(accession_key(), "owner_cik"),
                trades.select(KEY, pl.col("insider_cik").alias("owner_cik")),
            ]
        )
        .drop_nulls()
        .unique()
    )
    reports = trades.select(KEY, "row_index", *BLOCK).drop_nulls().unique().join(ciks, on=KEY)
    earlier = reports.select(*BLOCK, "owner_cik", pl.col(KEY).alias("earlier"))
    return (
        reports.join(earlier, on=[*BLOCK, "owner_cik"])
        .filter(pl.col("earlier") < pl.col(KEY))
        .select(KEY, "row_index")
        .unique()
    )


def plan_factor(config: ScoreConfig) -> pl.Expr:
    """``plan_factor``: a trade's weight in the sums and the cluster, ``plan_weight`` for a plan trade."""
    factor = pl.when(pl.col("plan")).then(pl.lit(config.plan_weight)).otherwise(pl.lit(1.0))
    return factor.alias("plan_factor")


def routine_traders(trades: pl.LazyFrame) -> pl.LazyFrame:
    """``issuer_cik, insider_cik, year`` of routine traders (Cohen-Malloy-Pomorski): traded the issuer in
    the same calendar month in each of the three preceding years, as known before the year began."""
    traded = trades.select(
        "issuer_cik",
        "insider_cik",
        pl.coalesce("transaction_date", "available_date").alias("traded"),
        pl.col("available_date").dt.year().alias("known_year"),
    ).select(
        "issuer_cik",
        "insider_cik",
        pl.col("traded").dt.year().alias("traded_year"),
        pl.col("traded").dt.month().alias("month"),
        "known_year",
    )
    return (
        traded.with_columns(pl.lit([1, 2, 3]).alias("lag"))
        .explode("lag")
        .with_columns((pl.col("traded_year") + pl.col("lag")).alias("year"))
        .filter(pl.col("year") > pl.col("known_year"))
        .group_by("issuer_cik", "insider_cik", "year", "month")
        .agg(pl.col("lag").n_unique().alias("lags"))
        .filter(pl.col("lags") == 3)
        .select("issuer_cik", "insider_cik", "year")
        .unique()
    )


def trade_events(
    tables: dict[str, pl.LazyFrame],
    first_day: dt.date,
    last_day: dt.date,
    caps: MarketCaps,
    config: ScoreConfig,
) -> TradeEvents:
    """Eligible trades known in ``[first_day - flow_window + 1, last_day]`` as events (sections 2-6)."""
    events, notes = event_frame(tables, first_day, last_day, caps, config)
    return TradeEvents(
        issuer_cik=events["issuer_cik"].to_numpy(),
        insider_cik=events["insider_cik"].to_numpy(),
        start=events["start"].to_numpy().astype(np.int64),
        superseded=events["superseded"].to_numpy().astype(np.int64),
        is_buy=events["is_buy"].to_numpy(),
        term=events["term"].fill_null(float("nan")).to_numpy(),
        notes=notes,
    )


DETAIL_COLUMNS = (
    "accession",
    "row_index",
    "transaction_code",
    "shares",
    "price",
    "plan",
    "plan_factor",
    "role_weight",
    "size",
)
"""What ``event_frame(detail=True)`` keeps of each trade beside the event columns, for ``explain``."""


def event_frame(
    tables: dict[str, pl.LazyFrame],
    first_day: dt.date,
    last_day: dt.date,
    caps: MarketCaps,
    config: ScoreConfig,
    *,
    detail: bool = False,
) -> tuple[pl.DataFrame, list[str]]:
    """The events of ``trade_events`` as a frame (``issuer_cik, insider_cik, start, superseded, is_buy,
    term``) and the notes on what was left out; with ``detail``, also ``DETAIL_COLUMNS``,
    ``available_date``, ``period_of_report``, the market cap used and its date (``cap, cap_date``) and the
    superseding amendment's day (``superseded_on``).

    The transactions are scanned once: the candidates collected feed the input checks and the trades,
    and their accession keys select the owners whose role weights are needed."""
    earliest = first_day - dt.timedelta(days=config.flow_window - 1)
    lookback = dt.date(earliest.year - 3, 1, 1) if config.exclude_routine else earliest
    window = partition_window(lookback, last_day)
    tables = {name: frame.filter(window) for name, frame in tables.items()}
    candidates = (
        eligible_trades(
            tables["transactions"], forms=config.forms, codes=config.buy_codes + config.sell_codes
        )
        .filter(pl.col("available_date").is_null() | pl.col("available_date").is_between(lookback, last_day))
        .select(accession_key(), *_trade_columns(config, detail))
        .collect()
    )
    notes = _input_notes(candidates, earliest, last_day)
    trades = candidates.lazy().filter(
        pl.col("available_date").is_not_null()
        & pl.col("issuer_cik").is_not_null()
        & pl.col("insider_cik").is_not_null()
    )
    if config.dedupe_affiliated:
        repeats = affiliated_repeats(trades, tables["owners"]).collect()
        if repeats.height:
            notes.append(
                f"{repeats.height} trade row(s) repeating an affiliated filer's block (same issuer, day, "
                "trade date, code, shares and price, an owner in common) counted once"
            )
            trades = trades.join(repeats.lazy(), on=[KEY, "row_index"], how="anti")
    trades = plan_flags(trades, tables["filings"], tables["footnotes"], config)
    if config.exclude_routine:
        routine = routine_traders(trades)
        trades = trades.filter(pl.col("available_date") >= earliest).join(
            routine,
            left_on=["issuer_cik", "insider_cik", pl.col("available_date").dt.year()],
            right_on=["issuer_cik", "insider_cik", "year"],
            how="anti",
        )
    kept = ("accession", "plan") if detail else ()
    trades = (
        trades.with_columns(plan_factor(config))
        .filter(pl.col("plan_factor") > 0)
        .select(
            KEY,
            *_EVENT_COLUMNS,
            *kept,
            "plan_factor",
            duplicate_row().alias("duplicate"),
        )
        .collect()
    )
    check_keys(trades, "transactions", rows="eligible row(s)")
    duplicates = trades["duplicate"].sum()
    if duplicates:
        notes.append(f"{duplicates} duplicate transaction row(s) (same accession and row) counted once")
        trades = trades.filter(~pl.col("duplicate"))
    weights = role_weights(tables["owners"], config, trades[KEY].unique())
    events = _priced(
        with_superseded(
            _sized(trades.lazy().join(weights, on=KEY, how="left"), caps, config, detail),
            amendment_dates(tables["filings"], config.amendment_forms),
        ),
        caps.known_between(lookback, last_day),
        detail,
    ).collect()
    overflowing = events.filter(pl.col("term") == float("inf"))
    if overflowing.height:
        notes.append(_overflow_note(tables["transactions"], overflowing[KEY]))
    return events, notes


def duplicate_row() -> pl.Expr:
    """True for every repeat of an (accession, row) already seen: a trade stored twice counts once."""
    return ~pl.struct(KEY, "row_index").is_first_distinct()


_EVENT_COLUMNS = (
    "row_index",
    "issuer_cik",
    "insider_cik",
    "period_of_report",
    "available_date",
    "transaction_code",
    "shares",
    "price",
)
"""The transaction columns a trade event is built from (beside its accession key and plan factor)."""


def _trade_columns(config: ScoreConfig, detail: bool) -> list[str]:
    """The transaction columns the events need, plus those the configured plan, routine and affiliated
    rules read (and the accession for the detail)."""
    columns = [*_EVENT_COLUMNS, "plan"]
    if detail or not config.default_plan_pattern:
        columns.append("accession")
    if not config.default_plan_pattern:
        columns.append("footnote_ids")
    if config.exclude_routine or config.dedupe_affiliated:
        columns.append("transaction_date")
    return columns


def _input_notes(candidates: pl.DataFrame, earliest: dt.date, last_day: dt.date) -> list[str]:
    """What the input checks left out: eligible trades without a date, an issuer or an insider."""
    in_range = pl.col("available_date").is_between(earliest, last_day)
    row = candidates.select(
        pl.col("available_date").is_null().sum().alias("no_date"),
        (in_range & pl.col("issuer_cik").is_null()).sum().alias("no_issuer"),
        (in_range & pl.col("insider_cik").is_null()).sum().alias("no_insider"),
    ).row(0, named=True)
    notes = []
    if row["no_date"]:
        notes.append(f"{row['no_date']} eligible trade(s) without an available_date were left out")
    if row["no_issuer"] or row["no_insider"]:
        notes.append(
            f"{row['no_issuer']} eligible trade(s) without an issuer CIK and {row['no_insider']} without a "
            "reporting-owner CIK were left out"
        )
    return notes


def _sized(trades: pl.LazyFrame, caps: MarketCaps, config: ScoreConfig, detail: bool) -> pl.LazyFrame:
    """Only the columns the events still need (before the sorts of the as-of joins): the keys, the
    side, ``weight`` (role weight times plan factor) and ``size`` (the value, or shares when the market
    data are shares outstanding; 0 without a positive price); with ``detail``, ``DETAIL_COLUMNS`` too."""
    size = pl.when(priced()).then(pl.col("shares")).otherwise(0.0) if caps.kind == SHARES else dollar_value()
    weight = pl.col("role_weight").fill_null(config.role_weights["other"]) * pl.col("plan_factor")
    return trades.select(
        KEY,
        "issuer_cik",
        "insider_cik",
        "period_of_report",
        "available_date",
        pl.col("transaction_code").is_in(config.buy_codes).alias("is_buy"),
        weight.alias("weight"),
        size.alias("size"),
        *([c for c in DETAIL_COLUMNS if c != "size"] if detail else ()),
    )


def _priced(trades: pl.LazyFrame, caps: pl.LazyFrame, detail: bool) -> pl.LazyFrame:
    """The event columns: days since epoch, side and ``term`` (weight x size / market cap as-of the
    trade's available date, from ``caps``: ``issuer_cik, date, cap``). A term 0 whatever the cap (zero
    weight or size) needs none (SCORING.md section 6); otherwise NaN without a market cap, and ``inf``
    when the size or the term is not finite or beyond ``TERM_LIMIT``; with ``detail``, the columns
    ``event_frame`` lists."""
    trades = trades.join_asof(
        caps.rename({"date": "cap_date"}),
        left_on="available_date",
        right_on="cap_date",
        by="issuer_cik",
        strategy="backward",
        check_sortedness=False,
    )
    term = pl.col("weight") * (pl.col("size") / pl.col("cap"))
    term = (
        pl.when((pl.col("weight") == 0) | (pl.col("size") == 0))
        .then(0.0)
        .when(~pl.col("size").is_finite())
        .then(float("inf"))
        .when(pl.col("cap").is_null())
        .then(float("nan"))
        .when(~term.is_finite() | (term.abs() > TERM_LIMIT))
        .then(float("inf"))
        .otherwise(term)
    )
    epoch = pl.lit(dt.date(1970, 1, 1))
    details = [
        *DETAIL_COLUMNS,
        "available_date",
        "period_of_report",
        "cap",
        "cap_date",
        "weight",
        pl.col("superseded").alias("superseded_on"),
    ]
    return trades.select(
        KEY,
        "issuer_cik",
        "insider_cik",
        (pl.col("available_date") - epoch).dt.total_days().alias("start"),
        (pl.col("superseded") - epoch).dt.total_days().fill_null(NEVER).alias("superseded"),
        "is_buy",
        term.alias("term"),
        *(details if detail else ()),
    )


def _overflow_note(transactions: pl.LazyFrame, keys: pl.Series) -> str:
    """The note naming the accessions whose terms are not finite or beyond ``TERM_LIMIT``."""
    accessions = (
        transactions.filter(accession_key().is_in(keys.unique().implode()))
        .select("accession")
        .unique()
        .sort("accession")
        .collect()["accession"]
    )
    shown = ", ".join(accessions.head(10).to_list())
    more = f" and {accessions.len() - 10} more" if accessions.len() > 10 else ""
    return (
        f"{keys.len()} trade(s) with a non-finite value or a term beyond {TERM_LIMIT:g} (value / market "
        f"cap) make only their issuer's raw null while in the window (null_reason = non_finite_term): "
        f"accession(s) {shown}{more}; check their shares and price"
    )
