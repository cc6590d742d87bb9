"""What produced an output: the engine version, the whole score config as TOML, the store's last filing date
and filing count, and the market-cap source. Written as Parquet key-value metadata (every key prefixed
``insider_engine.``) and as a section of report.md; read back from a score file by ``insider evaluate``."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.scoring.config import ScoreConfig

PREFIX = "insider_engine."
VERSION = PREFIX + "version"
CONFIG = PREFIX + "config"
STORE_LAST_FILING_DATE = PREFIX + "store_last_filing_date"
STORE_LAST_AVAILABLE_DATE = PREFIX + "store_last_available_date"
STORE_FILING_COUNT = PREFIX + "store_filing_count"
MARKET_CAPS = PREFIX + "market_caps"
SCORED_BY = PREFIX + "scored_by_version"
SCORES = PREFIX + "scores"
TRANSACTIONS = PREFIX + "transactions"

LABELS: dict[str, str] = {
    VERSION: "engine version",
    SCORES: "scores",
    SCORED_BY: "scored by engine version",
    STORE_FILING_COUNT: "store filings",
    STORE_LAST_FILING_DATE: "store's last filing date",
    STORE_LAST_AVAILABLE_DATE: "store's last available date",
    MARKET_CAPS: "market caps",
    TRANSACTIONS: "transactions",
}
"""Report wording of each key; the config is shown as a TOML block."""


def engine_version() -> str:
    """The running engine's version."""
    from engine import __version__

    return __version__


def config_toml(config: ScoreConfig) -> str:
    """The whole config as TOML that ``ScoreConfig.from_toml`` reads back to an equal config (a value of
    None, i.e. an option switched off, is written as a comment)."""
    top, tables = [], []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, Mapping):
            tables += ["", f"[{item.name}]", *(f"{k} = {_toml_value(v)}" for k, v in value.items())]
        elif value is None:
            top.append(f"# {item.name} is not set")
        else:
            top.append(f"{item.name} = {_toml_value(value)}")
    return "\n".join([*top, *tables]) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def store_facts(filings: pl.LazyFrame) -> dict[str, str]:
    """The store's filing count, latest ``filing_date`` (unknown for bare XML filings) and latest
    ``available_date``; empty text for a date the store does not have."""
    facts = filings.select(pl.len(), pl.col("filing_date").max(), pl.col("available_date").max()).collect()
    count, filed, available = facts.row(0)
    return {
        STORE_FILING_COUNT: str(count),
        STORE_LAST_FILING_DATE: "" if filed is None else str(filed),
        STORE_LAST_AVAILABLE_DATE: "" if available is None else str(available),
    }


def score_provenance(config: ScoreConfig, filings: pl.LazyFrame, market_caps: str) -> dict[str, str]:
    """The provenance of a score panel."""
    return {
        VERSION: engine_version(),
        CONFIG: config_toml(config),
        **store_facts(filings),
        MARKET_CAPS: market_caps,
    }


def write_parquet(frame: pl.DataFrame, path: str | os.PathLike[str], provenance: Mapping[str, str]) -> None:
    """``frame`` as Parquet with ``provenance`` in the file's key-value metadata."""
    frame.write_parquet(path, metadata=dict(provenance))


def read_parquet(path: str | os.PathLike[str]) -> dict[str, str]:
    """The provenance keys of a Parquet file's metadata (empty for a file written elsewhere)."""
    try:
        metadata = pl.read_parquet_metadata(Path(path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(
            f"cannot read the metadata of {path}: {first_line}", fix="give a valid Parquet file"
        ) from exc
    return {key: value for key, value in metadata.items() if key.startswith(PREFIX)}


def evaluation_provenance(
    scores: str | None, score_provenance: Mapping[str, str], transactions: str | None
) -> dict[str, str]:
    """An evaluation's provenance: this engine, where the scores came from and their own provenance (its
    engine version as ``scored_by_version``), where the transactions came from."""
    out = {VERSION: engine_version()}
    if scores is not None:
        out[SCORES] = scores
    for key, value in score_provenance.items():
        out[SCORED_BY if key == VERSION else key] = value
    if transactions is not None:
        out[TRANSACTIONS] = transactions
    return out


def markdown(provenance: Mapping[str, str]) -> list[str]:
    """Report lines: one per fact, then the score config as a TOML block."""
    lines = [f"- {LABELS.get(k, k)}: {value or 'none'}" for k, value in provenance.items() if k != CONFIG]
    if CONFIG in provenance:
        lines += ["", "Score config:", "", "```toml", provenance[CONFIG].rstrip("\n"), "```"]
    return lines
