"""Point-in-time market caps: shares as filed x closes as traded, split-aware, without look-ahead; checked
by hand, as a property (a later filing never changes an earlier cap), on real prices across Apple's 2020
split, and through ``score(market_caps="store")``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine import provenance
from engine.evaluation.price_sources import normalise
from engine.scoring.caps_from_prices import point_in_time_caps
from engine.scoring.run import score_run
from engine.store.datasets import Store
from engine.store.ingest import ingest
from engine.store.prices import series_path, write_series
from parsers.schema import SHARES_OUTSTANDING_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures" / "prices"
SHARES = pl.Schema(pl.from_arrow(SHARES_OUTSTANDING_SCHEMA.empty_table()).schema)


def facts(*rows: tuple[int, dt.date, dt.date, float]) -> pl.DataFrame:
    """Shares-outstanding facts: (issuer, period_end, filed, shares)."""
    return (
        pl.DataFrame([{"issuer_cik": c, "period_end": e, "filed": f, "shares": s} for c, e, f, s in rows])
        .with_columns(pl.lit(None, pl.String).alias(n) for n in ("accession", "entity_name", "frame"))
        .cast(dict(SHARES))
    )


def series(
    issuer: int, days: list[dt.date], closes: list[float], splits: dict[dt.date, float]
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": "X",
            "issuer_cik": issuer,
            "date": days,
            "close": closes,
            "adj_close": closes,
            "dividend": 0.0,
            "split_factor": [splits.get(d, 1.0) for d in days],
            "volume": None,
        },
        schema_overrides={"volume": pl.Float64},
    )


D = dt.date
DAYS = [D(2021, 1, 4), D(2021, 2, 1), D(2021, 3, 12), D(2021, 3, 15), D(2021, 5, 3), D(2021, 6, 1)]
CLOSES = [10.0, 11.0, 12.0, 6.5, 7.0, 8.0]  # a 2-for-1 split goes ex on 15 March


def test_caps_by_hand_with_a_split_between_count_and_day():
    shares = facts((7, D(2021, 1, 20), D(2021, 2, 1), 100.0), (7, D(2021, 4, 20), D(2021, 5, 3), 190.0))
    build = point_in_time_caps(shares, series(7, DAYS, CLOSES, {D(2021, 3, 15): 2.0}))
    caps = dict(zip(build.table["date"], build.table["market_cap"], strict=True))
    assert D(2021, 1, 4) not in caps  # no count filed yet: no look-ahead
    assert caps[D(2021, 2, 1)] == 11.0 * 100 and caps[D(2021, 3, 12)] == 12.0 * 100
    assert caps[D(2021, 3, 15)] == 6.5 * 200  # the January count is in pre-split shares
    assert caps[D(2021, 5, 3)] == 7.0 * 190 and caps[D(2021, 6, 1)] == 8.0 * 190  # counted after the split
    back = point_in_time_caps(shares, series(7, DAYS, CLOSES, {D(2021, 3, 15): 2.0}), carry_back=True)
    first = back.table.row(0, named=True)
    assert first["date"] == D(2021, 1, 4) and first["market_cap"] == 10.0 * 100 and first["carried_back"]
    assert "split-adjusted back" in " ".join(back.notes) and not build.table["carried_back"].any()


def test_a_later_filing_never_changes_an_earlier_cap():
    rng = np.random.default_rng(3)
    days = [D(2020, 1, 1) + dt.timedelta(days=int(i)) for i in range(0, 400, 2)]
    prices = pl.concat(
        [
            series(c, days, list(np.exp(rng.normal(0, 0.02, len(days)).cumsum()) * 50), {days[150]: 3.0})
            for c in (1, 2, 3)
        ]
    )
    rows = [
        (c, f - dt.timedelta(days=int(rng.integers(5, 40))), f, float(rng.integers(1_000, 5_000)))
        for c in (1, 2, 3)
        for f in sorted(D(2020, 1, 1) + dt.timedelta(days=int(x)) for x in rng.choice(400, 5, replace=False))
    ]
    full = point_in_time_caps(facts(*rows), prices).table
    for cut in (days[40], days[120], days[170]):
        known = point_in_time_caps(facts(*[r for r in rows if r[2] <= cut]), prices).table
        assert known.filter(pl.col("date") <= cut).equals(full.filter(pl.col("date") <= cut))


def test_real_apple_closes_give_a_continuous_cap_across_the_2020_split():
    aapl = normalise(pl.read_parquet(FIXTURES / "av_daily_adjusted_aapl_msft_1999_2020.parquet"), "p").filter(
        (pl.col("ticker") == "AAPL") & (pl.col("date") >= D(2020, 6, 1))
    )
    aapl = aapl.with_columns(pl.lit(320193, pl.Int64).alias("issuer_cik"))
    assert aapl.filter(pl.col("date") == D(2020, 8, 31))["split_factor"][0] == 4.0
    count = facts((320193, D(2020, 7, 17), D(2020, 7, 31), 4_275_634_000.0))
    caps = point_in_time_caps(count, aapl).table.sort("date")
    step = caps.with_columns((pl.col("market_cap") / pl.col("market_cap").shift(1)).alias("ratio"))
    ratios = step.join(
        aapl.select("date", (pl.col("adj_close") / pl.col("adj_close").shift(1)).alias("ret")), on="date"
    )
    assert np.allclose(
        ratios["ratio"].drop_nulls().to_numpy(),
        ratios["ret"].drop_nulls().to_numpy()[-len(ratios["ratio"].drop_nulls()) :],
        rtol=2e-3,
    )
    on_split = caps.filter(pl.col("date") == D(2020, 8, 31))["market_cap"][0]
    assert 2.0e12 < on_split < 2.3e12  # Apple's market cap at the end of August 2020 was about $2.2 trillion


def test_score_from_the_store_uses_shares_times_prices(tmp_path, filings_dir: Path):
    store = Store(tmp_path / "store")
    ingest([filings_dir], store, workers=1)
    tsla = normalise(pl.read_parquet(FIXTURES / "yf_daily_34_us_2020_2025.parquet"), "p").filter(
        pl.col("ticker") == "TSLA"
    )
    tsla = tsla.with_columns(
        pl.col("adj_close").alias("close"), pl.lit(1318605, pl.Int64).alias("issuer_cik")
    )
    write_series(series_path(store, "TSLA"), tsla, {"source": "test"})
    directory = store.root / "shares_outstanding"
    directory.mkdir()
    count = facts((1318605, D(2021, 10, 18), D(2021, 10, 25), 1_004_000_000.0))
    count.write_parquet(directory / "frame=CY2020Q3I.parquet")
    run = score_run(store, D(2021, 11, 1), D(2021, 12, 31), market_caps="store")
    assert run.provenance[provenance.MARKET_CAPS].startswith("the store's shares_outstanding x its prices")
    by_hand = tsla.filter(pl.col("date") >= D(2021, 10, 25)).select(
        "issuer_cik", "date", (pl.col("close") * 1_004_000_000.0).alias("market_cap")
    )
    expected = score_run(store, D(2021, 11, 1), D(2021, 12, 31), market_caps=by_hand)
    tesla = run.frame.filter(pl.col("issuer_cik") == 1318605)
    assert tesla["raw"].drop_nulls().len() > 0 and (tesla["raw"] != 0).any()
    assert_frame_equal(run.frame, expected.frame, rel_tol=1e-12)  # x splits / basis rounds in the last bit


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_unusable_counts_and_closes_are_left_out(bad):
    shares = facts((7, D(2021, 1, 20), D(2021, 2, 1), bad), (7, D(2021, 1, 20), D(2021, 2, 2), 100.0))
    prices = series(7, DAYS, [bad if i == 5 else c for i, c in enumerate(CLOSES)], {})
    build = point_in_time_caps(shares, prices)
    assert build.table["market_cap"].is_finite().all() and (build.table["market_cap"] > 0).all()
    assert D(2021, 6, 1) not in build.table["date"].to_list()
    assert "no close as traded" in " ".join(build.notes)
