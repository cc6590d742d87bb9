"""`insider demo` end to end, offline, and the bundle it runs on."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

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


def test_demo_market_caps_are_close_times_shares():
    caps = demo_market_caps()
    assert set(caps.columns) == {"date", "ticker", "close", "shares_outstanding"}
    assert caps["ticker"].n_unique() == 17
    assert caps["close"].null_count() == 0 and (caps["shares_outstanding"] > 0).all()


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
    assert re.search(r"last date with insider activity \d{4}-\d\d-\d\d", out)
    assert "Heavy-minus-other spread:" in out and "rank IC" in out
    report = tmp_path / "report" / "report.md"
    assert report.is_file() and len(list(report.parent.glob("*.png"))) == 4
    assert f"report: {report}" in out
    seconds = float(re.search(r"done in ([\d.]+) s", out).group(1))
    assert seconds > 0


def test_demo_dir_that_is_a_file_is_a_user_error(tmp_path: Path, capsys):
    from engine.cli.main import main

    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["demo", "--dir", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"cannot create the demo directory {taken}" in err and "fix: pass --dir" in err
