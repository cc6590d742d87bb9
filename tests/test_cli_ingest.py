"""``insider ingest``: what it prints, its exit codes, and its one-line errors."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.store.datasets import Store

FIXTURES = Path(__file__).parent / "fixtures" / "filings"
SOME = ["0000011544-20-000013.txt", "0000002488-24-000005.xml", "0000320121-23-000040.xml"]


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Three real filings and two bad files."""
    directory = tmp_path / "in"
    directory.mkdir()
    for name in SOME:
        shutil.copy(FIXTURES / name, directory / name)
    (directory / "empty.xml").write_bytes(b"")
    (directory / "note.xml").write_bytes(b"<note/>")
    return directory


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--store", "--strict", "--workers", ".tar.gz", "quarantine"):
        assert option in out


def test_prints_filings_rows_duplicates_and_quarantined_files_with_reasons(tmp_path, mixed, capsys):
    store = tmp_path / "store"
    assert main(["ingest", str(mixed), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ingested 5 files into .*store in \d+\.\d\d s \(1 worker\)", out)
    assert re.search(r"filings stored: +3\n", out)
    summary = Store(store).summary()
    assert f"owners {summary['owners']}, transactions {summary['transactions']}" in out
    assert re.search(r"duplicates skipped: +0\n", out)
    assert re.search(r"quarantined: +2\n", out)
    assert f"{mixed / 'empty.xml'}: empty document" in out
    assert f"{mixed / 'note.xml'}: not an ownership document" in out

    assert main(["ingest", str(mixed), str(mixed / SOME[0]), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"filings stored: +0\n", out)
    assert re.search(r"duplicates skipped: +4\n", out)
    assert "quarantined:        2 (2 already in quarantine/)" in out


def test_strict_exits_non_zero_only_when_something_was_quarantined(tmp_path, mixed, capsys):
    assert main(["ingest", str(mixed), "--store", str(tmp_path / "a"), "--strict"]) == 1
    clean = [str(FIXTURES / name) for name in SOME]
    assert main(["ingest", *clean, "--store", str(tmp_path / "b"), "--strict"]) == 0
    assert Store(tmp_path / "a").summary()["filings"] == 3


def test_a_missing_path_is_named_with_the_fix(tmp_path, capsys):
    assert (
        main(["ingest", str(FIXTURES / SOME[0]), str(tmp_path / "nope"), "--store", str(tmp_path / "s")]) == 2
    )
    err = capsys.readouterr().err
    assert f"insider ingest: error: no such file or directory: {tmp_path / 'nope'}" in err
    assert "fix:" in err and "Traceback" not in err


def test_an_unwritable_store_is_named_with_the_fix(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["ingest", str(FIXTURES / SOME[0]), "--store", str(tmp_path / "file" / "store")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to the store {tmp_path / 'file' / 'store'}" in err
    assert "fix: pass a --store directory you can write to" in err


def test_a_failing_disk_is_a_user_error_saying_a_rerun_resumes(tmp_path, mixed, capsys, monkeypatch):
    def full(self, tables):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Store, "write", full)
    assert main(["ingest", str(mixed), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert "writing the store" in err and "No space left on device" in err
    assert "rerun the same command: stored filings are skipped" in err


def test_workers_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", str(FIXTURES), "--store", str(tmp_path), "--workers", "0"])
    assert exit_.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_ingests_the_fixture_corpus(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", str(FIXTURES), "--store", str(tmp_path), "--workers", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r"ingested 608 files into .* s \(1 worker\)", done.stdout)
    assert re.search(r"filings stored: +608\n", done.stdout)
    assert re.search(r"quarantined: +0\n", done.stdout)
    assert done.stderr == ""


def test_a_name_that_is_not_utf8_is_printed_escaped_and_stops_nothing(tmp_path, mixed):
    bad = os.fsdecode(b"bad\xff\xfe")
    (mixed / f"{bad}.xml").write_bytes(b"<note/>")
    shutil.copy(FIXTURES / "0000002488-24-000005.xml", mixed / f"{bad}-copy.xml")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", str(mixed), "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert re.search(r"filings stored: +3\n", done.stdout)
    assert f"{mixed}/bad\\xff\\xfe.xml: not an ownership document" in done.stdout


def test_links_not_followed_are_counted_in_the_summary(tmp_path, mixed, capsys):
    (mixed / "passwd.xml").symlink_to("/etc/passwd")
    assert main(["ingest", str(mixed), "--store", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"links not followed: +1 \(symbolic links inside a directory\)\n", out)
    assert re.search(r"quarantined: +2\n", out)


def test_a_copy_replaced_by_its_accession_is_counted_in_the_summary(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    shutil.copy(FIXTURES / "0000320121-23-000040.xml", tmp_path / "a" / "wk-form4_1700000000.xml")
    assert main(["ingest", str(tmp_path / "a"), "--store", str(tmp_path / "store")]) == 0
    capsys.readouterr()
    assert (
        main(["ingest", str(FIXTURES / "0000320121-23-000040.xml"), "--store", str(tmp_path / "store")]) == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"filings stored: +1\n", out)
    assert re.search(r"replaced: +1 \(copies stored without an accession, now under it\)\n", out)
    assert Store(tmp_path / "store").accessions() == {"0000320121-23-000040"}
