"""Scoring benchmark: the full daily panel on a synthetic EDGAR-scale universe, one as-of cross-section,
the reference implementation and a pandas groupby-rolling version beside it, and a scaling table.

    python benchmarks/bench_score.py [--work DIR] [--sizes 1000x5,7000x20] [--skip-scaling] [--append]

Each size is generated once into ``--work`` as a hive-partitioned store (``benchmarks/synthetic_universe.py``,
calibrated to EDGAR's volume: 7000x20 is 7M filings, 11M transaction rows) and scored in a fresh subprocess
that scans it with ``engine.store.datasets.Store``, so its peak RSS (``resource.getrusage``) is the scorer's
own. The largest size's panel is also split by stage (the functions ``score_run`` calls, timed in place;
"inputs + panel frame" is the rest), and with ``--append`` each size's score file is written to the day
before the end and extended by one day (``score_file(..., append=True)``, as ``insider score --append``).
Numba kernels are loaded from their cache before timing. The machine is shared: the 1-minute load
average is printed with each figure, and the process CPU seconds beside the wall time (on 2 cores, a
quiet machine's wall time is about the larger of CPU / 2 and the serial part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_universe import generate  # noqa: E402

from engine.scoring import cross_section, kernels  # noqa: E402
from engine.scoring import run as run_module  # noqa: E402
from engine.scoring.config import ScoreConfig  # noqa: E402
from engine.scoring.events import trade_events  # noqa: E402
from engine.scoring.incremental import score_file  # noqa: E402
from engine.scoring.market_caps import MarketCaps, load_market_caps  # noqa: E402
from engine.scoring.reference import reference_score  # noqa: E402
from engine.scoring.run import score_asof, score_run  # noqa: E402
from engine.scoring.universe import filing_events  # noqa: E402
from engine.store.datasets import Store  # noqa: E402

TABLES = ("filings", "owners", "transactions", "footnotes")
FIRST_YEAR = 2005


def tables_of(directory: Path) -> dict[str, pl.LazyFrame]:
    store = Store(directory)
    return {name: store.scan(name) for name in TABLES}


def dataset(work: Path, issuers: int, years: int) -> Path:
    """Generate (once, in a subprocess) the synthetic tables of a size."""
    directory = work / f"store_{issuers}x{years}"
    if not (directory / "market_caps.parquet").exists():
        script = Path(__file__).resolve().parent / "synthetic_universe.py"
        subprocess.run(
            [sys.executable, str(script), str(directory), "--issuers", str(issuers), "--years", str(years)],
            check=True,
        )
    return directory


def warm_up() -> float:
    """Load the numba kernels (from their cache, or compile them) on a tiny universe; its seconds."""
    tables, caps = generate(20, 1, first_year=FIRST_YEAR, seed=1)
    began = time.perf_counter()
    score_run({k: v.lazy() for k, v in tables.items()}, "2005-06-01", "2005-06-30", market_caps=caps)
    return time.perf_counter() - began


STAGES = (
    ("pipeline (Polars: trades to events)", run_module, "trade_events"),
    ("universe (filings, latest filing)", run_module, "_latest_filings"),
    ("row positions", kernels, "row_positions"),
    ("windows (90-day sums, cluster)", run_module, "_window_columns"),
    ("raw", kernels, "raw_scores"),
    ("cross-section (z-score, ranks)", cross_section, "cross_section"),
    ("ticker labels", kernels, "row_values"),
)
"""The stages of ``score_run`` timed in place: (label, module, function it calls)."""


@contextmanager
def stage_timer(seconds: dict[str, float]) -> Iterator[None]:
    """Add each stage's wall seconds to ``seconds`` while inside (the functions wrapped, then restored)."""
    originals = [(module, name, getattr(module, name)) for _, module, name in STAGES]

    def timed(label: str, function: Callable) -> Callable:
        def wrapper(*args: object, **kwargs: object) -> object:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - began

        return wrapper

    for (label, module, name), (_, _, function) in zip(STAGES, originals, strict=True):
        setattr(module, name, timed(label, function))
    try:
        yield
    finally:
        for module, name, function in originals:
            setattr(module, name, function)


def measure(directory: Path, years: int, append: bool) -> dict:
    """In this (fresh) process: score the full daily panel by stage, one as-of cross-section, and with
    ``append`` one day's append to a score file."""
    caps = load_market_caps(directory / "market_caps.parquet")
    warmup = warm_up()
    start, end = f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + years - 1}-12-31"
    stages: dict[str, float] = {}
    cpu = time.process_time()
    began = time.perf_counter()
    with stage_timer(stages):
        run = score_run(tables_of(directory), start, end, market_caps=caps)
    panel = time.perf_counter() - began
    cpu = time.process_time() - cpu
    stages["inputs + panel frame"] = panel - sum(stages.values())
    rows, issuers, dates = run.frame.height, run.frame["issuer_cik"].n_unique(), run.frame["date"].n_unique()
    del run
    asof = []
    for _ in range(3):
        began = time.perf_counter()
        section = score_asof(Store(directory), end, market_caps=caps)
        asof.append(time.perf_counter() - began)
    return {
        "panel_s": panel,
        "cpu_s": cpu,
        "stages": stages,
        **(measure_append(directory, start, end, caps) if append else {}),
        "asof_s": float(np.median(asof)),
        "asof_rows": section.height,
        "rows": rows,
        "issuers": issuers,
        "dates": dates,
        "warmup_s": warmup,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "load": os.getloadavg()[0],
    }


def measure_append(directory: Path, start: str, end: str, caps: MarketCaps) -> dict:
    """A score file written to the weekday before ``end``, then extended to ``end``: the append's wall and
    CPU seconds (each file of the store's last month touched first, as a day's update writes there)."""
    store = Store(directory)
    with tempfile.TemporaryDirectory(dir=directory.parent) as temp:
        path = Path(temp) / "scores.parquet"
        before = (dt.date.fromisoformat(end) - dt.timedelta(days=1)).isoformat()
        score_file(path, store, start, before, market_caps=caps)
        root = directory / "filings"
        last_month = max(
            root.glob("*/*"), key=lambda d: [int(p.split("=")[1]) for p in d.relative_to(root).parts]
        )
        for file in last_month.glob("*.parquet"):
            os.utime(file)
        cpu = time.process_time()
        began = time.perf_counter()
        result = score_file(path, store, start, end, market_caps=caps, append=True)
        return {
            "append_s": time.perf_counter() - began,
            "append_cpu_s": time.process_time() - cpu,
            "append_dates": result.scored_dates,
            "file_mb": path.stat().st_size / 1e6,
        }


def measured(directory: Path, years: int, append: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(directory), "--years", str(years)]
        + (["--append"] if append else []),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def pandas_windows(events, filing_frame: pl.DataFrame, grid: np.ndarray, config: ScoreConfig):
    """A straightforward pandas version of the windows and the cross-section, from the same trade events
    as the engine: per-issuer daily series summed with groupby-rolling over 90 calendar days (the few
    superseded trades subtracted over the days they no longer count), distinct insiders from each trade's
    active days, the universe by merge_asof, then a groupby z-score."""
    import pandas as pd

    ev = pd.DataFrame(
        {
            "issuer": events.issuer_cik,
            "insider": events.insider_cik,
            "start": events.start,
            "end": events.superseded,
            "term": events.term,
        }
    )
    buy = events.is_buy
    ev["b"] = np.where(buy, ev.term.fillna(0), 0.0)
    ev["s"] = np.where(~buy, ev.term.fillna(0), 0.0)
    ev["miss"] = ev.term.isna().astype(float)
    cols = ["b", "s", "miss"]
    calendar = np.arange(grid[0] - config.flow_window, grid[-1] + 1)
    issuers = np.unique(ev.issuer)
    dense = pd.MultiIndex.from_product([issuers, calendar], names=["issuer", "day"])
    daily = (
        ev.rename(columns={"start": "day"})
        .groupby(["issuer", "day"])[cols]
        .sum()
        .reindex(dense, fill_value=0)
    )
    daily = daily.reset_index()
    daily["day"] = pd.to_datetime(daily.day, unit="D")
    flows = daily.groupby("issuer").rolling(f"{config.flow_window}D", on="day")[cols].sum().reset_index()
    flows["day"] = (flows.day - pd.Timestamp(0)).dt.days
    flows = flows.set_index(["issuer", "day"])[cols]
    gone = ev[ev.end < ev.start + config.flow_window].copy()
    gone["day"] = [np.arange(e, s + config.flow_window) for s, e in zip(gone.start, gone.end, strict=True)]
    correction = gone.explode("day").astype({"day": np.int64}).groupby(["issuer", "day"])[cols].sum()
    cells = pd.MultiIndex.from_product([issuers, grid], names=["issuer", "day"])
    flows = flows.reindex(cells).sub(correction.reindex(cells, fill_value=0.0))
    ev["stop"] = np.minimum(ev.end, ev.start + config.cluster_window)
    ev["day"] = [np.arange(s, e) for s, e in zip(ev.start, ev.stop, strict=True)]
    active = ev.explode("day").astype({"day": np.int64})
    cluster = active.groupby(["issuer", "day"]).insider.nunique().reindex(cells, fill_value=0)
    out = flows.assign(cluster=cluster.values).reset_index()
    filings = filing_frame.select(
        pl.col("issuer_cik").alias("issuer"), pl.col("available_date").cast(pl.Int64).alias("filed")
    ).to_pandas()
    every = pd.DataFrame({"issuer": np.repeat(np.unique(filings.issuer), grid.size)})
    every["day"] = np.tile(grid, every.size // grid.size)
    last = pd.merge_asof(
        every.sort_values("day"), filings.sort_values("filed"), left_on="day", right_on="filed", by="issuer"
    )
    member = last[last.day - last.filed <= config.universe_lookback][["issuer", "day"]]
    out = member.merge(out, on=["issuer", "day"], how="left").fillna(
        {"b": 0, "s": 0, "miss": 0, "cluster": 0}
    )
    out["raw"] = (out.b - out.s) * (1 + np.log(1 + out.cluster))
    out.loc[out.miss > 0, "raw"] = np.nan
    by_day = out.groupby("day").raw
    spread = (by_day.transform("count") >= 2) & (by_day.transform("max") != by_day.transform("min"))
    z = (out.raw - by_day.transform("mean")) / by_day.transform(lambda r: r.std(ddof=config.ddof))
    out["insider"] = np.where(out.raw.isna(), np.nan, np.where(spread, z, 0.0))
    out["pct"] = by_day.rank(method="average", pct=True)
    return out.sort_values(["day", "issuer"]).reset_index(drop=True)


def compare_pandas(directory: Path, years: int) -> dict:
    """Engine vs the pandas version on the same events (the Polars pipeline's output) and dates."""
    config = ScoreConfig()
    tables = tables_of(directory)
    caps = load_market_caps(directory / "market_caps.parquet")
    start, end = dt.date(FIRST_YEAR + 1, 1, 1), dt.date(FIRST_YEAR + years - 1, 12, 31)
    began = time.perf_counter()
    fast = score_run(tables, start, end, market_caps=caps).frame
    engine_s = time.perf_counter() - began
    began = time.perf_counter()
    events = trade_events(tables, start, end, caps, config)
    pipeline_s = time.perf_counter() - began
    filing_frame = filing_events(tables["filings"], end).collect()
    grid = np.array([(d - dt.date(1970, 1, 1)).days for d in pl.date_range(start, end, eager=True)])
    grid = grid[(grid + 3) % 7 < 5]
    began = time.perf_counter()
    slow = pandas_windows(events, filing_frame, grid, config)
    pandas_s = time.perf_counter() - began
    ok = len(slow) == fast.height and np.allclose(
        slow.insider.to_numpy(dtype=float),
        fast["insider"].to_numpy().astype(float),
        rtol=1e-9,
        atol=1e-9,
        equal_nan=True,
    )
    return {
        "engine_s": engine_s,
        "pipeline_s": pipeline_s,
        "pandas_s": pandas_s,
        "rows": fast.height,
        "match": ok,
    }


def compare_reference(directory: Path) -> dict:
    """Engine vs ``engine.scoring.reference`` on every 5th weekday of one year of a small universe."""
    tables = tables_of(directory)
    caps = load_market_caps(directory / "market_caps.parquet")
    dates = [
        d for d in pl.date_range(dt.date(FIRST_YEAR + 1, 1, 2), dt.date(FIRST_YEAR + 1, 12, 31), eager=True)
    ]
    dates = [d for d in dates if d.weekday() < 5][::5]
    began = time.perf_counter()
    fast = score_run(tables, dates=dates, market_caps=caps).frame
    engine_s = time.perf_counter() - began
    began = time.perf_counter()
    ref = reference_score(tables, dates, caps)
    reference_s = time.perf_counter() - began
    same = fast.select("date", "issuer_cik", "cluster", "n_buys", "n_sells").equals(
        ref.select("date", "issuer_cik", "cluster", "n_buys", "n_sells")
    )
    close = np.allclose(
        fast["insider"].to_numpy().astype(float),
        ref["insider"].to_numpy().astype(float),
        rtol=1e-9,
        atol=1e-9,
        equal_nan=True,
    )
    return {"engine_s": engine_s, "reference_s": reference_s, "rows": fast.height, "match": same and close}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/insider_bench"))
    parser.add_argument("--sizes", default="1000x5,1000x20,3500x20,7000x5,7000x10,7000x20")
    parser.add_argument("--skip-scaling", action="store_true", help="only the full 7000x20 panel")
    parser.add_argument("--append", action="store_true", help="also time one day's append to a score file")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--years", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.years, args.append)))
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start (shared)")
    sizes = ["7000x20"] if args.skip_scaling else args.sizes.split(",")
    print(
        f"{'issuers':>7} {'years':>5} {'cells':>12} {'panel s':>8} {'cpu s':>7} {'peak GB':>8} "
        f"{'as-of s':>8}" + (f" {'append s':>9} {'cpu s':>6}" if args.append else "") + f" {'load':>5}"
    )
    for size in sizes:
        issuers, years = map(int, size.split("x"))
        r = measured(dataset(args.work, issuers, years), years, args.append)
        appended = f" {r['append_s']:>9.2f} {r['append_cpu_s']:>6.2f}" if args.append else ""
        print(
            f"{issuers:>7} {years:>5} {r['rows']:>12,} {r['panel_s']:>8.2f} {r['cpu_s']:>7.2f} "
            f"{r['peak_gb']:>8.2f} {r['asof_s']:>8.3f}{appended} {r['load']:>5.2f}",
            flush=True,
        )
    print(f"panel of {size} by stage (wall s, load {r['load']:.2f}):")
    for label, seconds in r["stages"].items():
        print(f"  {label:<38} {seconds:>6.2f}  {seconds / r['panel_s']:>4.0%}")
    warm_up()
    small = compare_reference(dataset(args.work, 60, 2))
    print(
        f"reference (60 issuers, 52 dates, {small['rows']:,} cells): engine {small['engine_s']:.3f}s, "
        f"reference {small['reference_s']:.2f}s, ratio {small['reference_s'] / small['engine_s']:.0f}x, "
        f"match {small['match']}"
    )
    medium = compare_pandas(dataset(args.work, 2000, 5), 5)
    engine_s, pipeline_s, pandas_s = medium["engine_s"], medium["pipeline_s"], medium["pandas_s"]
    kernels_s = engine_s - pipeline_s
    print(
        f"pandas (2000 issuers, 4 years, {medium['rows']:,} cells): engine end to end {engine_s:.2f}s, "
        f"of which the Polars pipeline {pipeline_s:.2f}s and universe + kernels + frame {kernels_s:.2f}s; "
        f"pandas windows + cross-section on the same events {pandas_s:.2f}s: {pandas_s / kernels_s:.1f}x "
        f"that stage, {pandas_s / engine_s:.1f}x the whole engine; match {medium['match']}"
    )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
