"""The scoring API: the insider factor of SCORING.md for every (date, issuer) of a universe.

``score`` runs the Polars pipeline (``engine.scoring.events``) to per-trade events, groups them per issuer
and hands NumPy arrays to the numba kernels (``engine.scoring.kernels``); ``score_asof`` is one cross-section.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import polars as pl

from engine import frames, provenance
from engine.errors import UserError
from engine.scoring import cross_section, kernels
from engine.scoring.config import ScoreConfig
from engine.scoring.events import TradeEvents, partition_window, trade_events
from engine.scoring.market_caps import MarketCaps, MarketSource, load_market_caps
from engine.scoring.rules import clean_ticker
from engine.scoring.universe import (
    UniverseSource,
    explicit_membership,
    filing_events,
    load_universe,
    score_dates,
    ticker_labels,
)
from engine.store.datasets import Store
from engine.store.shares import frame_files, scan_shares_outstanding
from parsers.schema import FILINGS_SCHEMA, FOOTNOTES_SCHEMA, OWNERS_SCHEMA, TRANSACTIONS_SCHEMA

SCORE_COLUMNS: tuple[str, ...] = (
    "date",
    "issuer_cik",
    "ticker",
    "buys",
    "sells",
    "cluster",
    "raw",
    "insider",
    "n_buys",
    "n_sells",
    "pct",
    "null_reason",
)
"""Output columns; ``null_reason`` says why ``raw`` (and so ``insider``) is null, else null."""

NO_MARKET_CAP = "no_market_cap"
NON_FINITE_TERM = "non_finite_term"
NULL_REASONS = pl.Enum([NO_MARKET_CAP, NON_FINITE_TERM])

Source = Store | str | Path | Mapping[str, frames.TableSource]
"""A Store, a store directory, or a mapping of the store's tables (each in any form of ``engine.frames``)."""

DateLike = dt.date | str
"""A ``datetime.date`` (or ``datetime``, pandas ``Timestamp``) or ISO text; ``numpy.datetime64`` works too."""

ConfigSource = ScoreConfig | Mapping[str, Any] | str | Path
"""A ScoreConfig, a mapping of its keys, or a TOML file of them."""

_SCHEMAS = {
    "filings": FILINGS_SCHEMA,
    "owners": OWNERS_SCHEMA,
    "transactions": TRANSACTIONS_SCHEMA,
    "footnotes": FOOTNOTES_SCHEMA,
}


@dataclass
class ScoreRun:
    """A scored panel, the notes on what was left out or null and why, and its provenance (engine version,
    config, store facts, market-cap source: ``engine.provenance``)."""

    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)


def _empty(name: str) -> pl.LazyFrame:
    return pl.LazyFrame(schema=pl.Schema(pl.from_arrow(_SCHEMAS[name].empty_table()).schema))


def open_tables(source: Source) -> tuple[dict[str, pl.LazyFrame], Store | None]:
    """The four store tables as LazyFrames, from a Store, a store directory or a mapping of tables
    (owners and footnotes may be left out: they then count as empty)."""
    if isinstance(source, str | Path):
        source = Store.existing(source)
    if isinstance(source, Store):
        return {name: source.scan(name) for name in _SCHEMAS}, source
    if frames.is_table(source):
        raise UserError(
            "a single frame cannot be scored: role weights need the owners table and supersession the "
            "filings table",
            fix="pass a Store, a store directory, or a mapping {'transactions': ..., 'filings': ..., "
            "'owners': ..., 'footnotes': ...} of tables",
        )
    if not isinstance(source, Mapping):
        raise UserError(
            f"source: a {type(source).__name__} is not a store",
            fix="pass a Store, a store directory, or a mapping of its tables",
        )
    unknown = sorted(set(source) - set(_SCHEMAS))
    if unknown or "transactions" not in source or "filings" not in source:
        raise UserError(
            f"the table mapping needs transactions and filings (got {sorted(source)})",
            fix="pass a mapping with keys transactions, filings and optionally owners, footnotes",
        )
    tables = {
        name: _complete(frames.lazy(source[name], f"source[{name!r}]"), name)
        if name in source
        else _empty(name)
        for name in _SCHEMAS
    }
    return tables, None


def _complete(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """A caller's table typed per its schema: missing columns added as nulls (e.g. no partition columns),
    dates coerced by ``engine.frames`` (e.g. a pandas round trip's datetimes), the others cast."""
    schema = _empty(name).collect_schema()
    present = frame.collect_schema()
    fixed = [
        pl.lit(None, dtype=dtype).alias(column)
        if column not in present
        else frames.as_date(present[column], column, f"source[{name!r}]")
        if dtype == pl.Date
        else pl.col(column).cast(dtype)
        for column, dtype in schema.items()
        if present.get(column) != dtype
    ]
    return frame.with_columns(fixed) if fixed else frame


def as_config(config: ConfigSource | None) -> ScoreConfig:
    """The ``config`` argument as a ScoreConfig: the defaults, a ScoreConfig, a mapping or a TOML file."""
    if config is None:
        return ScoreConfig()
    if isinstance(config, ScoreConfig):
        return config
    if isinstance(config, str | Path):
        return ScoreConfig.from_toml(config)
    if isinstance(config, Mapping):
        return ScoreConfig.from_mapping(config, source="config")
    raise UserError(
        f"config: a {type(config).__name__} is not a score config",
        fix="pass a ScoreConfig, a dict of its keys, or a TOML file",
    )


def resolve_market_caps(
    market_caps: MarketSource | MarketCaps | str, store: Store | None, ticker_map: pl.LazyFrame
) -> MarketCaps:
    """The market data as ``MarketCaps``: as given, the store's shares outstanding (``"store"``), or a
    file or frame normalised with ``ticker_map`` (``ticker, available_date, issuer_cik``) for tickers."""
    if isinstance(market_caps, MarketCaps):
        return market_caps
    if isinstance(market_caps, str) and market_caps == "store":
        if store is None:
            raise UserError("market_caps='store' needs a Store source", fix="pass the Store or a file")
        if not frame_files(store):
            raise UserError(
                f"the store {store.root} has no shares_outstanding table",
                fix="load shares outstanding into the store or pass --market-caps FILE",
            )
        from engine.scoring.caps_from_prices import point_in_time_caps
        from engine.store.prices import has_prices, scan_prices

        if has_prices(store):  # point-in-time caps: shares as filed x closes as traded
            build = point_in_time_caps(scan_shares_outstanding(store), scan_prices(store))
            return build.market_caps(f"the store's shares_outstanding x its prices ({store.root})")
        label = f"the store's shares_outstanding table ({store.root})"
        return load_market_caps(scan_shares_outstanding(store), ticker_map, label=label)
    return load_market_caps(market_caps, ticker_map)


PARALLEL_MIN_CELLS = 200_000
"""Below this many (issuer x date) cells the kernels run on one thread: starting a parallel region
costs more than the work (tens of ms on a busy machine)."""


@contextmanager
def kernel_threads(cells: int) -> Iterator[None]:
    """Run the kernels inside on one thread when there are fewer than ``PARALLEL_MIN_CELLS`` cells."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1 if cells < PARALLEL_MIN_CELLS else previous)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


DENSE_CIK_LIMIT = 50_000_000
"""Largest CIK for which issuers are indexed through a dense lookup table (CIKs are ~2.1M today)."""


def _indexer(issuers: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Position of each CIK in the sorted ``issuers``: a table lookup when CIKs are small, else a search."""
    if issuers.size == 0 or issuers[0] < 0 or issuers[-1] > DENSE_CIK_LIMIT:
        return lambda ciks: np.searchsorted(issuers, ciks)
    table = np.zeros(issuers[-1] + 1, dtype=np.int64)
    table[issuers] = np.arange(issuers.size)
    return lambda ciks: table[ciks]


def _distinct_issuers(*ciks: pl.Series) -> np.ndarray:
    """The sorted distinct CIKs of several columns (a hash per column, then a sort of the few left)."""
    return np.unique(np.concatenate([c.unique().to_numpy() for c in ciks]).astype(np.int64))


def score_run(
    source: Source,
    start: DateLike | None = None,
    end: DateLike | None = None,
    *,
    market_caps: MarketSource | MarketCaps | str,
    universe: UniverseSource | None = None,
    config: ConfigSource | None = None,
    dates: Sequence[DateLike] | None = None,
    with_provenance: bool = True,
) -> ScoreRun:
    """``score`` with its notes (what was left out of the inputs and why cells are null) and provenance
    (``with_provenance=False`` leaves it empty and spares the scan of every filing its store facts need)."""
    config = as_config(config)
    start = None if start is None else frames.to_date(start, "start")
    end = None if end is None else frames.to_date(end, "end")
    grid = score_dates(start, end, None if dates is None else [frames.to_date(d, "dates") for d in dates])
    first_day = dt.date(1970, 1, 1) + dt.timedelta(days=int(grid[0]))
    last_day = dt.date(1970, 1, 1) + dt.timedelta(days=int(grid[-1]))
    tables, store = open_tables(source)
    explicit = load_universe(universe) if universe is not None else None
    if explicit is None and tables_empty(tables):
        raise UserError("the store has no filings", fix="run `insider ingest` on some filings first")
    all_filings = filing_events(tables["filings"], last_day)
    filings = all_filings
    if explicit is None:
        since = first_day - dt.timedelta(days=config.universe_lookback)
        filings = filing_events(tables["filings"].filter(partition_window(since, last_day)), last_day).filter(
            pl.col("available_date") >= since
        )
    if market_caps is None:
        raise UserError(
            "no market caps given: every trade's value / market cap would be unknown",
            fix="pass market_caps= (a file or frame of date, issuer_cik or ticker, market_cap) or 'store'",
        )
    caps = resolve_market_caps(market_caps, store, all_filings.with_columns(clean_ticker()))
    pending_filings = filings.collect(background=True)
    events = trade_events(tables, first_day, last_day, caps, config)
    filing_frame = pending_filings.fetch_blocking()
    del pending_filings
    notes = caps.notes + events.notes
    issuers = _distinct_issuers(
        filing_frame["issuer_cik"],
        pl.Series(events.issuer_cik, dtype=pl.Int64),
        explicit["issuer_cik"] if explicit is not None else pl.Series(dtype=pl.Int64),
    )
    issuer_index = _indexer(issuers)
    with kernel_threads(issuers.size * grid.size):
        tickers, labels, member = _latest_filings(filing_frame, issuer_index, issuers.size, grid, config)
        del filing_frame
        if explicit is not None:
            member = explicit_membership(explicit, issuers, grid)
        pos, date_ptr, row_issuer = kernels.row_positions(member)
        n_rows = int(date_ptr[-1])
        buys, sells, n_buys, n_sells, missing, cluster = _window_columns(
            events, issuer_index(events.issuer_cik), issuers.size, grid, pos, n_rows, config
        )
        del events
        raw, reason = kernels.raw_scores(buys, sells, cluster, missing)
        del missing
        insider, pct = cross_section.cross_section(
            raw, date_ptr, config.ddof, config.winsorize or 0.0, config.score_method == "rank"
        )
        row_label = kernels.row_values(labels, date_ptr, row_issuer)
    del labels, member, pos
    notes += _null_notes(reason, row_issuer, config)
    if n_rows == 0:
        notes.append("no issuer is in the universe on any score date (no ownership filing in the lookback)")
    null_reason = null_reasons(reason)
    del reason
    # The panel is the largest object of a run: each intermediate is freed before the next column is made.
    issuer_cik = pl.Series("issuer_cik", issuers[row_issuer])
    del row_issuer
    row_label[row_label < 0] = tickers.len()
    ticker = pl.concat([tickers, pl.Series([None], dtype=pl.String)]).gather(row_label).alias("ticker")
    del row_label
    frame = pl.DataFrame(
        {
            "date": pl.Series(np.repeat(grid.astype(np.int32), np.diff(date_ptr))).cast(pl.Date),
            "issuer_cik": issuer_cik,
            "ticker": ticker,
            "buys": pl.Series(buys, nan_to_null=True),
            "sells": pl.Series(sells, nan_to_null=True),
            "cluster": cluster,
            "raw": pl.Series(raw, nan_to_null=True),
            "insider": pl.Series(insider, nan_to_null=True),
            "n_buys": n_buys,
            "n_sells": n_sells,
            "pct": pl.Series(pct, nan_to_null=True),
            "null_reason": null_reason,
        }
    )
    if not with_provenance:
        return ScoreRun(frame, notes)
    return ScoreRun(frame, notes, provenance.score_provenance(config, tables["filings"], caps.source))


def _latest_filings(
    filings: pl.DataFrame,
    issuer_index: Callable[[np.ndarray], np.ndarray],
    n_issuers: int,
    grid: np.ndarray,
    config: ScoreConfig,
) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """The ticker labels, and per date and issuer the label of the latest filing and universe membership
    (``kernels.latest_filing`` on the filings grouped by issuer by ``kernels.group_order``, not by Polars)."""
    tickers, label = ticker_labels(filings["ticker"])
    day = filings["available_date"].cast(pl.Int32).to_numpy().astype(np.int64)
    order, ptr = kernels.group_order(issuer_index(filings["issuer_cik"].to_numpy()), day, n_issuers)
    labels, member = kernels.latest_filing(
        ptr,
        day[order],
        filings["accepted"].to_numpy()[order],
        filings["acc_key"].fill_null(np.iinfo(np.int64).min).to_numpy()[order],
        label[order],
        grid,
        config.universe_lookback,
    )
    return tickers, labels, member


def _window_columns(
    events: TradeEvents,
    issuer: np.ndarray,
    n_issuers: int,
    grid: np.ndarray,
    pos: np.ndarray,
    n_rows: int,
    config: ScoreConfig,
) -> tuple[np.ndarray, ...]:
    """``buys, sells, n_buys, n_sells, missing, cluster`` per row: the events grouped by issuer and day,
    and within a day by term, so that a window's sum adds the same terms in the same order whatever
    other events a run loaded (an append equals a full rescore bit for bit)."""
    grouped, ptr = kernels.group_order(issuer, events.start, n_issuers)
    order = kernels.sort_runs(grouped, ptr, events.start, events.term)
    start = events.start[order]
    superseded = events.superseded[order]
    sums = kernels.window_sums(
        ptr,
        start,
        superseded,
        events.term[order],
        events.is_buy[order],
        grid,
        config.flow_window,
        pos,
        n_rows,
    )
    cluster = kernels.distinct_counts(
        ptr,
        start,
        np.minimum(superseded, start + config.cluster_window),
        events.insider_cik[order],
        grid,
        pos,
        n_rows,
    )
    return (*sums, cluster)


def null_reasons(reason: np.ndarray) -> pl.Series:
    """``kernels.raw_scores``'s reason codes as the ``null_reason`` column."""
    code = pl.col("reason")
    return (
        pl.DataFrame({"reason": reason})
        .select(
            pl.when(code == kernels.NO_CAP)
            .then(pl.lit(NO_MARKET_CAP, dtype=NULL_REASONS))
            .when(code == kernels.NON_FINITE)
            .then(pl.lit(NON_FINITE_TERM, dtype=NULL_REASONS))
            .alias("null_reason")
        )
        .to_series()
    )


def _null_notes(reason: np.ndarray, row_issuer: np.ndarray, config: ScoreConfig) -> list[str]:
    """The notes on null ``raw`` cells: how many, of how many issuers, and why."""
    notes = []
    no_cap = reason == kernels.NO_CAP
    if no_cap.any():
        notes.append(
            f"raw is null in {int(no_cap.sum())} cell(s) of {np.unique(row_issuer[no_cap]).size} issuer(s): "
            f"a trade in the {config.flow_window}-day window "
            "has no market cap on or before its available date (null_reason = no_market_cap)"
        )
    non_finite = reason == kernels.NON_FINITE
    if non_finite.any():
        notes.append(
            f"raw is null in {int(non_finite.sum())} cell(s) of {np.unique(row_issuer[non_finite]).size} "
            "issuer(s) whose window holds a non-finite or overflowing term (null_reason = non_finite_term)"
        )
    return notes


def tables_empty(tables: dict[str, pl.LazyFrame]) -> bool:
    """True when there is not a single filing in the tables."""
    return tables["filings"].head(1).collect().height == 0


def score(
    source: Source,
    start: DateLike | None = None,
    end: DateLike | None = None,
    *,
    market_caps: MarketSource | MarketCaps | str,
    universe: UniverseSource | None = None,
    config: ConfigSource | None = None,
    dates: Sequence[DateLike] | None = None,
) -> pl.DataFrame:
    """The insider factor for every weekday in ``[start, end]`` (or the given ``dates``) and every issuer
    in that date's universe: ``date, issuer_cik, ticker, buys, sells, cluster, raw, insider, n_buys,
    n_sells, pct, null_reason``, sorted by date then issuer CIK.

    ``source``: a Store, a store directory or a mapping of its tables. ``market_caps``: a table (path,
    Polars, pandas or pyarrow) of ``date``, ``issuer_cik`` or ``ticker``, and ``market_cap`` (or ``close``
    and ``shares_outstanding``, or ``shares_outstanding``), or ``"store"``. ``universe``: CIKs, or a table
    of ``issuer_cik`` (and ``date``). ``config``: a ScoreConfig, a dict of its keys or a TOML file.
    """
    return score_run(
        source,
        start,
        end,
        market_caps=market_caps,
        universe=universe,
        config=config,
        dates=dates,
        with_provenance=False,
    ).frame


def score_asof(
    source: Source,
    date: DateLike,
    *,
    market_caps: MarketSource | MarketCaps | str,
    universe: UniverseSource | None = None,
    config: ConfigSource | None = None,
) -> pl.DataFrame:
    """One cross-section: the score of every issuer in the universe on ``date`` (any calendar day);
    arguments as in ``score``."""
    if _is_date(source):
        raise UserError(
            "score_asof takes the store first: score_asof(source, date)",
            fix="swap the first two arguments, e.g. score_asof(store, '2021-12-31', market_caps=...)",
        )
    day = frames.to_date(date, "date")
    return score(source, market_caps=market_caps, universe=universe, config=config, dates=[day])


def _is_date(value: object) -> bool:
    try:
        frames.to_date(value, "date")
    except UserError:
        return False
    return True
