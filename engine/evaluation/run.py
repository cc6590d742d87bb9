"""``evaluate``: does the score predict returns? The heavy-selling event test on the transactions, the factor
tear sheet on a score panel, market-adjusted event-time curves, and a report object that renders and writes
them (report.md, a self-contained report.html, PNG charts and every result table as Parquet, each carrying
the provenance of ``engine.provenance``). Computing (event_study, event_time, tearsheet), plotting (plots)
and reporting (report, html) live apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from engine import frames, provenance
from engine.errors import UserError
from engine.evaluation import html, plots, report
from engine.evaluation.event_study import (
    BootstrapBy,
    EventStudy,
    MonthBy,
    Threshold,
    cluster_buy_events,
    heavy_selling_test,
)
from engine.evaluation.event_time import event_time_returns
from engine.evaluation.prices import Prices, PriceSource, load_prices
from engine.evaluation.tearsheet import DEFAULT_HORIZONS, TearSheet, tear_sheet
from engine.scoring.run import ScoreRun
from engine.store.datasets import Store

IMAGES: dict[str, str] = {
    "distributions": "heavy_vs_other.png",
    "event_time": "event_time.png",
    "cumulative": "cumulative_quantile_returns.png",
    "bucket_means": "bucket_mean_returns.png",
    "ic": "ic_over_time.png",
}
"""Report image key -> file name written next to report.md."""

TITLE = "Insider signal evaluation"


@dataclass
class EvaluationReport:
    """The evaluation's results (plain Polars frames inside) and their rendering."""

    prices: Prices
    event_study: EventStudy | None
    tear_sheet: TearSheet | None
    event_time: dict[str, pl.DataFrame]
    """Curve name -> ``tau, mean_return, mean_abnormal, ci_low, ci_high, n`` (heavy-selling months, cluster
    buys): ``engine.evaluation.event_time``."""
    cluster_events: pl.DataFrame | None
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)
    """This engine's version, where the scores and transactions came from, and the scores' own provenance
    (config, store facts, market caps) when known."""

    def summary(self, *, max_tickers: int | None = 20) -> str:
        """The compact text summary (heavy-selling test, then the IC line per horizon)."""
        parts = []
        if self.event_study is not None:
            parts.append(report.event_summary(self.event_study, max_tickers=max_tickers))
        if self.tear_sheet is not None:
            for row in self.tear_sheet.ic_summary.iter_rows(named=True):
                parts.append(
                    f"{self.tear_sheet.factor} {row['horizon']}-day rank IC: "
                    f"mean= {report.number(row['mean_ic'], 4)}"
                    f"  IR= {report.number(row['ir'])}  t_nw= {report.number(row['t_nw'])}"
                    f"  dates= {row['n_dates']:,}"
                )
            sheet = self.tear_sheet
            spreads = dict(zip(sheet.spread_summary["horizon"], sheet.spread_summary["mean"], strict=True))
            turnover = dict(sheet.turnover_summary.iter_rows())
            top, bottom = sheet.buckets[-1], sheet.buckets[0]
            parts.append(
                f"{top} minus {bottom}: "
                + "  ".join(f"{h}d= {report.pct(spreads[h])}" for h in sheet.horizons)
                + f"  turnover {top}= {report.pct(turnover.get(top))}"
                + f" {bottom}= {report.pct(turnover.get(bottom))}"
            )
            coverage = sheet.coverage
            parts.append(
                f"coverage: {coverage.height:,} dates, {int(coverage['priced'].sum()):,} scored cells with a "
                f"close, {int(coverage['nonzero'].sum()):,} non-zero {sheet.sign_column}"
            )
        return "\n".join(parts)

    def frames(self) -> dict[str, pl.DataFrame]:
        """Every result table by name."""
        out: dict[str, pl.DataFrame] = {}
        if self.event_study is not None:
            out["event_months"] = self.event_study.months
            out["event_by_ticker"] = self.event_study.by_ticker
        if self.tear_sheet is not None:
            sheet = self.tear_sheet
            for name in (
                "ic",
                "ic_summary",
                "quantile_returns",
                "quantile_summary",
                "spread",
                "spread_summary",
                "turnover",
                "turnover_summary",
                "coverage",
            ):
                out[name] = getattr(sheet, name)
        for name, curve in self.event_time.items():
            out[f"event_time_{name.replace(' ', '_')}"] = curve
        return out

    def to_markdown(self, images: dict[str, str] | None = None) -> str:
        """The report as Markdown, linking the charts named in ``images`` (key -> file name)."""
        return report.markdown(
            title=TITLE,
            inputs=self.inputs,
            study=self.event_study,
            sheet=self.tear_sheet,
            curves=self.event_time,
            market=self.prices.market_name,
            notes=self.notes,
            images=images or {},
            provenance=self.provenance,
        )

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the PNGs, every table of ``frames()`` as ``<name>.parquet`` (provenance in its metadata),
        ``report.md`` and the self-contained ``report.html`` into ``out_dir``; returns the written paths by
        name (tables as ``table:<name>``)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        if self.event_study is not None:
            written["distributions"] = plots.heavy_vs_other_distributions(
                self.event_study, out / IMAGES["distributions"]
            )
            written["event_time"] = plots.event_time(
                self.event_time, out / IMAGES["event_time"], market=self.prices.market_name
            )
        if self.tear_sheet is not None:
            written["cumulative"] = plots.cumulative_quantile_returns(
                self.tear_sheet, out / IMAGES["cumulative"]
            )
            written["bucket_means"] = plots.bucket_means(self.tear_sheet, out / IMAGES["bucket_means"])
            written["ic"] = plots.ic_over_time(self.tear_sheet, out / IMAGES["ic"])
        images = {key: path.name for key, path in written.items()}
        for name, frame in self.frames().items():
            written[f"table:{name}"] = out / f"{name}.parquet"
            provenance.write_parquet(frame, written[f"table:{name}"], self.provenance)
        text = self.to_markdown(images)
        written["report"] = out / "report.md"
        written["report"].write_text(text, encoding="utf-8")
        written["html"] = out / "report.html"
        written["html"].write_text(html.render(text, out, title=TITLE), encoding="utf-8")
        return written


def written_summary(written: dict[str, Path]) -> str:
    """``report.md and report.html (5 charts, 13 Parquet tables beside them)`` for what
    ``EvaluationReport.write`` wrote."""
    charts = sum(path.suffix == ".png" for path in written.values())
    tables = sum(path.suffix == ".parquet" for path in written.values())
    beside = f"({charts} charts, {tables} Parquet tables beside them)"
    return f"{written['report']} and {written['html'].name} {beside}"


def evaluate(
    scores: ScoreRun | frames.TableSource | None,
    prices: Prices | PriceSource,
    *,
    transactions: Store | frames.TableSource | None = None,
    factor: str = "insider",
    sign_column: str | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    quantiles: int = 3,
    nw_lags: int | None = None,
    min_names: int = 5,
    month_by: MonthBy = "available_date",
    threshold: Threshold = "full_sample",
    event_horizon: int = 63,
    bootstrap: int = 10_000,
    bootstrap_by: BootstrapBy = "month",
    seed: int = 0,
    supersede_amendments: bool = True,
    cluster_min_insiders: int = 2,
    market: str | None = None,
) -> EvaluationReport:
    """Evaluate a score panel and/or insider transactions against prices.

    ``scores``: a ScoreRun, or a table (path, Polars, pandas or pyarrow) of ``date``, the prices' key
    (``ticker`` or ``issuer_cik``) and ``factor``; with the engine's ``insider`` and a ``raw`` column,
    buckets split on the sign of ``raw`` unless ``sign_column`` says otherwise. ``prices``: a table, several,
    or loaded ``Prices``. ``transactions``: a Store or the store's transactions table, for the
    heavy-selling test and the event-time curves. ``market``: the ticker of an index series in the price
    table (e.g. SPY), which makes the event-time curves market-adjusted. A ScoreRun or a Parquet score file
    brings its provenance.
    """
    if scores is None and transactions is None:
        raise UserError("nothing to evaluate", fix="pass a score panel, transactions, or both")
    panel = prices if isinstance(prices, Prices) else load_prices(prices, market=market)
    inputs = panel.describe()
    notes: list[str] = []
    trades, trades_from = _transactions(transactions)
    study, clusters, curves = None, None, {}
    if trades is not None:
        study = heavy_selling_test(
            trades,
            panel,
            month_by=month_by,
            threshold=threshold,
            horizon=event_horizon,
            bootstrap=bootstrap,
            bootstrap_by=bootstrap_by,
            seed=seed,
            supersede_amendments=supersede_amendments,
        )
        inputs.append(f"Transactions: {study.counts['rows']:,} rows.")
        curves, clusters = _event_time_curves(trades, panel, study, cluster_min_insiders, notes)
    sheet, scores_from, score_provenance = None, None, {}
    if scores is not None:
        frame, scores_from, score_provenance = _scores(scores)
        sheet = tear_sheet(
            frame,
            panel,
            factor=factor,
            sign_column=_sign_column(frame, factor, sign_column),
            horizons=horizons,
            quantiles=quantiles,
            nw_lags=nw_lags,
            min_names=min_names,
        )
        inputs.append(
            f"Scores: {frame.height:,} rows, {frame['date'].n_unique():,} dates, factor `{factor}`."
        )
    return EvaluationReport(
        prices=panel,
        event_study=study,
        tear_sheet=sheet,
        event_time=curves,
        cluster_events=clusters,
        inputs=inputs,
        notes=notes,
        provenance=provenance.evaluation_provenance(scores_from, score_provenance, trades_from),
    )


def _event_time_curves(
    trades: pl.LazyFrame, panel: Prices, study: EventStudy, min_insiders: int, notes: list[str]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The event-time curves of the heavy-selling months and of cluster buys (those events too), with a
    note per curve on how many of its events have a close on the event day."""
    heavy = study.months.filter(pl.col("heavy") & pl.col("start_date").is_not_null())
    clusters = cluster_buy_events(trades, min_insiders=min_insiders)
    curves = {
        "heavy-selling months": event_time_returns(panel, heavy[panel.key], heavy["start_date"]),
        "cluster buys": event_time_returns(panel, clusters[panel.key], clusters["date"]),
    }
    for (name, curve), total in zip(curves.items(), (heavy.height, clusters.height), strict=True):
        events = int(curve.filter(pl.col("tau") == 0)["n"].sum())
        notes.append(
            f"Event-time curve '{name}': {events:,} of {total:,} events have a close on the event day."
        )
    return curves, clusters


def _sign_column(frame: pl.DataFrame, factor: str, sign_column: str | None) -> str | None:
    """The column whose sign buckets the factor: as given, else ``raw`` for the engine's ``insider``."""
    if sign_column is None and factor == "insider" and "raw" in frame.columns:
        return "raw"
    return sign_column


def _scores(scores: ScoreRun | frames.TableSource) -> tuple[pl.DataFrame, str, dict[str, str]]:
    """The score panel, where it came from, and its provenance (a ScoreRun's, or a Parquet file's)."""
    if isinstance(scores, ScoreRun):
        return scores.frame, "scored in this run", scores.provenance
    frame = frames.frame(scores, "scores")
    known = provenance.read_parquet(scores) if frames.is_parquet_file(scores) else {}
    return frame, frames.origin(scores), known


def _transactions(transactions: Store | frames.TableSource | None) -> tuple[pl.LazyFrame | None, str | None]:
    """The transactions table and where it came from (a store: its filing count and last filing date)."""
    if transactions is None:
        return None, None
    if isinstance(transactions, Store):
        facts = provenance.store_facts(transactions.scan("filings"))
        return transactions.scan("transactions"), (
            f"store {transactions.root} ({facts[provenance.STORE_FILING_COUNT]} filings, last filed "
            f"{facts[provenance.STORE_LAST_FILING_DATE] or 'unknown'}, last available "
            f"{facts[provenance.STORE_LAST_AVAILABLE_DATE] or 'unknown'})"
        )
    return frames.lazy(transactions, "transactions"), frames.origin(transactions)
