"""``engine.compare``: two panels aligned by date and issuer (or point-in-time ticker), coverage both
ways with reasons, per-field differences against tolerance, per-date rank correlation, mismatches; and
``insider compare`` / ``insider score --check-against`` as a regression gate."""

from __future__ import annotations

import polars as pl
import pytest
from scoring_tables import Book, caps, day, write_store

import engine
from engine.cli.main import main
from engine.errors import UserError
from engine.evaluation.compare import compare, load_mapping
from engine.scoring.run import score


def book_and_caps() -> tuple[Book, object]:
    """Three issuers trading in January 2024; issuer 3 has no market cap (null raw); the ticker OLD
    moves from issuer 1 to issuer 2 on day 20."""
    book = Book()
    book.filing(1, 100, day(0), [("P", 1000, 10.0)], ticker="OLD")
    book.filing(2, 200, day(3), [("S", 100, 10.0)], ticker="NEW")
    book.filing(2, 201, day(20), [("S", 300, 10.0)], ticker="OLD")
    book.filing(3, 300, day(5), [("S", 300, 10.0)], ticker="CCC")
    book.filing(4, 400, day(2), [("P", 50, 20.0)], ticker="DDD")
    return book, caps((1, day(0), 1e6), (2, day(0), 1e7), (4, day(0), 1e6))


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    book, market = book_and_caps()
    return score(book.tables(), day(0), day(30), market_caps=market)


def change(frame: pl.DataFrame, date, issuer: int, **values: float) -> pl.DataFrame:
    at = (pl.col("date") == date) & (pl.col("issuer_cik") == issuer)
    return frame.with_columns(
        pl.when(at).then(pl.lit(v)).otherwise(pl.col(k)).alias(k) for k, v in values.items()
    )


def test_a_panel_equals_itself(panel):
    result = engine.compare(panel, panel.clone())
    assert result.passed and result.matched == panel.height and result.mismatches.is_empty()
    assert result.fields["beyond"].sum() == 0 and result.fields["max_abs_diff"].max() == 0
    assert result.correlation.drop_nulls("spearman")["spearman"].min() == pytest.approx(1.0)
    assert result.summary().endswith("PASS: every value within tolerance")


def test_a_value_beyond_tolerance_fails_and_is_the_worst_cell(panel, tmp_path):
    cell = panel.filter((pl.col("date") == day(8)) & (pl.col("issuer_cik") == 1)).row(0, named=True)
    reference = change(panel, day(8), 1, raw=cell["raw"] * (1 + 1e-6))
    result = compare(panel, reference, rtol=1e-9)
    raw = result.fields.filter(pl.col("field") == "raw").row(0, named=True)
    assert not result.passed and raw["beyond"] == 1
    assert raw["max_rel_diff"] == pytest.approx(1e-6 / (1 + 1e-6))
    worst = result.worst.row(0, named=True)
    assert (worst["date"], worst["issuer_cik"], worst["field"]) == (day(8), 1, "raw")
    written = pl.read_parquet(result.write_mismatches(tmp_path / "m.parquet"))
    assert written.select("date", "issuer_cik", "field", "kind").rows() == [(day(8), 1, "raw", "value")]
    assert compare(panel, reference, rtol=1e-5).passed


def test_coverage_is_reported_both_ways_with_reasons(panel):
    first = panel.filter(pl.col("date") == day(8))
    reference = pl.concat(
        [
            panel.filter(pl.col("date") != day(1)).filter(
                ~((pl.col("date") == day(8)) & (pl.col("issuer_cik") == 4))
            ),
            first.with_columns(pl.lit(day(6)).alias("date")),
            first.filter(pl.col("issuer_cik") == 1).with_columns(
                pl.lit(99).cast(pl.Int64).alias("issuer_cik")
            ),
            panel.filter((pl.col("date") == day(9)) & (pl.col("issuer_cik") == 1)).with_columns(
                pl.lit(day(0)).alias("date"), pl.lit(3).cast(pl.Int64).alias("issuer_cik")
            ),
        ]
    )
    result = compare(panel, reference)
    reasons = {(r["kind"], r["reason"]): r["cells"] for r in result.coverage.iter_rows(named=True)}
    n_first_day = panel.filter(pl.col("date") == day(1)).height
    assert reasons == {
        ("only in scores", "date not in the reference"): n_first_day,
        ("only in scores", "issuer missing from the reference on this date"): 1,
        ("only in reference", "date not scored"): first.height,
        ("only in reference", "issuer never scored"): 1,
        ("only in reference", "issuer not in the universe on this date"): 1,
    }
    assert not result.passed and result.beyond == 0
    assert compare(panel, reference, allow_missing=True).passed


def test_repeated_keys_are_set_aside_not_compared(panel):
    reference = pl.concat([panel, panel.head(1).with_columns(pl.col("insider") + 1)]).sort(
        "date", "issuer_cik"
    )
    result = compare(panel, reference)
    assert sorted(result.coverage.rows()) == [
        ("only in reference", "several rows for this date and issuer", 2),
        ("only in scores", "several rows for this date and issuer in the reference", 1),
    ]
    assert result.beyond == 0 and result.matched == panel.height - 1


def test_a_null_on_one_side_is_a_mismatch_with_the_scores_null_reason(panel):
    null = panel.filter(pl.col("null_reason").is_not_null()).row(0, named=True)
    reference = change(panel, null["date"], null["issuer_cik"], raw=0.5)
    result = compare(panel, reference, fields=["raw", "insider"])
    row = result.mismatches.row(0, named=True)
    assert (row["field"], row["kind"], row["reason"]) == ("raw", "null", "no_market_cap")
    assert row["score"] is None and row["reference"] == 0.5


def test_tickers_align_point_in_time_through_the_store_or_the_scores_labels(panel, tmp_path):
    book, _ = book_and_caps()
    # a vendor's file: OLD is issuer 1 until issuer 2 takes the symbol on day 20 (issuer 2 was NEW)
    moved = pl.col("date") >= day(20)
    vendor = panel.filter(~((pl.col("issuer_cik") == 1) & moved)).select(
        pl.col("date").cast(pl.String).alias("asof"),
        pl.when((pl.col("issuer_cik") == 2) & ~moved).then(pl.lit("NEW")).otherwise("ticker").alias("symbol"),
        pl.col("insider").alias("z"),
    )
    path = tmp_path / "vendor.csv"
    vendor.write_csv(path)
    columns = {"date": "asof", "ticker": "symbol", "insider": "z"}
    by_store = compare(panel, path, on="ticker", columns=columns, store=book.tables())
    assert by_store.matched == vendor.height and by_store.beyond == 0
    assert by_store.coverage.rows() == [
        (
            "only in scores",
            "issuer missing from the reference on this date",
            panel.filter(moved)["date"].n_unique(),
        )
    ]
    # the scores label issuers 1 and 2 both OLD from day 20 (issuer 1 files nothing newer)
    by_labels = compare(panel, path, on="ticker", columns=columns)
    reasons = dict(by_labels.coverage.select("reason", "cells").rows())
    assert (
        reasons["ticker labels several issuers in the scores on this date"]
        == panel.filter(moved)["date"].n_unique()
    )
    assert by_labels.beyond == 0 and by_labels.notes


def test_rank_correlation_per_date(panel):
    reversed_ = panel.with_columns(-pl.col("insider"))
    result = compare(panel, reversed_, fields=["insider"])
    spread = result.correlation.drop_nulls("spearman")
    assert spread.height and (spread["spearman"] == -1.0).all()
    assert not result.passed


def test_mapping_toml_and_bad_input(tmp_path, panel):
    toml = tmp_path / "map.toml"
    toml.write_text('on = "ticker"\nrtol = 1e-6\n[columns]\ninsider = "score"\n')
    assert load_mapping(toml) == {"on": "ticker", "rtol": 1e-6, "columns": {"insider": "score"}}
    toml.write_text("tolerance = 1\n")
    with pytest.raises(UserError, match="unknown key.*tolerance"):
        load_mapping(toml)
    with pytest.raises(UserError, match="no column.*score"):
        compare(panel, panel, columns={"insider": "score"})
    broken = tmp_path / "broken.csv"
    panel.head(3).with_columns(
        pl.when(pl.int_range(3) == 1).then(None).otherwise(pl.col("date")).alias("date")
    ).write_csv(broken)
    with pytest.raises(UserError, match="first at row 2"):
        compare(panel, broken)


def test_cli_compare_and_score_check_against(tmp_path, panel, capsys):
    book, market = book_and_caps()
    store = write_store(book, tmp_path / "store")
    caps_file = tmp_path / "caps.csv"
    market.table.rename({"cap": "market_cap"}).write_csv(caps_file)
    scores = tmp_path / "scores.parquet"
    run = ["score", "--store", str(store), "--start", str(day(0)), "--end", str(day(30))]
    assert main([*run, "--market-caps", str(caps_file), "--out", str(scores)]) == 0
    saved = tmp_path / "saved.parquet"
    pl.read_parquet(scores).write_parquet(saved)
    assert main(["compare", "--scores", str(scores), "--reference", str(saved)]) == 0
    assert "PASS" in capsys.readouterr().out
    moved = tmp_path / "moved.parquet"
    change(pl.read_parquet(saved), day(8), 1, insider=9.0).write_parquet(moved)
    out = tmp_path / "mismatches.parquet"
    assert main(["compare", "--scores", str(scores), "--reference", str(moved), "--out", str(out)]) == 1
    assert "FAIL: 1 values beyond tolerance" in capsys.readouterr().out
    assert pl.read_parquet(out).height == 1
    folder = tmp_path / "folder.parquet"
    folder.mkdir()
    assert main(["compare", "--scores", str(scores), "--reference", str(moved), "--out", str(folder)]) == 2
    printed = capsys.readouterr()
    assert f"--out {folder} is a directory" in printed.err
    assert "FAIL" not in printed.out, "refused before comparing"
    checked = [*run, "--market-caps", str(caps_file), "--out", str(tmp_path / "again.parquet")]
    assert main([*checked, "--check-against", str(saved)]) == 0
    assert main([*checked, "--check-against", str(moved)]) == 1
    assert main([*checked, "--check-against", str(moved), "--rtol", "100"]) == 0
    assert main(["compare", "--scores", str(scores), "--reference", str(moved), "--map", "oops"]) == 2
    assert "NAME=COLUMN" in capsys.readouterr().err
    vendor = tmp_path / "vendor.csv"
    pl.read_parquet(saved).filter(pl.col("date") < day(20)).select(
        pl.col("date").alias("asof"), pl.col("ticker").alias("symbol"), pl.col("insider").alias("z")
    ).write_csv(vendor)
    mapping = tmp_path / "vendor.toml"
    mapping.write_text('on = "ticker"\n[columns]\ndate = "asof"\nticker = "symbol"\ninsider = "z"\n')
    gate = ["compare", "--scores", str(scores), "--reference", str(vendor), "--columns", str(mapping)]
    assert main([*gate, "--store", str(store)]) == 1
    assert "only in scores" in capsys.readouterr().out
    assert main([*gate, "--store", str(store), "--allow-missing"]) == 0
