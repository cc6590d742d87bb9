"""Every command and code block of README.md runs, in order, so the README cannot rot.

Commands that talk to EDGAR run unchanged except for ``--base-url``/``--data-base-url`` pointing at the
local fake EDGAR (serving the real fixture filings, and synthetic data-set zips and XBRL frames in the
SEC's layout for every quarter the README's backfill asks for) and a mirror-only ``--rate``. The user's
own files the README names (``data/filings``, ``data/prices.parquet``, ``data/market_caps.parquet``) are
the fixture filings and the demo's bundled real prices and market caps.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from engine.cli.demo import PRICES, demo_market_caps
from engine.edgar.backfill import FIRST_DATASET
from engine.edgar.calendar import quarter_bounds, quarter_of, quarter_range
from engine.edgar.shares import FIRST_FRAME
from engine.evaluation.price_sources import FilePrices
from engine.replay import FakeEdgar, load_filings
from engine.replay.tiingo import FakeTiingo
from engine.testing.form345 import synthetic_dataset

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
INSTALL_AND_DEMO = "pip install -e . && insider demo"
INSTALL_AND_TEST = 'pip install -e ".[test]" && ruff check . && pytest -q'
NOT_RUN_HERE = {
    INSTALL_AND_DEMO: "CI installs the package; tests/test_demo.py runs `insider demo` end to end",
    INSTALL_AND_TEST: "this is the test command itself: .ci/run runs it",
    'pip install -e ".[test,mutation]"': "the mutation extra: installed where mutation testing is run",
    "python benchmarks/mutation.py run --max-children 1": "mutation testing takes about an hour: run by hand",
    "python benchmarks/mutation.py report": "reads the mutants/ of a mutation run",
}
EDGAR_COMMANDS = {"download", "update", "backfill", "tickers", "watch"}
PRICE_COMMANDS = {"prices"}
TIINGO_KEY = "your-tiingo-api-key"
"""The README's placeholder key: the fake Tiingo accepts exactly it."""
COMPANY_TICKERS = ROOT / "tests" / "fixtures" / "index" / "tickers" / "company_tickers_exchange.json"
TODAY = date(2026, 11, 25)
"""The New York day the README's commands run on, so the quarters they backfill and the days they update
do not grow with the calendar."""
AS_OF_TODAY = (
    "import sys, datetime, engine.edgar.calendar as calendar\n"
    f"calendar.today_in_new_york = lambda: datetime.date.fromisoformat({TODAY.isoformat()!r})\n"
    "from engine.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
"""``insider`` with EDGAR's calendar day pinned to TODAY (each command imports it when invoked)."""


def readme_blocks() -> list[tuple[str, str]]:
    """The README's fenced ``bash`` and ``python`` blocks, in document order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```(bash|python)\n(.*?)^```", text, flags=re.S | re.M)


def shell_lines(block: str) -> list[str]:
    """The commands of a bash block (comments and blank lines dropped)."""
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    commands = [line for lang, block in readme_blocks() if lang == "bash" for line in shell_lines(block)]
    assert commands[:2] == [INSTALL_AND_DEMO, INSTALL_AND_TEST]
    assert INSTALL_AND_TEST in (ROOT / ".ci" / "run").read_text()


def frame_json(year: int, quarter: int) -> bytes:
    """An XBRL frame in data.sec.gov's layout with cover-page share counts for two fixture issuers."""
    end = quarter_bounds(year, quarter)[1]
    facts = [
        (789019, "MICROSOFT CORP", 7_430_000_000, "0000789019"),
        (1318605, "Tesla, Inc.", 3_200_000_000, "0001564590"),
    ]
    data = [
        {
            "accn": f"{prefix}-{year % 100:02d}-{quarter:06d}",
            "cik": cik,
            "entityName": name,
            "loc": "US-WA",
            "end": end.isoformat(),
            "val": shares,
        }
        for cik, name, shares, prefix in facts
    ]
    return json.dumps({"taxonomy": "dei", "tag": "EntityCommonStockSharesOutstanding", "data": data}).encode()


def fake_edgar(filings_dir: Path) -> FakeEdgar:
    """The fixture filings plus a data set and a frame for every quarter up to TODAY's."""
    quarters = quarter_range(FIRST_DATASET, (TODAY.year, quarter_of(TODAY)))
    datasets = {q: synthetic_dataset(20, year=q[0], quarter=q[1], seed=i) for i, q in enumerate(quarters)}
    frames = {q: frame_json(*q) for q in quarters if q >= FIRST_FRAME}
    files = {"/files/company_tickers_exchange.json": COMPANY_TICKERS.read_bytes()}
    return FakeEdgar(load_filings(filings_dir), datasets=datasets, frames=frames, files=files)


def fake_tiingo() -> FakeTiingo:
    """Tiingo's API serving the demo's bundled real prices (closes as traded rebuilt from adjusted ones)."""
    return FakeTiingo(FilePrices([PRICES]).frame, api_key=TIINGO_KEY)


def workspace(tmp_path: Path, filings_dir: Path) -> Path:
    """A directory holding the user's own files the README refers to."""
    data = tmp_path / "data"
    shutil.copytree(filings_dir, data / "filings")
    shutil.copy(PRICES, data / "prices.parquet")
    demo_market_caps().write_parquet(data / "market_caps.parquet")
    return tmp_path


def run_shell_line(
    line: str, cwd: Path, env: dict[str, str], base_url: str, prices_url: str = ""
) -> str | None:
    """Run one README command; returns the ``insider`` subcommand it ran, if any."""
    if line in NOT_RUN_HERE:
        return None
    words = shlex.split(line)
    if words[0] == "export":
        name, value = words[1].split("=", 1)
        env[name] = value
        return None
    assert words[0] == "insider", f"README command not covered by this test: {line}"
    argv = [sys.executable, "-c", AS_OF_TODAY, *words[1:]]
    if len(words) > 1 and words[1] in EDGAR_COMMANDS and "--help" not in words:
        argv += ["--base-url", base_url, "--data-base-url", base_url, "--rate", "200", "--quiet"]
    if len(words) > 1 and words[1] in PRICE_COMMANDS and "--help" not in words:
        argv += ["--base-url", prices_url, "--rate", "200"]
    run = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{line}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return words[1]


@pytest.mark.slow
def test_every_readme_command_and_example_runs(tmp_path: Path, filings_dir: Path):
    cwd = workspace(tmp_path, filings_dir)
    env = {k: v for k, v in os.environ.items() if k != "INSIDER_USER_AGENT"}
    edgar = fake_edgar(filings_dir)
    base_url = edgar.start_in_thread()
    tiingo = fake_tiingo()
    prices_url = tiingo.start_in_thread()
    ran: list[str | None] = []
    try:
        for lang, block in readme_blocks():
            if lang == "bash":
                ran += [run_shell_line(line, cwd, env, base_url, prices_url) for line in shell_lines(block)]
            else:
                run = subprocess.run(
                    [sys.executable, "-c", block],
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert run.returncode == 0, f"{block}\nstderr:\n{run.stderr}"
    finally:
        edgar.stop_thread()
        tiingo.stop_thread()
    assert {"backfill", "update", "ingest", "score", "evaluate", "download", "tickers", "prices"} <= set(ran)
    assert {h.ticker for h in tiingo.hits if h.status == 200} >= {"MSFT", "TSLA", "SPY"}
    assert (cwd / "data" / "eval_pit" / "report.html").is_file()
    assert (cwd / "data" / "scores.parquet").is_file()
    assert (cwd / "data" / "eval" / "report.md").is_file()
    assert any((cwd / "data" / "store" / "shares_outstanding").iterdir())
