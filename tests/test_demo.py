"""`insider demo` end to end, offline, and the bundle it runs on."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import polars as pl
import pytest

from engine.cli.demo import FILINGS_ARCHIVE, demo_market_caps


def test_bundled_filings_are_the_test_fixtures(filings_dir: Path):
    with tarfile.open(FILINGS_ARCHIVE) as archive:
        bundled = {
            Path(m.name).name: hashlib.sha1(archive.extractfile(m).read()).hexdigest()
            for m in archive.getmembers()
            if m.isfile()
        }
    fixtures = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in filings_dir.iterdir()}
    assert bundled == fixtures


def test_demo_market_caps_are_point_in_time_and_match_the_snapshot():
    caps = demo_market_caps()
    assert caps.columns == ["issuer_cik", "date", "market_cap", "carried_back"]
    assert caps["issuer_cik"].n_unique() == 17 and (caps["market_cap"] > 0).all()
    snapshot = dt.date(2024, 11, 14)
    assert not caps.filter(pl.col("date") >= snapshot)["carried_back"].any()
    assert caps.filter(pl.col("date") < snapshot)["carried_back"].all()
    # the snapshot's own market caps (its Marketcap column), from closes rebuilt out of adjusted ones
    on_the_day = dict(caps.filter(pl.col("date") == snapshot).select("issuer_cik", "market_cap").iter_rows())
    assert on_the_day[320193] == pytest.approx(3_449_727_746_048, rel=1e-6)  # AAPL
    assert on_the_day[1045810] == pytest.approx(3_600_022_765_568, rel=1e-6)  # NVDA
    # across NVIDIA's 10-for-1 split (ex 2024-06-10) the cap moves with the return, not tenfold
    nvda = caps.filter(
        (pl.col("issuer_cik") == 1045810)
        & pl.col("date").is_between(dt.date(2024, 6, 7), dt.date(2024, 6, 10))
    )
    assert nvda["market_cap"][1] / nvda["market_cap"][0] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_offline(tmp_path: Path):
    run = subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert re.search(r"serving 608 real filings", out)
    assert "608 filings listed, 0 already in the store, 608 stored, 0 quarantined" in out
    assert re.search(r"filings 608, owners \d+, transactions \d+", out)
    assert re.search(
        r"tickers: \d+ \(issuer, ticker as filed\) rows .* conflicts: \d+ renamed, \d+ taken", out
    )
    assert re.search(r"price series: \d+ requested; \d+ fetched", out)
    assert "point-in-time market caps for 5 issuers" in out and "split-adjusted back" in out
    active = re.search(r"latest date with insider activity (\d{4}-\d\d-\d\d)", out)
    assert active and "strongest sells:" in out
    sells = out.split("strongest sells:")[1].splitlines()[2]  # the first row under the header
    assert float(sells.split()[3]) < 0  # a real seller, not a row of zeros
    assert re.search(r"cluster buys .* in the 90 days to " + active.group(1), out)
    assert "Heavy-minus-other spread:" in out and "rank IC" in out
    report = tmp_path / "report" / "report.md"
    assert report.is_file() and len(list(report.parent.glob("*.png"))) == 5
    assert f"report: {report} and report.html" in out and (report.parent / "report.html").is_file()
    seconds = float(re.search(r"done in ([\d.]+) s", out).group(1))
    assert seconds > 0


def test_demo_dir_that_is_a_file_is_a_user_error(tmp_path: Path, capsys):
    from engine.cli.main import main

    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["demo", "--dir", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"cannot create the demo directory {taken}" in err and "fix: pass --dir" in err
