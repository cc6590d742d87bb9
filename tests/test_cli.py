import subprocess
import sys

from engine import __version__
from engine.cli.main import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


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
