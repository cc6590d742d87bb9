import subprocess
import sys

from engine import __version__
from engine.cli import main


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
