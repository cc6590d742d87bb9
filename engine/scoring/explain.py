"""How one cell of the score was made: ``explain(store, issuer, date)`` lists every trade of the issuer
around the 90-day window with the weight, value, market cap, plan flag and amendment the score took, why
the others did not count, the cluster's members, ``raw`` and the cross-section it was z-scored in.

Nothing here restates a rule. The trades and their terms come from the score's own events pipeline
(``event_frame(detail=True)`` on the issuer's rows); whether a trade counts on the date is what the
score's kernels say when each trade is run as its own group; the cell's sums, cluster and ``raw`` are the
kernels run on the issuer's events; the cross-section is the date's ``score_run`` with ``raw`` from
here, z-scored by the same kernel (whose mean and std are ``zscore_moments``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import UserError
from engine.scoring import cross_section, kernels
from engine.scoring.config import ROLES, ScoreConfig
from engine.scoring.events import (
    PLAN_SOURCES,
    duplicate_row,
    event_frame,
    owner_roles,
    partition_window,
    plan_factor,
    plan_flags,
    plan_sources,
    routine_traders,
)
from engine.scoring.market_caps import MarketCaps, MarketSource, tickers_to_ciks
from engine.scoring.rules import eligibility, eligible_trades
from engine.scoring.run import (
    Source,
    kernel_threads,
    null_reasons,
    open_tables,
    resolve_market_caps,
    score_run,
)
from engine.scoring.universe import EPOCH, UniverseSource, clean_ticker, filing_events, to_day
from engine.store.accessions import KEY, accession_key

CONTEXT_DAYS = 30
"""Days before the flow window and after the date whose trades are listed too (as not counting)."""

COUNTED = "counted"

_ROW = ["accession", "row_index"]
_LISTED_COLUMNS = (
    "accession",
    "row_index",
    "is_derivative",
    "is_holding",
    "document_type",
    "issuer_cik",
    "insider_cik",
    "transaction_code",
    "shares",
    "price",
    "plan",
    "footnote_ids",
    "period_of_report",
    "transaction_date",
    "available_date",
)


@dataclass
class Explanation:
    """One (date, issuer) cell taken apart; ``trades`` has one row per transaction row listed, with
    ``status`` = ``counted`` or the reason it did not count."""

    issuer_cik: int
    ticker: str | None
    date: dt.date
    config: ScoreConfig
    trades: pl.DataFrame
    cluster_members: list[int]
    cell: dict[str, Any]
    section: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def counted(self) -> pl.DataFrame:
        """The trades in the cell's sums (and, when recent enough, its cluster)."""
        return self.trades.filter(pl.col("status") == COUNTED)

    @property
    def not_counted(self) -> pl.DataFrame:
        """The trades listed that did not count on the date, each with its reason."""
        return self.trades.filter(pl.col("status") != COUNTED)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (dates as ISO strings, NaN as None)."""
        return _plain(
            {
                "issuer_cik": self.issuer_cik,
                "ticker": self.ticker,
                "date": self.date,
                "windows": self.windows,
                "cell": self.cell,
                "section": self.section,
                "cluster_members": self.cluster_members,
                "counted": self.counted.to_dicts(),
                "not_counted": self.not_counted.to_dicts(),
                "notes": self.notes,
            }
        )

    @property
    def windows(self) -> dict[str, dt.date]:
        """First and last day of the flow and cluster windows (inclusive)."""
        flow = self.date - dt.timedelta(days=self.config.flow_window - 1)
        cluster = self.date - dt.timedelta(days=self.config.cluster_window - 1)
        return {"flow_from": flow, "cluster_from": cluster, "to": self.date}

    def table(self) -> str:
        """A short terminal table: the cell, its cross-section, the trades that counted and those that
        did not."""
        from engine.scoring.explain_table import render

        return render(self)


def explain(
    source: Source,
    issuer: int | str,
    date: dt.date | str,
    *,
    market_caps: MarketSource | MarketCaps | str,
    config: ScoreConfig | None = None,
    universe: UniverseSource | None = None,
    context_days: int = CONTEXT_DAYS,
) -> Explanation:
    """How the score of ``issuer`` (a CIK, or a ticker as of ``date``) on ``date`` was made. Ticker-keyed
    market caps are mapped to CIKs with every filing of the store, as a panel scored past the last
    filing maps them."""
    config = config or ScoreConfig()
    t = EPOCH + dt.timedelta(days=to_day(date))
    tables, store = open_tables(source)
    ticker_map = filing_events(tables["filings"], dt.date.max).with_columns(clean_ticker())
    cik = _issuer_cik(issuer, t, tables, ticker_map)
    caps = resolve_market_caps(market_caps, store, ticker_map)
    first_day = t - dt.timedelta(days=context_days)
    last_day = t + dt.timedelta(days=context_days)
    mine = {name: _of_issuer(frame, cik) for name, frame in tables.items()}
    events, notes = event_frame(mine, first_day, last_day, caps, config, detail=True)
    with kernel_threads(events.height):
        trades, cell, members = _on_date(events, t, config)
    listed, holdings = _listed(mine, first_day, last_day, config)
    trades = _with_reasons(listed, trades, mine, first_day, t, config)
    scored = score_run(tables, dates=[t], market_caps=caps, universe=universe, config=config)
    with kernel_threads(scored.frame.height):
        section, cell = _cross_section(scored.frame, cik, cell, config)
    notes = [*caps.notes, *notes]
    if holdings:
        notes.append(f"{holdings} holding row(s) (positions, not transactions) are not listed")
    if not cell["in_universe"]:
        notes.append(f"issuer {cik} is not in the universe on {t}: the score has no row for it")
    return Explanation(
        issuer_cik=cik,
        ticker=cell.pop("ticker"),
        date=t,
        config=config,
        trades=trades,
        cluster_members=members,
        cell=cell,
        section=section,
        notes=notes,
    )


def _issuer_cik(
    issuer: int | str, t: dt.date, tables: dict[str, pl.LazyFrame], ticker_map: pl.LazyFrame
) -> int:
    """The CIK of ``issuer``: digits are a CIK; anything else a ticker, mapped as of ``t`` the way the
    score maps ticker-keyed market data."""
    text = str(issuer).strip()
    if text.isdigit():
        cik = int(text)
        known = tables["filings"].filter(pl.col("issuer_cik") == cik).select(pl.len()).collect().item()
        if not known:
            raise UserError(
                f"no filing of issuer CIK {cik} in the store", fix="check the CIK (or pass a ticker)"
            )
        return cik
    wanted = pl.DataFrame({"date": [t], "ticker": [text]})
    mapped, _ = tickers_to_ciks(wanted, ticker_map, "--issuer")
    if mapped.is_empty():
        raise UserError(
            f"no filing in the store uses the ticker {text.upper()!r}",
            fix="pass the issuer's CIK, or a ticker its Form 3/4/5 filings carry",
        )
    return int(mapped["issuer_cik"][0])


def _of_issuer(frame: pl.LazyFrame, cik: int) -> pl.LazyFrame:
    """The issuer's rows of a store table (tables without an issuer column are kept whole)."""
    return frame.filter(pl.col("issuer_cik") == cik) if "issuer_cik" in frame.collect_schema() else frame


def _on_date(
    events: pl.DataFrame, t: dt.date, config: ScoreConfig
) -> tuple[pl.DataFrame, dict[str, Any], list[int]]:
    """The events with ``in_flow``/``in_cluster`` on ``t`` (each event run through the kernels as its own
    group), the cell's sums, counts, cluster and raw (the kernels on all of them), and the cluster."""
    n = events.height
    day = np.array([to_day(t)], dtype=np.int64)
    start = events["start"].to_numpy().astype(np.int64)
    superseded = events["superseded"].to_numpy().astype(np.int64)
    term = events["term"].fill_null(float("nan")).to_numpy()
    is_buy = events["is_buy"].to_numpy()
    insider = events["insider_cik"].to_numpy()
    cluster_end = np.minimum(superseded, start + config.cluster_window)
    alone = np.arange(n + 1, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64).reshape(1, n)
    _, _, n_buy, n_sell, _ = kernels.window_sums(
        alone, start, superseded, term, is_buy, day, config.flow_window, rows, n
    )
    in_cluster = kernels.distinct_counts(alone, start, cluster_end, insider, day, rows, n)
    order, ptr = kernels.group_order(np.zeros(n, dtype=np.int64), start, 1)
    one = np.zeros((1, 1), dtype=np.int64)
    buys, sells, n_buys, n_sells, missing = kernels.window_sums(
        ptr, start[order], superseded[order], term[order], is_buy[order], day, config.flow_window, one, 1
    )
    cluster = kernels.distinct_counts(ptr, start[order], cluster_end[order], insider[order], day, one, 1)
    raw, reason = kernels.raw_scores(buys, sells, cluster, missing)
    cell = {
        "buys": float(buys[0]),
        "sells": float(sells[0]),
        "cluster": int(cluster[0]),
        "raw": float(raw[0]),
        "n_buys": int(n_buys[0]),
        "n_sells": int(n_sells[0]),
        "null_reason": null_reasons(reason)[0],
    }
    events = events.with_columns(
        pl.Series("in_flow", (n_buy + n_sell) > 0), pl.Series("in_cluster", in_cluster > 0)
    )
    members = sorted(set(events.filter("in_cluster")["insider_cik"].to_list()))
    return events, cell, members


def _listed(
    mine: dict[str, pl.LazyFrame], first_day: dt.date, last_day: dt.date, config: ScoreConfig
) -> tuple[pl.DataFrame, int]:
    """The issuer's transaction rows known in the listed span (or without a date) with the first
    section-2 condition each fails and, for non-derivative rows, the plan flag as the score takes it and
    where it comes from; and how many holding rows were left out of the list."""
    earliest = first_day - dt.timedelta(days=config.flow_window - 1)
    in_span = pl.col("available_date").is_null() | pl.col("available_date").is_between(earliest, last_day)
    rows = (
        mine["transactions"]
        .filter(partition_window(earliest, last_day) & in_span)
        .select(accession_key(), *_LISTED_COLUMNS)
        .collect()
    )
    holding = rows["is_holding"].fill_null(False)
    rows = rows.filter(~holding).with_row_index("_i")
    derivative = rows["is_derivative"].fill_null(False)
    table = rows.filter(~derivative).lazy()
    flagged = plan_flags(table, mine["filings"], mine["footnotes"], config)
    sources = plan_sources(table.drop("plan"), mine["filings"], mine["footnotes"], config)
    plans = flagged.join(sources.select("_i", *PLAN_SOURCES), on="_i", how="left").collect()
    failed = [
        pl.when(~condition.fill_null(False)).then(_label(name))
        for name, condition in eligibility(config.forms, config.buy_codes + config.sell_codes).items()
    ]
    rows = pl.concat([plans, rows.filter(derivative)], how="diagonal_relaxed").with_columns(
        plan_factor(config), pl.coalesce(failed).alias("ineligible"), _plan_why().alias("plan_why")
    )
    return rows, int(holding.sum())


def _label(condition: str) -> pl.Expr:
    """The reason shown for a row failing the named eligibility condition."""
    if condition == "form":
        return pl.lit("form ") + pl.col("document_type").fill_null("?")
    if condition == "code":
        return pl.lit("code ") + pl.col("transaction_code").fill_null("?")
    if condition == "shares":
        return pl.lit("no positive share count")
    return pl.lit(condition)


def _plan_why() -> pl.Expr:
    """Where the plan flag comes from: checkbox, remarks, footnote ids, or the store's flag alone."""
    footnotes = pl.lit("footnote ") + pl.col("plan_footnotes").list.join(",")
    parts = pl.concat_str(
        pl.when(pl.col("plan_checkbox")).then(pl.lit("checkbox")),
        pl.when(pl.col("plan_remarks")).then(pl.lit("remarks")),
        pl.when(pl.col("plan_footnotes").list.len() > 0).then(footnotes),
        separator="; ",
        ignore_nulls=True,
    )
    return pl.when(pl.col("plan")).then(
        pl.when(parts != "").then(parts).otherwise(pl.lit("store's plan flag"))
    )


def _with_reasons(
    listed: pl.DataFrame,
    events: pl.DataFrame,
    mine: dict[str, pl.LazyFrame],
    first_day: dt.date,
    t: dt.date,
    config: ScoreConfig,
) -> pl.DataFrame:
    """Every listed row with the event's terms where the score made it an event, and ``status``:
    counted, or why not (section 2, no date or insider, plan, routine, duplicate, then the window)."""
    repeats = (
        listed.filter(pl.col("ineligible").is_null())
        .sort("_i")
        .select("_i", duplicate_row().alias("duplicate"))
    )
    detail = events.select(
        *_ROW,
        "start",
        pl.when(pl.col("is_buy")).then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
        "term",
        "role_weight",
        "size",
        "cap",
        "cap_date",
        "superseded_on",
        "in_flow",
        "in_cluster",
        pl.lit(False).alias("is_derivative"),
    )
    joined = (
        listed.with_columns(pl.col("available_date").dt.year().cast(pl.Int32).alias("year"))
        .join(repeats, on="_i", how="left")
        .join(detail, on=[*_ROW, "is_derivative"], how="left")
        .join(_routine(mine, first_day, config), on=["insider_cik", "year"], how="left")
    )
    status = (
        pl.when(pl.col("ineligible").is_not_null())
        .then(pl.col("ineligible"))
        .when(pl.col("available_date").is_null())
        .then(pl.lit("no available date"))
        .when(pl.col("insider_cik").is_null())
        .then(pl.lit("no insider CIK"))
        .when(pl.col("plan_factor") == 0)
        .then(pl.lit("plan"))
        .when(pl.col("routine").fill_null(False))
        .then(pl.lit("routine trader"))
        .when(pl.col("duplicate").fill_null(False))
        .then(pl.lit("duplicate row"))
        .when(pl.col("start").is_null())
        .then(pl.lit("left out by the score"))
        .when(pl.col("in_flow"))
        .then(pl.lit(COUNTED))
        .when(pl.col("available_date") > t)
        .then(pl.lit("not yet available"))
        .when((pl.col("superseded_on") <= t).fill_null(False))
        .then(pl.lit("superseded"))
        .otherwise(pl.lit("outside the window"))
    )
    roles = _roles(mine["owners"], config, joined[KEY].drop_nulls().unique())
    return (
        joined.with_columns(status.alias("status"))
        .join(roles, on=KEY, how="left")
        .join(
            _amendments(mine["filings"], config),
            on=["insider_cik", "period_of_report", "superseded_on"],
            how="left",
        )
        .sort("available_date", "accession", "is_derivative", "row_index", nulls_last=True)
        .select(
            "status",
            "available_date",
            "accession",
            "row_index",
            "is_derivative",
            "document_type",
            "insider_cik",
            "insider",
            "roles",
            "role_weight",
            "transaction_code",
            "side",
            "shares",
            "price",
            pl.col("size").alias("value"),
            pl.col("cap").alias("market_cap"),
            pl.col("cap_date").alias("market_cap_date"),
            "plan",
            "plan_why",
            "plan_factor",
            "superseded_on",
            "superseded_by",
            "term",
            pl.col("in_cluster").fill_null(False),
        )
    )


def _routine(mine: dict[str, pl.LazyFrame], first_day: dt.date, config: ScoreConfig) -> pl.DataFrame:
    """``insider_cik, year, routine`` of the issuer's routine traders (none unless the config excludes
    them), by the score's rule over the same three years of history ``event_frame`` reads."""
    schema = {"insider_cik": pl.Int64, "year": pl.Int32, "routine": pl.Boolean}
    if not config.exclude_routine:
        return pl.DataFrame(schema=schema)
    earliest = first_day - dt.timedelta(days=config.flow_window - 1)
    trades = eligible_trades(
        mine["transactions"], forms=config.forms, codes=config.buy_codes + config.sell_codes
    ).filter(
        pl.col("insider_cik").is_not_null() & (pl.col("available_date") >= dt.date(earliest.year - 3, 1, 1))
    )
    return (
        routine_traders(trades)
        .select("insider_cik", pl.col("year").cast(pl.Int32), pl.lit(True).alias("routine"))
        .collect()
    )


def _roles(owners: pl.LazyFrame, config: ScoreConfig, keys: pl.Series) -> pl.DataFrame:
    """``acc_key, insider, roles``: the insider's name (the owner with the smallest CIK, section 1) and
    the union of the filing's owners' roles, the set whose largest weight the score takes."""
    return (
        owner_roles(owners, config, keys, keep=("owner_cik", "owner_name"))
        .group_by(KEY)
        .agg(
            pl.col("owner_name").sort_by("owner_cik").first().alias("insider"),
            pl.col("roles").bitwise_or().alias("bits"),
        )
        .select(KEY, "insider", _role_names(pl.col("bits")).alias("roles"))
        .collect()
    )


def _role_names(bits: pl.Expr) -> pl.Expr:
    """The names of the roles in a bit set (``ROLES`` order), joined with ``+``."""
    held = [pl.when((bits.cast(pl.Int32) & (1 << k)) != 0).then(pl.lit(role)) for k, role in enumerate(ROLES)]
    return pl.concat_str(held, separator="+", ignore_nulls=True)


def _amendments(filings: pl.LazyFrame, config: ScoreConfig) -> pl.DataFrame:
    """``insider_cik, period_of_report, superseded_on, superseded_by``: the amendment(s) of each day."""
    return (
        filings.filter(pl.col("document_type").is_in(config.amendment_forms))
        .group_by("insider_cik", "period_of_report", pl.col("available_date").alias("superseded_on"))
        .agg(pl.col("accession").sort().str.join(", ").alias("superseded_by"))
        .collect()
    )


def _cross_section(
    frame: pl.DataFrame, cik: int, cell: dict[str, Any], config: ScoreConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The date's cross-section (the score's) with this cell's raw in it: its size, the value of this
    cell it z-scores, the mean and std it divides by, and the cell's ``insider`` and ``pct``."""
    mine = np.flatnonzero((frame["issuer_cik"] == cik).to_numpy())
    raw = frame["raw"].fill_null(float("nan")).to_numpy().copy()
    raw[mine] = cell["raw"]
    present = ~np.isnan(raw)
    winsorize = config.winsorize or 0.0
    rank = config.score_method == "rank"
    values, _ = cross_section.scored_values(raw[present].copy(), winsorize, rank)
    mean, std = cross_section.zscore_moments(values, config.ddof) if values.size else (math.nan, math.nan)
    insider, pct = cross_section.cross_section(
        raw, np.array([0, raw.size], dtype=np.int64), config.ddof, winsorize, rank
    )
    scored = mine.size > 0 and present[mine[0]]
    section = {
        "universe": frame.height,
        "size": int(present.sum()),
        "of": "ranks of raw" if rank else "winsorised raw" if winsorize else "raw",
        "value": float(values[np.count_nonzero(present[: mine[0]])]) if scored else math.nan,
        "mean": float(mean),
        "std": float(std),
    }
    row = frame.row(int(mine[0]), named=True) if mine.size else {}
    cell = {
        **cell,
        "ticker": row.get("ticker"),
        "insider": float(insider[mine[0]]) if mine.size else math.nan,
        "pct": float(pct[mine[0]]) if mine.size else math.nan,
        "in_universe": bool(mine.size),
    }
    return section, cell


def _plain(value: Any) -> Any:
    """JSON-ready copy: dates to ISO strings, NaN to None, tuples to lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
