"""PNG charts of the evaluation (matplotlib's Agg canvas directly: no pyplot state, no display needed).

Each function takes frames already computed (``engine.evaluation.tearsheet``, ``event_study``,
``event_time``), writes one PNG and returns its path; it computes nothing that a table does not hold.
With nothing to draw it still writes a chart that says why, so a report never links a missing file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from engine.evaluation.event_study import OK, EventStudy
from engine.evaluation.tearsheet import LONG_SHORT, TearSheet

DPI = 110
CURVE_COLOURS = ("#c33", "#2a7", "#48a", "#a6c")


def _figure(width: float = 9.0, height: float = 4.8) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def cumulative_quantile_returns(sheet: TearSheet, path: Path) -> Path:
    """Growth of 1 in each zero-aware bucket and in the long-short spread, on a log scale (one bucket's
    run-up does not flatten the others), rebalanced daily on 1-day forward returns."""
    figure = _figure()
    ax = figure.add_subplot()
    data = sheet.cumulative
    held = data.group_by("bucket").agg(pl.col("n").sum()).filter(pl.col("n") > 0)["bucket"].to_list()
    if not held:
        _empty(ax, "no scored name with a 1-day forward return")
    else:
        colours = _bucket_colours(sheet.buckets)
        for bucket in (b for b in sheet.buckets if b in held):
            part = data.filter(pl.col("bucket") == bucket)
            ax.plot(
                part["date"].to_list(), part["cumulative"].to_numpy(), label=bucket, color=colours[bucket]
            )
        spread = data.filter(pl.col("bucket") == LONG_SHORT)
        if LONG_SHORT not in held:
            ax.plot(
                [],
                [],
                color="black",
                linestyle="--",
                label=f"long-short: no day with names in both {sheet.buckets[-1]} and {sheet.buckets[0]}",
            )
        else:
            ax.plot(
                spread["date"].to_list(),
                spread["cumulative"].to_numpy(),
                color="black",
                linestyle="--",
                linewidth=1.6,
                label=f"long-short ({sheet.buckets[-1]} - {sheet.buckets[0]})",
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_ylabel("growth of 1 (log scale)")
        ax.legend(ncol=4, fontsize=8)
    ax.set_title(f"Cumulative 1-day returns by {sheet.factor} bucket (sign of {sheet.sign_column})")
    return _save(figure, path)


def bucket_means(sheet: TearSheet, path: Path) -> Path:
    """Mean forward return of each bucket per horizon as points with their 95% Newey-West t intervals (a
    handful of buckets: points, not bars or histograms), annotated with the dates behind each."""
    horizons = list(sheet.horizons)
    figure = _figure(9.0, 1.9 * max(len(horizons), 1) + 0.8)
    summary = sheet.quantile_summary
    for k, h in enumerate(horizons):
        ax = figure.add_subplot(len(horizons), 1, k + 1)
        part = summary.filter((pl.col("horizon") == h) & pl.col("mean_return").is_not_null())
        if part.height == 0:
            _empty(ax, f"{h}-day: no bucket has a forward return")
            continue
        colours = _bucket_colours(sheet.buckets)
        x = np.array([sheet.buckets.index(b) for b in part["bucket"]])
        mean = part["mean_return"].to_numpy()
        low = part["ci_low"].fill_null(np.nan).to_numpy()
        high = part["ci_high"].fill_null(np.nan).to_numpy()
        for xi, m, lo, hi, b, n in zip(x, mean, low, high, part["bucket"], part["n_dates"], strict=True):
            bars = None if np.isnan(lo) else [[m - lo], [hi - m]]
            ax.errorbar(xi, m, yerr=bars, fmt="o", color=colours[b], capsize=4)
            ax.annotate(f"{n}d", (xi, m), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xticks(range(len(sheet.buckets)), sheet.buckets)
        ax.set_ylabel(f"{h}-day mean")
    figure.suptitle(
        f"Mean forward return by {sheet.factor} bucket, 95% Newey-West intervals (dates with names)"
    )
    return _save(figure, path)


def ic_over_time(sheet: TearSheet, path: Path, *, window: int = 63) -> Path:
    """Rank IC per date for each horizon with its ``window``-date rolling mean, the summary (mean, IR,
    t_nw) written on it, and the histogram of the daily ICs beside it."""
    horizons = list(sheet.horizons)
    figure = _figure(10.0, 2.3 * max(len(horizons), 1) + 0.6)
    grid = figure.add_gridspec(max(len(horizons), 1), 2, width_ratios=(3.2, 1.0))
    summary = {row["horizon"]: row for row in sheet.ic_summary.iter_rows(named=True)}
    for k, h in enumerate(horizons):
        ax, hist = figure.add_subplot(grid[k, 0]), figure.add_subplot(grid[k, 1])
        part = sheet.ic.filter((pl.col("horizon") == h) & pl.col("ic").is_not_null())
        if part.height == 0:
            _empty(ax, f"{h}-day: no date with an IC (too few names or no forward returns)")
            _empty(hist, "no IC")
            continue
        dates, values = part["date"].to_list(), part["ic"].to_numpy()
        ax.bar(dates, values, width=1.0, color="#9ab", label="daily IC")
        rolling = part["ic"].rolling_mean(window_size=min(window, part.height), min_samples=1)
        ax.plot(dates, rolling.to_numpy(), color="#c33", label=f"{window}-date mean")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_ylabel(f"{h}-day IC")
        ax.legend(fontsize=7, loc="upper right")
        row = summary.get(h, {})
        ax.text(
            0.01,
            0.96,
            f"mean {_fmt(row.get('mean_ic'), 4)}   IR {_fmt(row.get('ir'))}   "
            f"t_nw {_fmt(row.get('t_nw'))} ({row.get('nw_lags', 0)} lags)   {part.height:,} dates",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#ccc"},
        )
        hist.hist(values, bins=min(40, max(5, part.height // 10)), color="#9ab", edgecolor="white")
        hist.axvline(float(values.mean()), color="#c33", linewidth=1.2)
        hist.axvline(0.0, color="grey", linewidth=0.6)
        hist.set_xlabel("IC")
        hist.set_yticks([])
    figure.suptitle(f"Rank IC of {sheet.factor}")
    return _save(figure, path)


def heavy_vs_other_distributions(study: EventStudy, path: Path) -> Path:
    """Forward returns of heavy-selling months and of the other insider-active months: a box per group
    with every month drawn as a point over it, and each group's mean."""
    figure = _figure()
    ax = figure.add_subplot()
    done = study.months.filter(pl.col("status") == OK)
    groups = [
        ("other", done.filter(~pl.col("heavy"))["fwd_return"].to_numpy(), "#48a"),
        ("heavy selling", done.filter(pl.col("heavy"))["fwd_return"].to_numpy(), "#c33"),
    ]
    if done.height == 0:
        _empty(ax, "no insider-active month has a forward return")
    else:
        rng = np.random.default_rng(0)  # jitter only: the same chart on every run
        for x, (_, values, colour) in enumerate(groups):
            if not len(values):
                ax.text(x, 0, "no month", ha="center", fontsize=8)
                continue
            ax.boxplot(values, positions=[x], widths=0.5, showfliers=False, medianprops={"color": colour})
            ax.scatter(x + rng.uniform(-0.15, 0.15, len(values)), values, s=10, color=colour, alpha=0.55)
            ax.plot([x - 0.3, x + 0.3], [values.mean()] * 2, color="black", linewidth=1.5)
            ax.text(
                x + 0.32, values.mean(), f"n={len(values)}, mean {values.mean():.1%}", fontsize=8, va="center"
            )
        ax.set_xticks(range(len(groups)), [g[0] for g in groups])
        ax.set_xlim(-0.6, len(groups) - 0.1)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_ylabel(f"{study.horizon}-trading-day forward return")
    ax.set_title("Forward returns after heavy-selling months vs other insider-active months")
    return _save(figure, path)


def event_time(curves: Mapping[str, pl.DataFrame], path: Path, *, market: str | None = None) -> Path:
    """Mean cumulative return from the event close, tau trading days before and after, per event type,
    minus the market's over the same days when ``market`` is named, with its confidence band."""
    figure = _figure()
    ax = figure.add_subplot()
    column = "mean_abnormal" if market else "mean_return"
    drawn = False
    for (label, curve), colour in zip(curves.items(), CURVE_COLOURS, strict=False):
        known = curve.filter(pl.col(column).is_not_null())
        if known.height == 0:
            ax.plot([], [], color=colour, label=f"{label} (no event with prices)")
            continue
        events = int(curve.filter(pl.col("tau") == 0)["n"].sum())
        tau = known["tau"].to_numpy()
        ax.plot(tau, known[column].to_numpy(), color=colour, label=f"{label} ({events} events)")
        band = known.filter(pl.col("ci_low").is_not_null())
        ax.fill_between(
            band["tau"].to_numpy(),
            band["ci_low"].to_numpy(),
            band["ci_high"].to_numpy(),
            color=colour,
            alpha=0.15,
        )
        drawn = True
    if not drawn:
        _empty(ax, "no event with prices: " + ", ".join(f"{k}: 0 events" for k in curves))
    else:
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_xlabel("trading days from the event close")
        ax.set_ylabel(f"mean cumulative return minus {market}'s" if market else "mean cumulative return")
        ax.legend(fontsize=8)
    adjusted = f"market-adjusted (minus {market})" if market else "raw (no market series given)"
    ax.set_title(f"Event-time average return, {adjusted}, 95% band across events")
    return _save(figure, path)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _bucket_colours(buckets: list[str]) -> dict[str, str]:
    negatives = [b for b in buckets if b.startswith("neg")]
    positives = [b for b in buckets if b.startswith("pos")]
    out = {"zero": "#777"}
    for k, b in enumerate(negatives):
        out[b] = _shade((0.8, 0.15, 0.15), 1.0 - 0.6 * k / max(len(negatives), 1))
    for k, b in enumerate(positives):
        out[b] = _shade((0.1, 0.55, 0.25), 0.4 + 0.6 * (k + 1) / max(len(positives), 1))
    return out


def _shade(rgb: tuple[float, float, float], strength: float) -> str:
    mixed = [1.0 - strength * (1.0 - c) for c in rgb]
    return "#" + "".join(f"{round(255 * c):02x}" for c in mixed)
