"""Text of the evaluation: the compact heavy-selling summary (the published layout plus t and a bootstrap
interval) and the Markdown report. Every number printed here is read from the computed frames."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import polars as pl

from engine import provenance as provenance_
from engine.evaluation.event_study import OK, STATUSES, EventStudy
from engine.evaluation.tearsheet import TearSheet


def pct(value: float | None) -> str:
    """``-15.6%``; ``n/a`` for a missing value."""
    return "n/a" if value is None else f"{value:.1%}"


def money(value: float | None) -> str:
    """Dollars in millions: ``$1,678M``, ``-$15M`` (one decimal under $10M: ``$2.4M``)."""
    if value is None:
        return "n/a"
    millions = abs(value) / 1e6
    sign = "-" if value < 0 and round(millions, 1) > 0 else ""
    return f"{sign}${millions:,.0f}M" if millions >= 10 else f"{sign}${millions:,.1f}M"


def number(value: float | None, digits: int = 2) -> str:
    """A fixed-point number; ``n/a`` for a missing value."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def event_summary(study: EventStudy, *, max_tickers: int | None = None) -> str:
    """The compact text summary of the heavy-selling test, one line per ticker sorted by spread."""
    s = study.summary
    lines = [
        f"Transactions analyzed: {s.transactions:,}",
        f"Event months with forward returns: {s.event_months:,}",
        f"Heavy-selling months: {s.heavy_n:,}, avg forward return {pct(s.heavy_mean)}",
        f"Other insider-active months: {s.other_n:,}, avg forward return {pct(s.other_mean)}",
        f"Heavy-minus-other spread: {pct(s.spread)}",
        f"Welch t= {number(s.t_stat)} (df= {number(s.df, 1)}); {s.confidence:.0%} bootstrap CI of the "
        f"spread [{pct(s.ci_low)}, {pct(s.ci_high)}] ({s.bootstrap:,} resamples of {s.bootstrap_by}s, "
        f"seed {s.seed})",
    ]
    lines.extend(_missing_window_lines(study))
    rows = study.by_ticker.filter(pl.col("event_months") > 0)
    if max_tickers is not None:
        rows = rows.head(max_tickers)
    labels = [_label(r) for r in rows.iter_rows(named=True)]
    width = max((len(x) for x in labels), default=0)
    for label, r in zip(labels, rows.iter_rows(named=True), strict=True):
        lines.append(
            f"{label:<{width}}  net_sell= {money(r['net_sell'])}  heavy_months= {r['heavy_months']}  "
            f"heavy_fwd= {pct(r['heavy_fwd'])}  other_fwd= {pct(r['other_fwd'])}  spread= {pct(r['spread'])}"
        )
    return "\n".join(lines)


def _missing_window_lines(study: EventStudy) -> list[str]:
    counts = dict(study.months.group_by("status").len().iter_rows())
    missing = {k: counts[k] for k in STATUSES if k != OK and counts.get(k)}
    if not missing:
        return []
    detail = ", ".join(f"{n:,} {k}" for k, n in missing.items())
    return [f"Insider-active months without a forward return: {sum(missing.values()):,} ({detail})"]


def _late_filings(study: EventStudy) -> str:
    if study.month_by != "available_date":
        return ""
    late = study.months.filter(pl.col("start_date") > pl.col("month").dt.month_end()).height
    return (
        f" ({late:,} months whose last filing became public after that close start instead at the close "
        "of the first trading day on or after its available date)"
    )


def _label(row: Mapping) -> str:
    return row["ticker"] if row["ticker"] is not None else f"CIK{row['issuer_cik']}"


def table(frame: pl.DataFrame, formats: Mapping[str, Callable[[object], str]] | None = None) -> str:
    """A Markdown table of a frame; ``formats`` maps a column to a function of its value."""
    formats = formats or {}
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for name in frame.columns:
            value = row[name]
            if name in formats:
                cells.append(formats[name](value))
            elif isinstance(value, float):
                cells.append(f"{value:.4g}")
            else:
                cells.append("n/a" if value is None else str(value))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *body])


def event_section(study: EventStudy, images: Mapping[str, str]) -> list[str]:
    """Markdown of the heavy-selling test."""
    basis = "available date" if study.month_by == "available_date" else "transaction date"
    thresh = (
        "full-sample (as published)"
        if study.threshold == "full_sample"
        else "expanding window (no look-ahead)"
    )
    c = study.counts
    out = [
        "## Heavy insider selling: monthly event test",
        "",
        f"Months by {basis}; heavy = net selling > 0 and >= the issuer's {study.quantile:.0%} quantile of "
        f"its positive net-selling months, {thresh}; forward return from the close of the month's last "
        f"trading day to {study.horizon} trading days later{_late_filings(study)}; prices keyed by "
        f"{study.key}.",
        "",
        f"Input: {c['rows']:,} transaction rows; {c['eligible']:,} open-market S/P rows of Forms 4/4A "
        f"(non-derivative, shares > 0); {c['without_price']:,} of them without a price (valued $0); "
        f"{c['superseded']:,} superseded by a later 4/A; {c['undated']:,} without a date or issuer left out; "
        f"{c['candidates_without_shares']:,} S/P rows without a positive share count left out.",
        "",
        "```",
        event_summary(study),
        "```",
        "",
        "Months by outcome:",
        "",
        table(
            study.months.group_by("status")
            .agg(pl.len().alias("months"), pl.col("heavy").sum().alias("heavy"))
            .sort("months", descending=True)
        ),
        "",
    ]
    if study.missing_prices:
        out += [f"Securities without prices: {', '.join(study.missing_prices)}.", ""]
    out += [
        "Per issuer (months with a forward return), sorted by spread:",
        "",
        table(
            study.by_ticker,
            {"net_sell": money, "heavy_fwd": pct, "other_fwd": pct, "spread": pct},
        ),
        "",
        "The t-statistic treats months as independent draws; forward windows of consecutive months of one "
        "issuer overlap, so it overstates the precision somewhat. `--bootstrap-by issuer` resamples whole "
        "issuers instead of months, which keeps those overlapping months together.",
        "",
    ]
    if "distributions" in images:
        out += [f"![distributions]({images['distributions']})", ""]
    return out


EVENT_TAUS: tuple[int, ...] = (-20, -5, 0, 5, 21, 63)
"""Trading days from the event close shown in the report's event-time table (every tau is in Parquet)."""


def event_time_section(
    curves: Mapping[str, pl.DataFrame], market: str | None, images: Mapping[str, str]
) -> list[str]:
    """Markdown of the event-time curves: method, a table at a few taus, the chart."""
    if not curves:
        return []
    adjusted = (
        f"minus {market}'s return over the same days (market-adjusted)"
        if market
        else "not market-adjusted (no index series given: pass --market)"
    )
    column = "mean_abnormal" if market else "mean_return"
    rows = [
        {
            "event": name,
            "tau": tau,
            "mean": r[column],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "n": r["n"],
        }
        for name, curve in curves.items()
        for tau in EVENT_TAUS
        for r in curve.filter(pl.col("tau") == tau).iter_rows(named=True)
    ]
    out = [
        "## Event-time returns",
        "",
        f"Mean cumulative return from the close of the first trading day on or after each event, {adjusted}; "
        "95% t band across events (events treated as independent: clustered events make it too narrow).",
        "",
    ]
    if rows:
        formats = {"mean": _pct2, "ci_low": _pct2, "ci_high": _pct2}
        out += [table(pl.DataFrame(rows), formats), ""]
    if "event_time" in images:
        out += [f"![event_time]({images['event_time']})", ""]
    return out


def tearsheet_section(sheet: TearSheet, images: Mapping[str, str]) -> list[str]:
    """Markdown of the factor tear sheet."""
    coverage = sheet.coverage
    out = [
        f"## Factor tear sheet: `{sheet.factor}`",
        "",
        f"Buckets: sign of `{sheet.sign_column}` (negative / zero / positive), then {sheet.quantiles} "
        f"quantiles of `{sheet.factor}` by distance from zero within each non-zero side (average ranks: "
        "ties share a bucket; with few names the extreme buckets fill first). "
        "Rank IC is Spearman per date; t_nw uses Newey-West standard errors with `nw_lags` lags "
        "(horizon - 1 by default: overlapping windows); t_iid ignores the overlap.",
        "",
        "### Coverage",
        "",
        f"{coverage.height:,} evaluated trading days; {int(coverage['scored'].sum()):,} scored cells, "
        f"{int(coverage['priced'].sum()):,} with a close, {int(coverage['nonzero'].sum()):,} non-zero "
        f"`{sheet.sign_column}`.",
        "",
        table(
            pl.DataFrame(
                {
                    "horizon": list(sheet.horizons),
                    "cells with forward return": [int(coverage[f"fwd_{h}"].sum()) for h in sheet.horizons],
                }
            )
        ),
        "",
        "### Information coefficient",
        "",
        table(sheet.ic_summary),
        "",
        "### Mean forward return by bucket",
        "",
        table(
            sheet.quantile_summary,
            {
                "mean_return": _pct2,
                "se_nw": _pct2,
                "ci_low": _pct2,
                "ci_high": _pct2,
                "minus_zero": _pct2,
                "mean_names": lambda v: f"{v:.1f}",
            },
        ),
        "",
        f"### Long-short ({sheet.buckets[-1]} minus {sheet.buckets[0]})",
        "",
        table(sheet.spread_summary, {"mean": _pct2}),
        "",
        "### Turnover (share of a bucket's names new since the previous date)",
        "",
        table(sheet.turnover_summary, {"mean_turnover": _pct2}),
        "",
    ]
    if sheet.notes:
        out += ["Notes:", "", *[f"- {n}" for n in sheet.notes], ""]
    for key in ("cumulative", "bucket_means", "ic"):
        if key in images:
            out += [f"![{key}]({images[key]})", ""]
    return out


def markdown(
    *,
    title: str,
    inputs: Sequence[str],
    study: EventStudy | None,
    sheet: TearSheet | None,
    notes: Sequence[str],
    images: Mapping[str, str],
    provenance: Mapping[str, str],
    curves: Mapping[str, pl.DataFrame] | None = None,
    market: str | None = None,
) -> str:
    """The whole report: inputs, provenance (engine version, score config, store, market caps), results."""
    out = [f"# {title}", "", "## Inputs", "", *[f"- {line}" for line in inputs], ""]
    out += ["## Provenance", "", *provenance_.markdown(provenance), ""]
    if study is not None:
        out += event_section(study, images)
    out += event_time_section(curves or {}, market, images)
    if sheet is not None:
        out += tearsheet_section(sheet, images)
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


def _pct2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
