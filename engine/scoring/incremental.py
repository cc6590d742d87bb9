"""Score files that grow by day: ``score_file`` writes a panel with a record of its inputs, and with
``append=True`` extends it to a later end, recomputing only the dates that new inputs can change.

Beside the provenance of ``engine.provenance`` (engine version, config, store facts, market-data source:
an append refuses a file whose version, config or market-data source differ), the record (Parquet
key-value metadata ``insider_engine.inputs``, JSON) holds the score range, the universe's source and
fingerprints of the inputs by the day they take effect: for each partition directory of the store's
filings, its files and, per ``available_date``, the count and the XOR of hashes of the accessions stored;
per date of the market data (as resolved, tickers mapped), the count and XOR of hashes of (issuer, value);
the same per date of an explicit universe. The store records no ingest time, so "stored since" is a
change of those fingerprints: only partitions whose files changed are read again.

The dates recomputed are the new weekdays after the recorded end, plus every earlier score date that a
changed fingerprint can reach (SCORING.md: a date's cells depend only on filings available in its
365-day lookback, trades in its 90-day window and the market data as of those trades' days):

- a filing available on day ``a`` (any table row of its accession): ``[a, a + H]``, ``H`` the longest of
  the universe lookback and the flow and cluster windows; every later date under ``exclude_routine``
  (a trade moves routine status up to three years on);
- a market-data value dated ``c``: every date from ``c`` (it prices later trades until replaced);
- an explicit universe's row dated ``u``: ``u``; an undated universe that changed: every date.

Those dates' rows are replaced in a copy written under a temporary name and renamed over the file (the
row groups before the first replaced date are copied byte for byte: ``engine.scoring.parquet_tail``).
Rows of a stored filing that change in place (a re-parse under a new engine) are not seen: the engine
version is part of what must match.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from engine import frames, provenance
from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.scoring.market_caps import MarketCaps, MarketSource
from engine.scoring.parquet_tail import replace_tail
from engine.scoring.rules import clean_ticker
from engine.scoring.run import (
    ConfigSource,
    ScoreRun,
    Source,
    as_config,
    open_tables,
    resolve_market_caps,
    score_run,
)
from engine.scoring.universe import EPOCH, UniverseSource, filing_events, load_universe, score_dates
from engine.store.atomic import TMP_SUFFIX, fsync_directory
from engine.store.datasets import Store

INPUTS = provenance.PREFIX + "inputs"
"""The Parquet metadata key of a score file's record of its inputs."""

ROW_GROUP_ROWS = 250_000
"""Rows per row group of a score file (about 35 dates of 7,000 issuers): an append re-encodes at most
the last one plus the new rows."""

HASH_SEED = 12
"""Seed of the fingerprints' hashes (Polars' hash is stable within one Polars version; another version
sees every day as changed and recomputes the whole file once)."""

DayPrints = dict[str, list[int]]
"""Day (days since 1970-01-01, as JSON text; ``"*"`` for an undated universe) -> [count, XOR of hashes]."""


@dataclass(frozen=True)
class Inputs:
    """What a score file was computed from (see the module docstring)."""

    start: str
    end: str
    universe_source: str
    filings: dict[str, dict]
    caps: DayPrints
    universe: DayPrints

    def to_json(self) -> str:
        """The record as compact JSON."""
        return json.dumps(vars(self), separators=(",", ":"))


@dataclass
class ScoreFile:
    """What ``score_file`` did: the run over the dates it scored (None when none needed it), how many of
    those were new dates after the file's previous end, and the file's rows now."""

    path: Path
    run: ScoreRun | None
    scored_dates: int
    new_dates: int
    rows: int


def score_file(
    path: str | os.PathLike[str],
    source: Source,
    start: dt.date | str,
    end: dt.date | str,
    *,
    market_caps: MarketSource | MarketCaps | str,
    universe: UniverseSource | None = None,
    config: ConfigSource | None = None,
    append: bool = False,
) -> ScoreFile:
    """Score every weekday of ``[start, end]`` into the Parquet file ``path``, recording its inputs; with
    ``append`` and an existing file, score only the new dates and those new inputs touch, and replace
    them in the file. The file then equals a full rescore of ``[start, end]``."""
    path = frames.output_path(path, (".parquet",), "score file")
    config = as_config(config)
    grid = score_dates(frames.to_date(start, "start"), frames.to_date(end, "end"))
    tables, store = open_tables(source)
    last_day = EPOCH + dt.timedelta(days=int(grid[-1]))
    caps = resolve_market_caps(
        market_caps, store, filing_events(tables["filings"], last_day).with_columns(clean_ticker())
    )
    explicit = load_universe(universe) if universe is not None else None
    universe_source = "default" if universe is None else _label(universe)
    previous = read_inputs(path) if append and path.exists() else None
    if previous is not None:
        same = {
            provenance.VERSION: provenance.engine_version(),
            provenance.CONFIG: provenance.config_toml(config),
            provenance.MARKET_CAPS: caps.source,
        }
        _check_same(path, previous, same, universe_source, grid)
    inputs = Inputs(
        start=_iso(grid[0]),
        end=_iso(grid[-1]),
        universe_source=universe_source,
        filings=_filing_prints(tables, store, None if previous is None else previous.filings),
        caps=_day_prints(caps.table.lazy(), "date", pl.struct("issuer_cik", "cap")),
        universe=_universe_prints(explicit),
    )
    dates = grid if previous is None else dates_to_score(previous, inputs, grid, config)
    run = None
    if dates.size:
        days = [_iso(d) for d in dates]
        run = score_run(source, market_caps=caps, universe=explicit, config=config, dates=days)
    facts = (
        run.provenance
        if run is not None
        else provenance.score_provenance(config, tables["filings"], caps.source)
    )
    metadata = {**facts, INPUTS: inputs.to_json()}
    if previous is None:
        _write_whole(path, run.frame, metadata)
        rows = run.frame.height
    else:
        rows = _replace_dates(path, None if run is None else run.frame, dates, metadata)
    old_end = -1 if previous is None else int(score_dates(previous.start, previous.end)[-1])
    return ScoreFile(path, run, int(dates.size), int((dates > old_end).sum()), rows)


def read_inputs(path: Path) -> Inputs:
    """The record of a score file's inputs, or a ``UserError`` saying why it cannot be appended to."""
    try:
        metadata = pl.read_parquet_metadata(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise UserError(
            f"cannot read {path} as Parquet (cut short, or not a score file): {exc}",
            fix="pass the score file to extend, or score it in full again without --append",
        ) from exc
    if INPUTS not in metadata:
        raise UserError(
            f"{path} has no record of what it was computed from (written by another tool or an older engine)",
            fix="rescore it once without --append",
        )
    return Inputs(**json.loads(metadata[INPUTS]))


SAME = {
    provenance.VERSION: "engine version",
    provenance.CONFIG: "config",
    provenance.MARKET_CAPS: "market caps",
}
"""Provenance keys (``engine.provenance``) that must be equal for an append, and their names in errors."""


def _check_same(
    path: Path, previous: Inputs, same: dict[str, str], universe_source: str, grid: np.ndarray
) -> None:
    """Refuse an append that would mix two different scores in one file."""
    recorded = provenance.read_parquet(path)
    pairs = [(SAME[key], recorded.get(key), value) for key, value in same.items()]
    for what, old, new in [*pairs, ("universe", previous.universe_source, universe_source)]:
        if old != new:
            shown = "" if what == "config" else f" ({old!r}, now {new!r})"
            raise UserError(
                f"{path} was scored with another {what}{shown}: appending would mix two scores",
                fix=f"rescore without --append, or pass the {what} it was scored with",
            )
    first, last = score_dates(previous.start, previous.end)[[0, -1]]
    if grid[0] != first:
        raise UserError(
            f"{path} starts on {previous.start}, not {_iso(grid[0])}", fix=f"pass --start {previous.start}"
        )
    if grid[-1] < last:
        raise UserError(
            f"{path} already ends on {previous.end}, after {_iso(grid[-1])}",
            fix=f"pass an --end on or after {previous.end}",
        )


def dates_to_score(previous: Inputs, inputs: Inputs, grid: np.ndarray, config: ScoreConfig) -> np.ndarray:
    """The score dates (days since epoch, a subset of ``grid``) an append recomputes: those after the
    previous end, and those a changed fingerprint reaches (the module docstring's rules)."""
    old_end = int(score_dates(previous.start, previous.end)[-1])
    touched = grid > old_end
    horizon = max(config.universe_lookback, config.flow_window, config.cluster_window)
    for day in _changed(_flatten(previous.filings), _flatten(inputs.filings)):
        stop = grid[-1] if config.exclude_routine else int(day) + horizon
        touched |= (grid >= int(day)) & (grid <= stop)
    for day in _changed(previous.caps, inputs.caps):
        touched |= grid >= int(day)
    for day in _changed(previous.universe, inputs.universe):
        touched |= True if day == "*" else grid == int(day)
    return grid[touched]


def _changed(old: DayPrints, new: DayPrints) -> list[str]:
    """The days whose fingerprint differs."""
    return [key for key in old.keys() | new.keys() if old.get(key) != new.get(key)]


def _flatten(partitions: Mapping[str, dict]) -> DayPrints:
    """Per-day fingerprints over all partitions (a day can span two: counts add, hashes XOR)."""
    out: dict[str, list[int]] = {}
    for part in partitions.values():
        for key, (count, xor) in part["days"].items():
            prior = out.get(key, [0, 0])
            out[key] = [prior[0] + count, prior[1] ^ xor]
    return out


def _filing_prints(
    tables: dict[str, pl.LazyFrame], store: Store | None, previous: Mapping[str, dict] | None
) -> dict[str, dict]:
    """Per partition directory: its files (name, size, mtime) and per-day fingerprints of its filings,
    read again only for partitions whose files changed. A source of frames is one partition, always read."""
    if store is None:
        return {
            "": {"files": None, "days": _day_prints(tables["filings"], "available_date", pl.col("accession"))}
        }
    root = store.root / "filings"
    files: dict[str, list[list]] = {}
    for file in sorted(root.glob("*/*/*.parquet")):
        stat = file.stat()
        files.setdefault(file.parent.relative_to(root).as_posix(), []).append(
            [file.name, stat.st_size, stat.st_mtime_ns]
        )
    previous = previous or {}
    out = {part: previous[part] for part, sig in files.items() if previous.get(part, {}).get("files") == sig}
    stale = [part for part in files if part not in out]
    if stale:
        paths = [str(root / part / name) for part in stale for name, _, _ in files[part]]
        parts = [part for part in stale for _ in files[part]]
        scan = pl.scan_parquet(
            paths,
            schema={"accession": pl.String, "available_date": pl.Date},
            missing_columns="insert",
            extra_columns="ignore",
            include_file_paths="file",
        ).with_columns(pl.col("file").replace_strict(dict(zip(paths, parts, strict=True))).alias("part"))
        prints = _grouped_prints(scan, "part", "available_date", pl.col("accession"))
        for part in stale:
            out[part] = {"files": files[part], "days": prints.get(part, {})}
    return out


def _grouped_prints(frame: pl.LazyFrame, group: str, day: str, value: pl.Expr) -> dict[str, DayPrints]:
    """``_day_prints`` per value of the ``group`` column."""
    rows = (
        frame.filter(pl.col(day).is_not_null())
        .group_by(group, day)
        .agg(pl.len().alias("n"), value.hash(HASH_SEED).bitwise_xor().alias("x"))
        .with_columns(pl.col(day).cast(pl.Int32))
        .collect()
    )
    out: dict[str, DayPrints] = {}
    for key, when, count, xor in rows.iter_rows():
        out.setdefault(key, {})[str(when)] = [count, xor]
    return out


def _day_prints(frame: pl.LazyFrame, day: str, value: pl.Expr) -> DayPrints:
    """Per day of the ``day`` column: the row count and the XOR of the hashes of ``value``."""
    return _grouped_prints(frame.with_columns(pl.lit("").alias("_all")), "_all", day, value).get("", {})


def _universe_prints(explicit: pl.DataFrame | None) -> DayPrints:
    """Fingerprints of an explicit universe per date, or one (``"*"``) for an undated one."""
    if explicit is None:
        return {}
    if "date" in explicit.columns:
        return _day_prints(explicit.lazy(), "date", pl.col("issuer_cik"))
    row = explicit.select(pl.len(), pl.col("issuer_cik").hash(HASH_SEED).bitwise_xor()).row(0)
    return {"*": list(row)}


def _label(source: object) -> str:
    """How a market-data or universe source is named in the record: a path or name, else its kind."""
    if isinstance(source, str | Path):
        return str(source)
    return type(source).__name__


def _iso(day: int | np.integer) -> str:
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


def _as_dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _replace_dates(path: Path, new: pl.DataFrame | None, dates: np.ndarray, metadata: dict[str, str]) -> int:
    """Replace the rows of ``dates`` in the file by ``new`` (sorted by date): the row groups before the
    first such date stay as they are on disk (``parquet_tail``), except a last one not yet full, which is
    rewritten with the new rows so that daily appends do not leave a file of tiny row groups. Returns
    the file's row count."""
    footer = pq.ParquetFile(path).metadata
    column = footer.schema.names.index("date")
    first = dt.date.max if dates.size == 0 else EPOCH + dt.timedelta(days=int(dates[0]))
    keep = kept_rows = 0
    for index in range(footer.num_row_groups):
        group = footer.row_group(index)
        stats = group.column(column).statistics
        last_and_small = index == footer.num_row_groups - 1 and group.num_rows < ROW_GROUP_ROWS
        if stats is None or not stats.has_min_max or stats.max >= first or last_and_small:
            break
        keep, kept_rows = keep + 1, kept_rows + group.num_rows
    tail = pl.scan_parquet(path).slice(kept_rows).filter(~pl.col("date").is_in(_as_dates(dates).implode()))
    tail = tail.collect() if new is None else tail.collect().merge_sorted(new, "date")
    temp = path.with_name(path.name + TMP_SUFFIX)
    options = {"row_group_size": ROW_GROUP_ROWS, "metadata": metadata}
    try:
        if not replace_tail(path, keep, tail, temp, **options):
            whole = pl.concat([pl.scan_parquet(path).head(kept_rows).collect(), tail])
            _write_temp(temp, whole, metadata)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc}", fix="pass an --out file you can write") from exc
    _replace(temp, path)
    return kept_rows + tail.height


def _write_whole(path: Path, frame: pl.DataFrame, metadata: dict[str, str]) -> None:
    """Write ``frame`` with ``metadata`` under a temporary name, then rename it over ``path``."""
    temp = path.with_name(path.name + TMP_SUFFIX)
    try:
        _write_temp(temp, frame, metadata)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc}", fix="pass an --out file you can write") from exc
    _replace(temp, path)


def _write_temp(temp: Path, frame: pl.DataFrame, metadata: dict[str, str]) -> None:
    frame.write_parquet(temp, row_group_size=ROW_GROUP_ROWS, metadata=metadata)
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())


def _replace(temp: Path, path: Path) -> None:
    os.replace(temp, path)
    fsync_directory(path.parent)
