"""Hypothesis properties of the score on random universes: the fast path equals the reference, and the
invariants of SCORING.md hold."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_tables import Book, caps, day

from engine.scoring.config import ScoreConfig
from engine.scoring.market_caps import MarketCaps
from engine.scoring.reference import reference_score
from engine.scoring.run import score

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FLOATS = ("buys", "sells", "raw", "insider", "pct")
TITLES = ["CEO", "Chief Financial Officer", "VP", "See Remarks", None]
REMARKS = [None, "Chief Executive Officer", "Sales under a Rule 10b5-1 plan", "President"]


@st.composite
def owners(draw, insider: int) -> list[dict]:
    rows = []
    for k in range(draw(st.integers(1, 2))):
        title = draw(st.sampled_from(TITLES))
        rows.append(
            {
                "owner_cik": insider + 1000 * k,
                "is_director": draw(st.booleans()),
                "is_officer": draw(st.booleans()),
                "is_ten_percent_owner": draw(st.booleans()),
                "is_other": draw(st.booleans()),
                "officer_title": title,
                "role_title": title,
            }
        )
    return rows


@st.composite
def universes(draw) -> tuple[Book, MarketCaps, list[dt.date]]:
    """A random book of filings over ~250 days, random market caps (some missing), random score dates."""
    n_issuers = draw(st.integers(1, 5))
    book = Book()
    for _ in range(draw(st.integers(1, 14))):
        issuer = draw(st.integers(1, n_issuers))
        insider = draw(st.integers(10, 13))
        owner_rows = draw(owners(insider))
        remarks = draw(st.sampled_from(REMARKS))
        for owner in owner_rows:
            if owner["officer_title"] == "See Remarks":
                owner["role_title"] = remarks
        trades = [
            (
                draw(st.sampled_from(["P", "S", "S", "A", "M"])),
                draw(st.sampled_from([100.0, 2500.0, 1e6, 0.0, -3.0, None])),
                draw(st.sampled_from([10.0, 2.5, 0.0, None])),
                draw(st.booleans()),
                draw(st.sampled_from([[], ["F1"]])),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        book.filing(
            issuer,
            insider,
            day(draw(st.integers(0, 200))),
            trades,
            form=draw(st.sampled_from(["4", "4", "4", "4/A", "3", "5"])),
            period=day(draw(st.sampled_from([0, 50, 100]))),
            owners=owner_rows,
            ticker=draw(st.sampled_from(["AAA", "bbb ", "n/a", None])),
            remarks=remarks,
            aff10b5one=draw(st.sampled_from([None, False, True])),
            footnotes={"F1": draw(st.sampled_from(["a 10b5-1 plan", "gift"]))},
        )
    cap_rows = [
        (issuer, day(draw(st.integers(0, 150))), draw(st.floats(1e5, 1e9)))
        for issuer in range(1, n_issuers + 1)
        for _ in range(draw(st.integers(0, 2)))
    ]
    unique_caps = list({(i, d): (i, d, c) for i, d, c in cap_rows}.values())
    dates = sorted({day(d) for d in draw(st.lists(st.integers(0, 260), min_size=1, max_size=8))})
    return book, caps(*unique_caps), dates


CONFIGS = st.sampled_from(
    [
        ScoreConfig(),
        ScoreConfig(winsorize=0.2),
        ScoreConfig(score_method="rank"),
        ScoreConfig(plan_weight=0.5, include_form5=True),
        ScoreConfig(plan_pattern=r"10b-?5[-\u2010-\u2014 ]?1|gift", ddof=1),
        ScoreConfig(flow_window=20, cluster_window=7, universe_lookback=60),
        ScoreConfig(role_weights={"officer": 2.0, "ceo": 0.1}),
    ]
)


def assert_match(fast: pl.DataFrame, ref: pl.DataFrame, rel: float = 1e-9) -> None:
    """Same rows and exact columns; floats equal to ``rel`` relative (absolute near zero, where the
    difference of buys and sells or the centring of z cancels)."""
    exact = [c for c in fast.columns if c not in FLOATS]
    assert fast.select(exact).equals(ref.select(exact))
    scale = (fast["buys"].fill_null(0) + fast["sells"].fill_null(0)).to_numpy() * 3 + 1e-300
    for column in FLOATS:
        a = fast[column].to_numpy(allow_copy=True).astype(float)
        b = ref[column].to_numpy(allow_copy=True).astype(float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=column)
        ok = np.isnan(a) | (np.abs(a - b) <= rel * np.maximum(np.abs(b), scale if column == "raw" else 1.0))
        assert ok.all(), (column, a[~ok], b[~ok])


@SETTINGS
@given(universes(), CONFIGS)
def test_fast_path_equals_reference(universe, config):
    book, market, dates = universe
    fast = score(book.tables(), dates=dates, market_caps=market, config=config)
    assert_match(fast, reference_score(book.tables(), dates, market, config))


@st.composite
def affiliated_books(draw) -> tuple[Book, MarketCaps, list[dt.date]]:
    """Blocks each reported in one to three accessions, on one or two days, by owner sets drawn from a small
    pool of CIKs (so that accessions sometimes share an owner), some as two equal lots of one accession;
    accession numbers are shuffled so that the earliest is not always the first added."""
    book = Book()
    numbers = iter(draw(st.permutations(range(18))))
    for _ in range(draw(st.integers(1, 6))):
        issuer = draw(st.integers(1, 2))
        trade = (
            draw(st.sampled_from(["P", "S"])),
            draw(st.sampled_from([100.0, 2500.0])),
            draw(st.sampled_from([10.0, None])),
            draw(st.booleans()),
        )
        traded = draw(st.sampled_from([day(0), day(1), None]))
        for _ in range(draw(st.integers(1, 3))):
            ciks = draw(st.lists(st.sampled_from([10, 11, 12, 13]), min_size=1, max_size=3, unique=True))
            owners = [{"owner_cik": c, "is_director": c % 2 == 0, "is_ten_percent_owner": True} for c in ciks]
            book.filing(
                issuer,
                min(ciks),
                day(draw(st.sampled_from([2, 3]))),
                [trade] * draw(st.integers(1, 2)),
                form=draw(st.sampled_from(["4", "4", "4/A"])),
                owners=owners,
                traded=traded,
                accession=f"0000000000-00-{next(numbers):06d}",
            )
    return book, caps((1, day(0), 1e6), (2, day(0), 5e5)), [day(2), day(3), day(4)]


@SETTINGS
@given(
    affiliated_books(),
    st.sampled_from(
        [
            ScoreConfig(dedupe_affiliated=True),
            ScoreConfig(dedupe_affiliated=True, plan_weight=0.5, score_method="rank"),
            ScoreConfig(dedupe_affiliated=True, cluster_window=1, role_weights={"ten_percent": 0.1}),
        ]
    ),
)
def test_fast_path_equals_reference_with_dedupe_affiliated(universe, config):
    book, market, dates = universe
    fast = score(book.tables(), dates=dates, market_caps=market, config=config)
    assert_match(fast, reference_score(book.tables(), dates, market, config))
    off = score(
        book.tables(), dates=dates, market_caps=market, config=config.replace(dedupe_affiliated=False)
    )
    assert (fast["n_buys"] <= off["n_buys"]).all() and (fast["n_sells"] <= off["n_sells"]).all()


@SETTINGS
@given(universes(), st.sampled_from([[1], [1, 2, 3, 7]]))
def test_fast_path_equals_reference_with_an_explicit_universe(universe, members):
    book, market, dates = universe
    fast = score(book.tables(), dates=dates, market_caps=market, universe=members)
    assert_match(fast, reference_score(book.tables(), dates, market, None, set(members)))


@SETTINGS
@given(universes())
def test_z_has_mean_zero_and_population_std_one_where_there_is_spread(universe):
    book, market, dates = universe
    out = score(book.tables(), dates=dates, market_caps=market)
    for (_,), section in out.drop_nulls("raw").group_by("date"):
        z = section["insider"].to_numpy()
        if section.height >= 2 and section["raw"].max() != section["raw"].min():
            assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
        else:
            assert (z == 0).all()


@SETTINGS
@given(universes(), st.randoms(use_true_random=False))
def test_permuting_issuers_permutes_rows(universe, rnd):
    book, market, dates = universe
    base = score(book.tables(), dates=dates, market_caps=market)
    ciks = sorted({f["issuer_cik"] for f in book.filings} | set(market.table["issuer_cik"].to_list()))
    relabel = dict(zip(ciks, rnd.sample(range(100, 200), len(ciks)), strict=True))
    tables = {
        name: frame.with_columns(pl.col("issuer_cik").replace_strict(relabel))
        .collect()
        .sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 99))
        .lazy()
        if "issuer_cik" in frame.collect_schema()
        else frame
        for name, frame in book.tables().items()
    }
    moved = MarketCaps(market.table.with_columns(pl.col("issuer_cik").replace_strict(relabel)), market.kind)
    out = score(tables, dates=dates, market_caps=moved)
    expected = base.with_columns(pl.col("issuer_cik").replace_strict(relabel)).sort("date", "issuer_cik")
    assert_match(out, expected, rel=1e-12)


@SETTINGS
@given(universes(), st.floats(1e-3, 1e6))
def test_scaling_market_caps_leaves_insider_unchanged(universe, k):
    book, market, dates = universe
    base = score(book.tables(), dates=dates, market_caps=market)
    scaled = MarketCaps(market.table.with_columns(pl.col("cap") * k), market.kind)
    out = score(book.tables(), dates=dates, market_caps=scaled)
    np.testing.assert_allclose(
        out["insider"].to_numpy(allow_copy=True).astype(float),
        base["insider"].to_numpy(allow_copy=True).astype(float),
        rtol=1e-9,
        atol=1e-9,
    )


def _add_row(book: Book, accession_index: int, trade: dict) -> Book:
    copy = Book(list(book.filings), list(book.owners), list(book.transactions), list(book.footnotes))
    template = next(
        t for t in book.transactions if t["accession"] == book.filings[accession_index]["accession"]
    )
    copy.transactions.append({**template, "row_index": 99, "footnote_ids": [], **trade})
    return copy


@SETTINGS
@given(universes(), st.data())
def test_adding_a_plan_trade_changes_nothing(universe, data):
    book, market, dates = universe
    with_trades = sorted({t["accession"] for t in book.transactions})
    if not with_trades:
        return
    chosen = data.draw(st.sampled_from(with_trades))
    index = next(i for i, f in enumerate(book.filings) if f["accession"] == chosen)
    code = data.draw(st.sampled_from(["P", "S"]))
    bigger = _add_row(book, index, {"transaction_code": code, "shares": 5e5, "price": 20.0, "plan": True})
    base = score(book.tables(), dates=dates, market_caps=market)
    assert_match(score(bigger.tables(), dates=dates, market_caps=market), base, rel=0)


@SETTINGS
@given(universes(), st.data())
def test_adding_a_buy_to_a_counted_filing_never_lowers_raw(universe, data):
    """The buy joins a filing that already has a counted (eligible, non-plan) trade, so the cluster is
    unchanged and only ``buys`` grows. (A buy by a *new* insider can lower the raw of a net seller,
    since it raises ``1 + ln(1 + cluster)``: that is the contract's formula.)"""
    book, market, dates = universe
    counted = sorted(
        {
            t["accession"]
            for t in book.transactions
            if t["document_type"] in ("4", "4/A")
            and t["transaction_code"] in ("P", "S")
            and (t["shares"] or 0) > 0
            and not t["plan"]
        }
    )
    if not counted:
        return
    chosen = data.draw(st.sampled_from(counted))
    index = next(i for i, f in enumerate(book.filings) if f["accession"] == chosen)
    bigger = _add_row(book, index, {"transaction_code": "P", "shares": 1e4, "price": 10.0, "plan": False})
    base = score(book.tables(), dates=dates, market_caps=market)
    out = score(bigger.tables(), dates=dates, market_caps=market)
    assert out.select("date", "issuer_cik").equals(base.select("date", "issuer_cik"))
    both = base.select("raw").with_columns(out["raw"].alias("after")).drop_nulls()
    assert (both["after"] >= both["raw"] - 1e-12 * both["raw"].abs()).all()


@SETTINGS
@given(universes(), st.integers(90, 400))
def test_trades_older_than_90_days_have_no_effect(universe, age):
    book, market, dates = universe
    issuers = sorted({f["issuer_cik"] for f in book.filings})
    old = Book(list(book.filings), list(book.owners), list(book.transactions), list(book.footnotes))
    old.filing(
        issuers[0], 10, dates[0] - dt.timedelta(days=age), [("P", 1e6, 10.0), ("S", 5.0, 1.0)], ticker=None
    )
    base = score(book.tables(), dates=dates, market_caps=market, universe=issuers)
    out = score(old.tables(), dates=dates, market_caps=market, universe=issuers)
    assert_match(out.drop("ticker"), base.drop("ticker"), rel=0)


def test_a_new_insiders_small_buy_can_lower_a_net_sellers_raw():
    """Documented consequence of ``raw = (buys - sells) * (1 + ln(1 + cluster))``."""
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0)])
    market = caps((1, day(0), 1e6))
    before = score(book.tables(), dates=[day(10)], market_caps=market)["raw"].item()
    book.filing(1, 200, day(10), [("P", 1, 10.0)])
    after = score(book.tables(), dates=[day(10)], market_caps=market)["raw"].item()
    assert after < before < 0
    assert before == pytest.approx(-0.005 * (1 + math.log(2)))


def test_routine_traders_are_excluded_for_the_whole_year():
    """Insider 100 sold in March of 2021, 2022 and 2023: routine in 2024; insider 200 missed 2022."""
    book = Book()
    for year in (2021, 2022, 2023):
        book.filing(1, 100, dt.date(year, 3, 10), [("S", 100, 10.0)])
        if year != 2022:
            book.filing(1, 200, dt.date(year, 3, 10), [("S", 100, 10.0)])
    book.filing(1, 100, dt.date(2024, 6, 3), [("S", 1000, 10.0)])
    book.filing(1, 200, dt.date(2024, 6, 3), [("S", 1000, 10.0)])
    market = caps((1, dt.date(2020, 1, 1), 1e6))
    config = ScoreConfig(exclude_routine=True)
    dates = [dt.date(2023, 3, 20), dt.date(2024, 6, 4)]
    fast = score(book.tables(), dates=dates, market_caps=market, config=config)
    assert_match(fast, reference_score(book.tables(), dates, market, config))
    assert fast["n_sells"].to_list() == [2, 1] and fast["cluster"].to_list() == [2, 1]
