"""The ``insider`` entry point: version, help, subcommand loading, pipes and shared EDGAR options."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine import __version__
from engine.cli.main import build_parser, main
from engine.cli.options import client_from_args
from engine.replay import FakeEdgar, load_filings
from engine.store import Store

ROOT = Path(__file__).parents[1]
AGENT = "Insider Engine tests tests@example.com"


def test_version_flag_prints_the_packaged_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"insider {packaged}\n"
    assert __version__ == packaged


def test_python_dash_m_engine_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, check=True
    )
    assert "insider" in out.stdout


def test_a_closed_output_pipe_ends_quietly(tmp_path, filings_dir):
    reader_gone = subprocess.Popen(
        [sys.executable, "-m", "engine", "ingest", str(filings_dir), "--store", str(tmp_path / "s")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader_gone.stdout.close()
    stderr = reader_gone.stderr.read().decode()
    assert reader_gone.wait(timeout=120) == 141
    assert "Traceback" not in stderr


def test_a_subcommand_imports_only_its_own_module():
    probe = (
        "import sys\n"
        "from engine.cli.main import main\n"
        "try:\n"
        "    main(['ingest', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('engine.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "usage: insider ingest" in run.stdout
    assert "'engine.cli.commands.ingest'" in run.stdout
    assert "engine.cli.commands.score" not in run.stdout and "engine.scoring.run" not in run.stdout


def test_help_without_a_command_lists_every_command(capsys):
    assert main([]) == 2
    listed = capsys.readouterr().out
    assert all(
        name in listed for name in ("ingest", "download", "update", "backfill", "score", "evaluate", "demo")
    )


def test_download_retries_a_failed_filing_five_times_by_default(tmp_path, filings_dir):
    """``--retries`` defaults to 5: the option, the client it builds, and a run whose filing fails once."""
    argv = ["download", "--start", "2024-01-02", "--store", str(tmp_path), "--user-agent", AGENT]
    args = build_parser(["download"]).parse_args([*argv, "--base-url", "http://127.0.0.1:9/"])
    assert args.retries == 5 and client_from_args(args).retries == 5

    filings = load_filings(filings_dir)
    victim = filings[0]
    day = victim.filing_date.isoformat()
    server = FakeEdgar(filings)
    base = server.start_in_thread()
    try:
        server.inject("503", match=victim.accession)
        common = ["--store", str(tmp_path), "--user-agent", AGENT, "--rate", "200", "--quiet"]
        assert main(["download", "--start", day, "--end", day, *common, "--base-url", base]) == 0
    finally:
        server.stop_thread()
    assert server.pending_faults == 0
    assert victim.accession in Store(tmp_path).accessions()
