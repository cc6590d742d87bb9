"""The slow reference implementation of SCORING.md: plain loops over rows, no numba, no Polars logic.

It exists to check ``engine.scoring.run`` cell by cell (tests, benchmark). It reads the same tables and the
same normalised market caps, and returns the same columns.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict

import polars as pl

from engine.scoring.config import ScoreConfig
from engine.scoring.events import TERM_LIMIT
from engine.scoring.market_caps import SHARES, MarketCaps
from engine.scoring.run import NO_MARKET_CAP, NON_FINITE_TERM, NULL_REASONS, SCORE_COLUMNS
from parsers.roles import SEE_REMARKS_PATTERN
from parsers.schema import OWNERSHIP_FORMS
from parsers.values import clean_ticker


def _rows(frame: pl.LazyFrame | pl.DataFrame) -> list[dict]:
    return frame.lazy().collect().to_dicts()


def _owner_weight(owner: dict, remarks: str | None, config: ScoreConfig) -> float:
    w = config.role_weights
    officer_title = owner.get("officer_title")
    if officer_title is not None and SEE_REMARKS_PATTERN.search(officer_title):
        title = remarks
    else:
        title = owner.get("role_title") or officer_title
    weights = []
    if owner.get("is_officer"):
        is_ceo = title is not None and re.search(config.ceo_pattern, title, re.IGNORECASE) is not None
        is_cfo = title is not None and re.search(config.cfo_pattern, title, re.IGNORECASE) is not None
        if is_ceo:
            weights.append(w["ceo"])
        if is_cfo:
            weights.append(w["cfo"])
        if not is_ceo and not is_cfo:
            weights.append(w["officer"])
    if owner.get("is_director"):
        weights.append(w["director"])
    if owner.get("is_ten_percent_owner"):
        weights.append(w["ten_percent"])
    flags = (owner.get("is_officer"), owner.get("is_director"), owner.get("is_ten_percent_owner"))
    if owner.get("is_other") or not any(flags):
        weights.append(w["other"])
    return max(weights)


def _accession_order(accession: str) -> tuple[int, int]:
    """Filings without an accession number (``sha1-<hex>``) come before numbered ones."""
    try:
        if accession.startswith("sha1-"):
            return (0, -int(accession[5:], 16))
        return (1, int(accession.replace("-", "")))
    except ValueError:
        return (-1, 0)


def _routine(trades: list[dict]) -> set[tuple[int, int, int]]:
    """(issuer, insider, year) of routine traders: same month in each of the three preceding years,
    counting only trades known (available) before the year began."""
    months = defaultdict(set)
    for tr in trades:
        traded = tr["transaction_date"] or tr["available_date"]
        months[(tr["issuer_cik"], tr["insider_cik"])].add(
            (traded.year, traded.month, tr["available_date"].year)
        )
    routine = set()
    for (issuer, insider), seen in months.items():
        years = {
            tr["available_date"].year
            for tr in trades
            if (tr["issuer_cik"], tr["insider_cik"]) == (issuer, insider)
        }
        for year in years:
            for month in range(1, 13):
                if all(
                    any(y == year - lag and m == month and known < year for y, m, known in seen)
                    for lag in (1, 2, 3)
                ):
                    routine.add((issuer, insider, year))
    return routine


_BLOCK = ("issuer_cik", "available_date", "transaction_date", "transaction_code", "shares", "price")


def _without_affiliated_repeats(trades: list[dict], owners: dict[str, list[dict]]) -> list[dict]:
    """The trades less those repeating the block (issuer, available date, trade date, code, shares, price,
    none missing) of a trade in an earlier accession that has a reporting-owner CIK in common."""

    def block(tr: dict) -> tuple:
        return tuple(tr[c] for c in _BLOCK)

    def ciks(tr: dict) -> set[int]:
        listed = {o["owner_cik"] for o in owners.get(tr["accession"], []) if o["owner_cik"] is not None}
        return listed | {tr["insider_cik"]}

    kept = []
    for tr in trades:
        repeat = None not in block(tr) and any(
            block(other) == block(tr)
            and _accession_order(other["accession"]) < _accession_order(tr["accession"])
            and ciks(other) & ciks(tr)
            for other in trades
        )
        if not repeat:
            kept.append(tr)
    return kept


def reference_score(
    tables: dict[str, pl.LazyFrame | pl.DataFrame],
    dates: list[dt.date],
    caps: MarketCaps,
    config: ScoreConfig | None = None,
    universe: set[int] | set[tuple[int, dt.date]] | None = None,
) -> pl.DataFrame:
    """The score on each of ``dates`` for the universe (default: SCORING.md section 8; or a set of CIKs,
    or of (CIK, date) pairs), straight from the definition."""
    config = config or ScoreConfig()
    filings: dict[str, dict] = {}
    for row in _rows(tables["filings"]):
        filings.setdefault(row["accession"], row)
    owners = defaultdict(list)
    for row in _rows(tables["owners"]) if "owners" in tables else []:
        owners[row["accession"]].append(row)
    footnotes = {}
    for row in _rows(tables["footnotes"]) if "footnotes" in tables else []:
        footnotes[(row["accession"], row["footnote_id"])] = row["text"]
    cap_rows = defaultdict(list)
    for row in caps.table.to_dicts():
        cap_rows[row["issuer_cik"]].append((row["date"], row["cap"]))

    seen = set()
    eligible = []
    for tr in _rows(tables["transactions"]):
        key = (tr["accession"], tr["is_derivative"], tr["row_index"])
        if key in seen:
            continue
        seen.add(key)
        shares = tr["shares"]
        if (
            tr["is_derivative"]
            or tr["is_holding"]
            or tr["document_type"] not in config.forms
            or tr["transaction_code"] not in config.buy_codes + config.sell_codes
            or shares is None
            or not math.isfinite(shares)
            or shares <= 0
            or tr["available_date"] is None
            or tr["issuer_cik"] is None
            or tr["insider_cik"] is None
        ):
            continue
        eligible.append(tr)
    if config.dedupe_affiliated:
        eligible = _without_affiliated_repeats(eligible, owners)
    routine = _routine(eligible) if config.exclude_routine else set()

    trades = []
    for tr in eligible:
        filing = filings.get(tr["accession"], {})
        if config.default_plan_pattern:
            plan = bool(tr["plan"])
        else:
            texts = [filing.get("remarks")] + [
                footnotes.get((tr["accession"], f)) for f in tr["footnote_ids"] or []
            ]
            plan = bool(filing.get("aff10b5one")) or any(
                t is not None and re.search(config.plan_pattern, t, re.IGNORECASE) for t in texts
            )
        factor = config.plan_weight if plan else 1.0
        if factor == 0 or (tr["issuer_cik"], tr["insider_cik"], tr["available_date"].year) in routine:
            continue
        filing_owners = owners.get(tr["accession"], [])
        weight = (
            max(_owner_weight(o, filing.get("remarks"), config) for o in filing_owners)
            if filing_owners
            else config.role_weights["other"]
        )
        superseded = None
        for amendment in filings.values():
            if (
                amendment["document_type"] in config.amendment_forms
                and amendment["available_date"] is not None
                and amendment["available_date"] > tr["available_date"]
                and tr["period_of_report"] is not None
                and (amendment["issuer_cik"], amendment["insider_cik"], amendment["period_of_report"])
                == (tr["issuer_cik"], tr["insider_cik"], tr["period_of_report"])
                and (superseded is None or amendment["available_date"] < superseded)
            ):
                superseded = amendment["available_date"]
        cap = None
        for cap_date, value in cap_rows.get(tr["issuer_cik"], []):
            if cap_date <= tr["available_date"]:
                cap = value
        price = tr["price"]
        priced = price is not None and math.isfinite(price) and price > 0
        value = tr["shares"] if caps.kind == SHARES else tr["shares"] * (price if priced else 0.0)
        if not priced or weight * factor == 0:
            term = 0.0
        elif not math.isfinite(value):
            term = math.inf
        elif cap is None:
            term = None
        else:
            term = weight * factor * value / cap
            if not math.isfinite(term) or abs(term) > TERM_LIMIT:
                term = math.inf
        trades.append(
            {
                "issuer": tr["issuer_cik"],
                "insider": tr["insider_cik"],
                "available": tr["available_date"],
                "superseded": superseded,
                "buy": tr["transaction_code"] in config.buy_codes,
                "term": term,
            }
        )

    ownership = [
        f for f in filings.values() if f["document_type"] in OWNERSHIP_FORMS and f["issuer_cik"] is not None
    ]
    issuers = sorted({f["issuer_cik"] for f in ownership} | {t["issuer"] for t in trades})
    if universe is not None:
        issuers = sorted(set(issuers) | {u if isinstance(u, int) else u[0] for u in universe})
    out = []
    for t in dates:
        section = []
        for issuer in issuers:
            known = [
                f
                for f in ownership
                if f["issuer_cik"] == issuer and f["available_date"] is not None and f["available_date"] <= t
            ]
            if universe is None:
                member = any(
                    f["available_date"] >= t - dt.timedelta(days=config.universe_lookback) for f in known
                )
            else:
                member = issuer in universe or (issuer, t) in universe
            if not member:
                continue
            latest = max(
                known,
                key=lambda f: (
                    f["available_date"],
                    f["accepted_at"] is not None,
                    f["accepted_at"] or 0,
                    _accession_order(f["accession"]),
                ),
                default=None,
            )
            buys = sells = 0.0
            n_buys = n_sells = missing = 0
            insiders = set()
            for tr in trades:
                if tr["issuer"] != issuer or tr["available"] > t:
                    continue
                if tr["superseded"] is not None and t >= tr["superseded"]:
                    continue
                if tr["available"] >= t - dt.timedelta(days=config.flow_window - 1):
                    n_buys += tr["buy"]
                    n_sells += not tr["buy"]
                    if tr["term"] is None:
                        missing += 1
                    elif tr["buy"]:
                        buys += tr["term"]
                    else:
                        sells += tr["term"]
                if tr["available"] >= t - dt.timedelta(days=config.cluster_window - 1):
                    insiders.add(tr["insider"])
            cluster = len(insiders)
            raw = None if missing else (buys - sells) * (1 + math.log(1 + cluster))
            reason = NO_MARKET_CAP if missing else None
            if raw is not None and not math.isfinite(raw):
                raw, reason = None, NON_FINITE_TERM
            section.append(
                {
                    "date": t,
                    "issuer_cik": issuer,
                    "ticker": clean_ticker(latest["ticker"]) if latest else None,
                    "buys": None if reason else buys,
                    "sells": None if reason else sells,
                    "cluster": cluster,
                    "raw": raw,
                    "insider": None,
                    "n_buys": n_buys,
                    "n_sells": n_sells,
                    "pct": None,
                    "null_reason": reason,
                }
            )
        _cross_section(section, config)
        out.extend(section)
    schema = {
        "date": pl.Date,
        "issuer_cik": pl.Int64,
        "ticker": pl.String,
        "buys": pl.Float64,
        "sells": pl.Float64,
        "cluster": pl.Int32,
        "raw": pl.Float64,
        "insider": pl.Float64,
        "n_buys": pl.Int32,
        "n_sells": pl.Int32,
        "pct": pl.Float64,
        "null_reason": NULL_REASONS,
    }
    return pl.DataFrame(out, schema=schema, orient="row").select(SCORE_COLUMNS)


def _cross_section(section: list[dict], config: ScoreConfig) -> None:
    """Fill ``insider`` and ``pct`` of one date's rows in place (SCORING.md section 8 and the variants)."""
    scored = [row for row in section if row["raw"] is not None]
    n = len(scored)
    if n == 0:
        return
    x = [row["raw"] for row in scored]
    if config.winsorize:
        ordered = sorted(x)

        def quantile(q: float) -> float:
            h = (n - 1) * q
            lo = math.floor(h)
            hi = min(lo + 1, n - 1)
            return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])

        low, high = quantile(config.winsorize), quantile(1 - config.winsorize)
        x = [min(max(v, low), high) for v in x]
    ranks = [sum(w < v for w in x) + (sum(w == v for w in x) + 1) / 2 for v in x]
    values = ranks if config.score_method == "rank" else x
    z = [0.0] * n
    if n >= 2 and n - config.ddof >= 1 and max(values) != min(values):
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - config.ddof))
        if std > 0:
            z = [(v - mean) / std for v in values]
    for row, zi, rank in zip(scored, z, ranks, strict=True):
        row["insider"] = zi
        row["pct"] = rank / n
