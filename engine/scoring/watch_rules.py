"""The events ``insider watch`` raises after each batch of new filings, and their TOML configuration.

Rules (each can be turned off or tuned in ``--rules FILE.toml``):

- ``cluster_buy``: ``min_insiders`` (3) or more distinct insiders (SCORING.md section 1's insider key)
  with non-plan open-market buys available in the ``window_days`` (30) days ending on the score date,
  raised by each new filing that adds a buy to such a cluster;
- ``officer_buy``: a CEO's or CFO's non-plan open-market buys in one filing worth ``min_bp`` (1) basis
  points of the issuer's market cap or more (the cap as of the filing's available date);
- ``score_crossing``: an issuer's ``insider`` score reaching ``|z| >= threshold`` (2) on a new filing,
  from below it (or from no score);
- ``filing``: every new filing with its score (off by default; a full stream).

Eligibility, the plan flag and the insider key are the scoring pipeline's own (``engine.scoring.events``).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from engine.errors import UserError
from engine.scoring.config import ROLES, ScoreConfig
from engine.scoring.events import partition_window, plan_flags
from engine.scoring.market_caps import SHARES, MarketCaps
from engine.scoring.rules import eligible_trades
from engine.store.datasets import Store

RULES: tuple[str, ...] = ("cluster_buy", "officer_buy", "score_crossing", "filing")


@dataclass(frozen=True)
class WatchRules:
    """Which events are raised and their thresholds; the defaults are the ones documented above."""

    cluster_buy: bool = True
    min_insiders: int = 3
    window_days: int = 30
    officer_buy: bool = True
    roles: tuple[str, ...] = ("ceo", "cfo")
    min_bp: float = 1.0
    score_crossing: bool = True
    threshold: float = 2.0
    filing: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(self.roles))
        for name in ("min_insiders", "window_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("min_bp", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise UserError(f"{name} must be a number >= 0, got {value!r}")
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown:
            raise UserError(f"unknown role(s) {', '.join(unknown)} in officer_buy.roles", fix=f"use {ROLES}")

    @property
    def enabled(self) -> tuple[str, ...]:
        """The rules that are on."""
        return tuple(rule for rule in RULES if getattr(self, rule))

    @classmethod
    def from_toml(cls, path: str | Path) -> WatchRules:
        """Rules from a TOML file with one table per rule: ``[cluster_buy] min_insiders = 4`` ...; every
        key is optional, ``enabled = false`` turns a rule off, unknown tables and keys are refused."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UserError(f"rules file not found: {path}", fix="pass an existing .toml file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path} is not valid TOML: {exc}", fix="see the README's watch section") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "rules") -> WatchRules:
        """Rules from ``{rule: {"enabled": bool, threshold keys...}}``."""
        keys = {
            "cluster_buy": ("min_insiders", "window_days"),
            "officer_buy": ("roles", "min_bp"),
            "score_crossing": ("threshold",),
            "filing": (),
        }
        values: dict[str, Any] = {}
        for rule, table in data.items():
            if rule not in keys or not isinstance(table, Mapping):
                raise UserError(
                    f"{source}: unknown rule table [{rule}]", fix=f"the rules are {', '.join(RULES)}"
                )
            for key, value in table.items():
                if key == "enabled":
                    if not isinstance(value, bool):
                        raise UserError(f"{source}: [{rule}] enabled must be true or false, got {value!r}")
                    values[rule] = value
                elif key in keys[rule]:
                    values[key] = value
                else:
                    allowed = ", ".join(("enabled", *keys[rule]))
                    raise UserError(f"{source}: unknown key {key!r} in [{rule}]", fix=f"use {allowed}")
        try:
            return cls(**values)
        except UserError as exc:
            raise UserError(f"{source}: {exc}", fix=exc.fix) from exc
        except TypeError as exc:
            raise UserError(f"{source}: {exc}") from exc


@dataclass(frozen=True)
class Alert:
    """A rule that fired for one issuer and score date: the filings of the batch that raised it
    (``triggers``), every filing it rests on, the insider keys involved and the rule's figures."""

    rule: str
    issuer_cik: int
    date: dt.date
    triggers: list[str]
    accessions: list[str]
    insiders: list[int]
    values: dict[str, Any] = field(default_factory=dict)


def _buys(
    store: Store, config: ScoreConfig, issuers: pl.Series, first: dt.date, last: dt.date
) -> pl.LazyFrame:
    """Eligible non-plan open-market buys of ``issuers`` available in ``[first, last]`` (SCORING.md
    sections 2, 3, 6)."""
    window = partition_window(first, last)
    trades = eligible_trades(
        store.scan("transactions").filter(window),
        forms=config.forms,
        codes=config.buy_codes + config.sell_codes,
    ).filter(
        pl.col("transaction_code").is_in(config.buy_codes)
        & pl.col("available_date").is_between(first, last)
        & pl.col("issuer_cik").is_in(issuers.implode())
    )
    flagged = plan_flags(trades, store.scan("filings").filter(window), store.scan("footnotes"), config)
    priced = pl.col("price").is_finite() & (pl.col("price") > 0)
    return flagged.filter(~pl.col("plan")).select(
        "accession",
        "issuer_cik",
        "insider_cik",
        "available_date",
        "shares",
        pl.when(priced).then(pl.col("shares") * pl.col("price")).otherwise(0.0).alias("value"),
    )


def evaluate(
    store: Store,
    batch: pl.DataFrame,
    scores: pl.DataFrame,
    caps: MarketCaps,
    rules: WatchRules,
    config: ScoreConfig,
) -> list[Alert]:
    """Every alert a batch raises. ``batch``: the new filings (``accession, issuer_cik, date``: the score
    date each first counts on); ``scores``: the live cross-sections (``engine.scoring.live``)."""
    if batch.is_empty():
        return []
    alerts: list[Alert] = []
    first = batch["date"].min() - dt.timedelta(days=rules.window_days - 1)
    buys = _buys(store, config, batch["issuer_cik"].unique(), first, batch["date"].max()).collect()
    if rules.cluster_buy:
        alerts += _cluster_buys(batch, buys, rules)
    if rules.officer_buy:
        alerts += _officer_buys(store, batch, buys, caps, rules)
    if rules.score_crossing:
        alerts += _crossings(batch, scores, rules)
    if rules.filing:
        alerts += [
            Alert("filing", row["issuer_cik"], row["date"], [row["accession"]], [row["accession"]], [])
            for row in batch.iter_rows(named=True)
        ]
    return alerts


def _cluster_buys(batch: pl.DataFrame, buys: pl.DataFrame, rules: WatchRules) -> list[Alert]:
    """Issuers whose buy cluster on a batch date reaches ``min_insiders`` with a buy of the batch in it."""
    span = dt.timedelta(days=rules.window_days - 1)
    pairs = batch.select("issuer_cik", "date").unique()
    clusters = (
        pairs.join(buys, on="issuer_cik")
        .filter(pl.col("available_date").is_between(pl.col("date") - span, pl.col("date")))
        .group_by("issuer_cik", "date")
        .agg(
            pl.col("insider_cik").drop_nulls().unique().sort().alias("insiders"),
            pl.col("accession").unique().sort().alias("accessions"),
            pl.col("value").sum().alias("buy_value"),
            pl.col("shares").sum().alias("buy_shares"),
        )
        .filter(pl.col("insiders").list.len() >= rules.min_insiders)
        .sort("issuer_cik", "date")
    )
    alerts = []
    for row in clusters.iter_rows(named=True):
        news = batch.filter((pl.col("issuer_cik") == row["issuer_cik"]) & (pl.col("date") == row["date"]))
        triggers = sorted(set(news["accession"]) & set(row["accessions"]))
        if triggers:
            values = {
                "distinct_insiders": len(row["insiders"]),
                "window_days": rules.window_days,
                "buy_value": row["buy_value"],
                "buy_shares": row["buy_shares"],
                "buy_filings": len(row["accessions"]),
            }
            alerts.append(
                Alert(
                    "cluster_buy",
                    row["issuer_cik"],
                    row["date"],
                    triggers,
                    row["accessions"],
                    row["insiders"],
                    values,
                )
            )
    return alerts


def _officer_buys(
    store: Store, batch: pl.DataFrame, buys: pl.DataFrame, caps: MarketCaps, rules: WatchRules
) -> list[Alert]:
    """Filings of the batch whose CEO/CFO buys reach ``min_bp`` of market cap."""
    accessions = batch["accession"].implode()
    officers = (
        store.scan("owners")
        .filter(pl.col("accession").is_in(accessions) & pl.col("role").is_in(rules.roles))
        .select("accession")
        .unique()
        .collect()
    )
    per_filing = (
        buys.join(officers, on="accession")
        .group_by("accession", "issuer_cik", "available_date")
        .agg(pl.col("insider_cik").first(), pl.col("value").sum(), pl.col("shares").sum())
        .join(batch.select("accession", "date"), on="accession")
        .sort("available_date")
    )
    if per_filing.is_empty():
        return []
    capped = per_filing.join_asof(
        caps.table.rename({"date": "cap_date"}).sort("cap_date"),
        left_on="available_date",
        right_on="cap_date",
        by="issuer_cik",
        strategy="backward",
        check_sortedness=False,
    )
    size = pl.col("shares") if caps.kind == SHARES else pl.col("value")
    capped = capped.with_columns((1e4 * size / pl.col("cap")).alias("bp"))
    alerts = []
    for row in capped.sort("accession").iter_rows(named=True):
        if row["bp"] is None or row["bp"] < rules.min_bp:
            continue
        values = {
            "buy_value": row["value"],
            "buy_shares": row["shares"],
            ("shares_outstanding" if caps.kind == SHARES else "market_cap"): row["cap"],
            "bp_of_market_cap": row["bp"],
            "min_bp": rules.min_bp,
        }
        accession = [row["accession"]]
        alerts.append(
            Alert(
                "officer_buy",
                row["issuer_cik"],
                row["date"],
                accession,
                accession,
                [row["insider_cik"]],
                values,
            )
        )
    return alerts


def _crossings(batch: pl.DataFrame, scores: pl.DataFrame, rules: WatchRules) -> list[Alert]:
    """Issuers of the batch whose score reached ``|z| >= threshold`` from below it (or from no score)."""
    moved = (
        batch.group_by("issuer_cik", "date")
        .agg(pl.col("accession").sort())
        .join(scores, on=["issuer_cik", "date"])
        .filter(
            (pl.col("insider").abs() >= rules.threshold)
            & (pl.col("previous_insider").is_null() | (pl.col("previous_insider").abs() < rules.threshold))
        )
        .sort("issuer_cik", "date")
    )
    return [
        Alert(
            "score_crossing",
            row["issuer_cik"],
            row["date"],
            row["accession"],
            row["accession"],
            [],
            {
                "threshold": rules.threshold,
                "previous_insider": row["previous_insider"],
                "insider": row["insider"],
            },
        )
        for row in moved.iter_rows(named=True)
    ]
