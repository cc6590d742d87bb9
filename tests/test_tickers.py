"""The point-in-time issuer-to-ticker table on the real fixture filings and the SEC's real ticker maps:
changed tickers (FB to META, SPAC symbols), recycled and shared ones, renamed and taken issuers, the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from engine.errors import UserError
from engine.replay import FakeEdgar
from engine.scoring.market_caps import load_market_caps
from engine.scoring.tickers import read_company_tickers, resolve_issuers, ticker_table
from engine.store.datasets import Store
from engine.store.ingest import ingest

TICKERS = Path(__file__).parent / "fixtures" / "index" / "tickers"
EXCHANGE = TICKERS / "company_tickers_exchange.json"
OLDER = TICKERS / "company_tickers.older.json"
META, BLOCK, JOBY, CORESITE, CENCORA = 1326801, 1512673, 1819848, 1490892, 1140859


@pytest.fixture(scope="module")
def store(tmp_path_factory, filings_dir: Path) -> Store:
    store = Store(tmp_path_factory.mktemp("tickers") / "store")
    ingest([filings_dir], store, workers=1)
    return store


@pytest.fixture(scope="module")
def table(store: Store):
    return ticker_table(store.scan("filings"), read_company_tickers(EXCHANGE))


def test_history_of_a_changed_ticker_and_the_current_map(table):
    rows = table.table().filter(pl.col("issuer_cik") == JOBY).sort("first_seen")
    assert rows["ticker"].to_list() == ["RTP", "JOBY"]
    assert rows["last_seen"][0] < rows["first_seen"][1]
    assert set(rows["current_ticker"]) == {"JOBY"}
    meta = table.table().filter(pl.col("issuer_cik") == META)
    assert meta["ticker"].to_list() == ["FB"] and meta["current_ticker"].to_list() == ["META"]


def test_resolve_by_date_follows_renames(table):
    day = dt.date
    keys = pl.DataFrame(
        {
            "ticker": ["FB", "META", "META", "RTP", "JOBY", "SQ", "XYZ", "ZZZZ"],
            "date": [
                day(2019, 5, 1),
                day(2020, 1, 2),
                day(2024, 1, 2),
                day(2020, 12, 1),
                day(2022, 3, 1),
                day(2021, 1, 4),
                day(2025, 6, 2),
                day(2021, 1, 4),
            ],
        }
    )
    assert table.resolve(keys).to_list() == [META, META, META, JOBY, JOBY, BLOCK, BLOCK, None]


def test_recycled_and_shared_tickers_are_conflicts_resolved_by_date():
    def filing(cik: int, ticker: str, day: dt.date) -> dict:
        return {"document_type": "4", "issuer_cik": cik, "ticker_raw": ticker, "available_date": day}

    rows = [
        filing(1, "ab ", dt.date(2010, 1, 4)),
        filing(1, "AB", dt.date(2014, 6, 2)),
        filing(2, "AB", dt.date(2018, 3, 1)),
        filing(2, "AB", dt.date(2020, 3, 1)),
        filing(3, "CD", dt.date(2020, 1, 2)),
        filing(4, "CD", dt.date(2019, 6, 1)),
        filing(4, "CD", dt.date(2021, 6, 1)),
        filing(5, "N/A", dt.date(2021, 6, 1)),
    ]
    table = ticker_table(pl.LazyFrame(rows))
    history = table.history.filter(pl.col("issuer_cik") == 1).sort("ticker_filed")
    assert history["ticker_filed"].to_list() == ["AB", "ab "] and set(history["ticker"]) == {"AB"}
    assert 5 not in table.history["issuer_cik"].to_list()  # "N/A" is no ticker
    conflicts = table.conflicts()
    assert conflicts.select("kind", "ticker", "issuer_cik", "other_cik").rows() == [
        ("recycled", "AB", 1, 2),
        ("shared", "CD", 3, 4),
    ]
    keys = pl.DataFrame(
        {
            "ticker": ["AB", "AB", "AB", "AB", "CD", "CD"],
            "date": [
                dt.date(2009, 1, 2),
                dt.date(2016, 1, 4),
                dt.date(2018, 3, 1),
                dt.date(2024, 1, 2),
                dt.date(2020, 2, 3),
                dt.date(2021, 7, 1),
            ],
        }
    )
    assert table.resolve(keys).to_list() == [1, 1, 2, 2, 3, 4]


def test_renamed_and_taken_issuers_and_what_to_fetch(table):
    conflicts = table.conflicts()
    renamed = conflicts.filter(pl.col("kind") == "renamed")
    assert {"FB", "SQ", "BLL"} <= set(renamed["ticker"])
    taken = conflicts.filter(pl.col("kind") == "taken")
    assert (CORESITE, "COR", CENCORA) in taken.select("issuer_cik", "ticker", "other_cik").rows()
    fetch = table.fetch_tickers()
    by_issuer = {cik: (t, basis) for cik, t, basis in fetch.iter_rows()}
    assert by_issuer[META] == ("META", "current") and by_issuer[BLOCK] == ("XYZ", "current")
    assert CORESITE not in by_issuer  # COR belongs to Cencora today: its prices are not CoreSite's
    assert all(
        basis == "filed" for cik, (t, basis) in by_issuer.items() if cik not in table.current["issuer_cik"]
    )


def test_both_sec_file_layouts_read_alike():
    exchange, older = read_company_tickers(EXCHANGE), read_company_tickers(OLDER)
    assert exchange.columns == older.columns == ["issuer_cik", "ticker", "title", "rank"]
    assert exchange.filter(pl.col("issuer_cik") == BLOCK)["ticker"][0] == "XYZ"
    assert older.filter(pl.col("issuer_cik") == BLOCK)["ticker"][0] == "SQ"


def test_a_file_that_is_not_a_ticker_map_is_a_one_line_error(tmp_path):
    bad = tmp_path / "tickers.json"
    bad.write_text('{"0": {"symbol": "AAPL"}}')
    with pytest.raises(UserError, match="is not the SEC's company_tickers.json") as error:
        read_company_tickers(bad)
    assert error.value.fix and "\n" not in str(error.value).split("  fix:")[0].strip()


def test_market_caps_by_ticker_use_the_same_rule(store: Store):
    ticker_map = store.scan("filings").select("issuer_cik", "available_date", "ticker")
    caps = pl.DataFrame(
        {
            "date": [dt.date(2020, 1, 2), dt.date(2023, 1, 3)],
            "ticker": ["RTP", "JOBY"],
            "market_cap": [1e9, 2e9],
        }
    )
    loaded = load_market_caps(caps, ticker_map)
    assert loaded.table["issuer_cik"].to_list() == [JOBY, JOBY]
    assert resolve_issuers(caps, ticker_map).to_list() == [JOBY, JOBY]


def test_cli_writes_the_table_and_its_conflicts(store: Store, tmp_path, capsys):
    from engine.cli.main import main

    out = tmp_path / "tickers.csv"
    assert (
        main(["tickers", "--store", str(store.root), "--out", str(out), "--company-tickers", str(EXCHANGE)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "issuers in the SEC's current map" in printed and "taken: 4" in printed
    written = pl.read_csv(out)
    assert {"issuer_cik", "ticker", "ticker_filed", "first_seen", "last_seen", "current_ticker"} <= set(
        written.columns
    )
    assert pl.read_csv(tmp_path / "tickers.conflicts.csv").height == 22


def test_cli_refuses_an_out_that_is_a_directory_or_of_another_type(store: Store, tmp_path, capsys):
    from engine.cli.main import main

    folder = tmp_path / "tickers.parquet"
    folder.mkdir()
    for out, says in (
        (folder, "is a directory"),
        (tmp_path / "tickers.json", "unsupported output type '.json'"),
    ):
        code = main(
            ["tickers", "--store", str(store.root), "--out", str(out), "--company-tickers", str(EXCHANGE)]
        )
        err = capsys.readouterr().err
        assert code == 2 and says in err and "fix:" in err
    assert list(tmp_path.iterdir()) == [folder] and not list(folder.iterdir())


def test_cli_fetches_the_sec_map_politely_from_a_mirror(store: Store, tmp_path, filings_dir, capsys):
    from engine.cli.main import main

    edgar = FakeEdgar.from_directory(
        filings_dir, files={"/files/company_tickers_exchange.json": EXCHANGE.read_bytes()}
    )
    url = edgar.start_in_thread()
    try:
        argv = [
            "tickers",
            "--store",
            str(store.root),
            "--out",
            str(tmp_path / "t.parquet"),
            "--base-url",
            url,
            "--user-agent",
            "tests tests@example.com",
            "--rate",
            "50",
        ]
        assert main(argv) == 0
    finally:
        edgar.stop_thread()
    assert [h.path for h in edgar.hits] == ["/files/company_tickers_exchange.json"]
    assert "fetched from" in capsys.readouterr().out
    assert pl.read_parquet(tmp_path / "t.parquet")["current_ticker"].drop_nulls().len() > 200
