"""PNG charts of the evaluation (matplotlib's Agg canvas directly: no pyplot state, no display needed).

Each function takes the computed frames, writes one PNG and returns its path; with nothing to draw it
still writes a chart that says why, so a report never links a missing file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.evaluation.event_study import OK, EventStudy
from engine.evaluation.tearsheet import TearSheet

DPI = 110


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
    """Growth of 1 in each zero-aware bucket, rebalanced daily on 1-day forward returns."""
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
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_ylabel("growth of 1")
        ax.legend(ncol=min(len(sheet.buckets), 7), fontsize=8)
    ax.set_title(f"Cumulative 1-day returns by {sheet.factor} bucket (sign of {sheet.sign_column})")
    return _save(figure, path)


def ic_over_time(sheet: TearSheet, path: Path, *, window: int = 63) -> Path:
    """Rank IC per date for each horizon, with its ``window``-date rolling mean."""
    figure = _figure(9.0, 2.2 * max(len(sheet.horizons), 1) + 0.6)
    for k, h in enumerate(sheet.horizons):
        ax = figure.add_subplot(len(sheet.horizons), 1, k + 1)
        part = sheet.ic.filter((pl.col("horizon") == h) & pl.col("ic").is_not_null())
        if part.height == 0:
            _empty(ax, f"{h}-day: no date with an IC (too few names or no forward returns)")
            continue
        dates = part["date"].to_list()
        ax.bar(dates, part["ic"].to_numpy(), width=1.0, color="#9ab", label="IC")
        rolling = part["ic"].rolling_mean(window_size=min(window, part.height), min_samples=1)
        ax.plot(dates, rolling.to_numpy(), color="#c33", label=f"{window}-date mean")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_ylabel(f"{h}-day IC")
        ax.legend(fontsize=8, loc="upper right")
    figure.suptitle(f"Rank IC of {sheet.factor}")
    return _save(figure, path)


def heavy_vs_other_distributions(study: EventStudy, path: Path) -> Path:
    """Histograms of the forward returns of heavy-selling months and of the other insider-active months."""
    figure = _figure()
    ax = figure.add_subplot()
    done = study.months.filter(pl.col("status") == OK)
    heavy = done.filter(pl.col("heavy"))["fwd_return"].to_numpy()
    other = done.filter(~pl.col("heavy"))["fwd_return"].to_numpy()
    if len(heavy) + len(other) == 0:
        _empty(ax, "no insider-active month has a forward return")
    else:
        edges = np.histogram_bin_edges(np.concatenate([heavy, other]), bins=min(30, max(5, len(done) // 3)))
        for values, label, colour in ((other, "other", "#48a"), (heavy, "heavy selling", "#c33")):
            if len(values):
                ax.hist(
                    values,
                    bins=edges,
                    alpha=0.55,
                    density=True,
                    color=colour,
                    label=f"{label} (n={len(values)}, mean {values.mean():.1%})",
                )
                ax.axvline(values.mean(), color=colour, linestyle="--")
        ax.set_xlabel(f"{study.horizon}-trading-day forward return")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    ax.set_title("Forward returns after heavy-selling months vs other insider-active months")
    return _save(figure, path)


def event_time(curves: dict[str, pl.DataFrame], path: Path) -> Path:
    """Average cumulative return from the event close, tau trading days before and after, per event type."""
    figure = _figure()
    ax = figure.add_subplot()
    drawn = False
    for (label, curve), colour in zip(curves.items(), ("#c33", "#2a7", "#48a", "#a6c"), strict=False):
        known = curve.filter(pl.col("mean_return").is_not_null())
        if known.height == 0:
            continue
        events = int(curve.filter(pl.col("tau") == 0)["n"].sum())
        ax.plot(
            known["tau"].to_numpy(),
            known["mean_return"].to_numpy(),
            color=colour,
            label=f"{label} ({events} events)",
        )
        drawn = True
    if not drawn:
        _empty(ax, "no event with prices: " + ", ".join(f"{k}: 0 events" for k in curves))
    else:
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_xlabel("trading days from the event close")
        ax.set_ylabel("mean cumulative return")
        ax.legend(fontsize=8)
    ax.set_title("Event-time average return")
    return _save(figure, path)


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
