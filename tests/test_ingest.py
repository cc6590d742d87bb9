"""Ingest: real filings from directories and archives into the store; bad input quarantined, never fatal."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.store.ingest as ingest_module
import engine.store.inputs as inputs_module
from engine.errors import UserError
from engine.store.datasets import Store
from engine.store.ingest import IngestReport, ingest
from engine.store.inputs import accession_hint
from parsers.schema import STORE_TABLES

FIXTURES = Path(__file__).parent / "fixtures" / "filings"
FILING_FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".xml", ".txt"))


def manifest_accessions(directory: Path) -> tuple[set[str], int]:
    """Accessions the manifest gives or the file names carry, and how many bare XML files have neither."""
    with open(directory / "MANIFEST.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    known = {row["accession"] or accession_hint(row["file"]) for row in rows}
    return known - {None}, len(rows) - len(known - {None})


def snapshot(store: Store) -> dict[str, pl.DataFrame]:
    """Every dataset minus quarantine timestamps, sorted: equal snapshots mean equal stores."""
    frames = {}
    for name in STORE_TABLES:
        frame = store.scan(name).collect()
        if name == "quarantine":
            frame = frame.drop("quarantined_at", "filing_year", "filing_month")
        frames[name] = frame.sort([c for c in frame.columns if frame.schema[c] != pl.List])
    return frames


def assert_same_store(a: Store, b: Store) -> None:
    left, right = snapshot(a), snapshot(b)
    for name in STORE_TABLES:
        assert left[name].equals(right[name]), name


def sample(count: int, seed: int = 7) -> list[Path]:
    return random.Random(seed).sample(FILING_FILES, count)


def junk_directory(root: Path) -> dict[str, str]:
    """Good filings mixed with every kind of bad input; returns {file name: how its reason starts}."""
    root.mkdir()
    for good in sample(6):
        (root / good.name).write_bytes(good.read_bytes())
    bare = (FIXTURES / "0000320121-23-000040.xml").read_bytes()
    submission = (FIXTURES / "0000011544-20-000013.txt").read_bytes()
    (root / "empty.xml").write_bytes(b"")
    (root / "0000000000-99-000001.xml").write_bytes(bare[: len(bare) // 2])
    (root / "0000000000-99-000002.txt").write_bytes(submission[: len(submission) // 2])
    (root / "binary.xml").write_bytes(random.Random(1).randbytes(3000))
    (root / "page.txt").write_bytes(b"<html><body>404 Not Found</body></html>")
    (root / "note.xml").write_bytes(b'<?xml version="1.0"?><note><to>x</to></note>')
    (root / "xxe.xml").write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b"<ownershipDocument>&x;</ownershipDocument>"
    )
    os.mkfifo(root / "pipe.xml")
    os.mkfifo(root / "pipe.zip")
    (root / "corrupt.zip").write_bytes(b"PK\x03\x04" + random.Random(2).randbytes(400))
    (root / "README.md").write_text("not a filing, ignored")
    return {
        "empty.xml": "empty document",
        "0000000000-99-000001.xml": "truncated document: no closing </ownershipDocument>",
        "0000000000-99-000002.txt": "truncated document: no closing </ownershipDocument>",
        "binary.xml": "not well-formed XML: Start tag expected",
        "page.txt": "not an ownership document: root element <html>",
        "note.xml": "not an ownership document: root element <note>",
        "xxe.xml": "DOCTYPE declares entities",
        "pipe.xml": "not a regular file",
        "pipe.zip": "not a regular file",
        "corrupt.zip": "corrupt zip archive: BadZipFile",
    }


# accession hints


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0000011544-20-000013.txt", "0000011544-20-000013"),
        ("dir/sub/0000002488-24-000005.xml", "0000002488-24-000005"),
        ("11544_1_0000011544-20-000013.txt", "0000011544-20-000013"),
        ("samples/000000248824000005.sgml", "0000002488-24-000005"),
        ("feed.tar.gz!0000002488-24-000005.nc", "0000002488-24-000005"),
        ("0000002488-24-000005.zip!form4.xml", None),
        ("form4.xml", None),
        ("12345.xml", None),
    ],
)
def test_accession_hint_comes_from_the_file_name(name, expected):
    assert accession_hint(name) == expected


# real filings


@pytest.mark.slow
def test_every_real_fixture_filing_is_stored_and_a_second_run_changes_nothing(tmp_path, filings_dir):
    store = Store(tmp_path / "store")
    report = ingest([filings_dir], store, workers=1)
    assert report.quarantined == []
    assert (report.files, report.skipped, report.filings, report.duplicates) == (608, 1, 608, 0)
    known, anonymous = manifest_accessions(filings_dir)
    stored = store.accessions()
    assert {a for a in stored if not a.startswith("sha1-")} == known
    assert sum(a.startswith("sha1-") for a in stored) == anonymous == 19
    assert report.rows == store.summary()
    assert report.rows["transactions"] > report.rows["filings"]
    sources = store.scan("filings").select("source").collect().to_series()
    assert sources.str.starts_with(str(filings_dir)).all()

    files = sorted(p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name != ".lock")
    again = ingest([filings_dir], store, workers=1)
    assert (again.filings, again.duplicates, again.quarantined) == (0, 608, [])
    assert sorted(p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name != ".lock") == files


@pytest.mark.slow
def test_the_worker_pool_stores_the_same_as_one_process(tmp_path):
    files = sample(120)
    alone = Store(tmp_path / "alone")
    ingest(files, alone, workers=1)
    pooled = Store(tmp_path / "pooled")
    report = ingest(files, pooled, workers=2, chunk_size=25, parallel_threshold=50, batch_size=40)
    assert report.workers == 2 and report.filings == 120
    assert_same_store(alone, pooled)


def die(chunk, now):
    """Stands in for the worker's parse function: the process dies as on a crash or the OOM killer."""
    os._exit(9)


@pytest.mark.slow
def test_a_dead_worker_is_a_user_error_and_earlier_batches_are_kept(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    ingest(sample(5), store, workers=1)
    monkeypatch.setattr(ingest_module, "_parse_chunk", die)
    with pytest.raises(UserError, match="a parser process died") as error:
        ingest(sample(60), store, workers=2, chunk_size=10, parallel_threshold=20)
    assert "--workers 1" in str(error.value)
    assert len(store.accessions()) == 5


def test_small_inputs_are_parsed_in_process(tmp_path):
    report = ingest(sample(10), Store(tmp_path), workers=2)
    assert report.workers == 1 and report.filings == 10


def test_repeated_filings_within_and_across_chunks_are_stored_once(tmp_path):
    files = sample(30)
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in files[:10]:
        (copies / path.name).write_bytes(path.read_bytes())
    store = Store(tmp_path / "store")
    report = ingest([*files, copies, files[0]], store, workers=1, chunk_size=7, batch_size=9)
    assert (report.filings, report.duplicates) == (30, 11)
    assert store.summary()["filings"] == 30


@pytest.mark.slow
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    picks=st.lists(st.sampled_from(FILING_FILES), min_size=1, max_size=25, unique=True),
    split=st.integers(0, 25),
    seed=st.integers(0, 1000),
)
def test_any_split_and_order_of_real_input_gives_the_same_store(tmp_path_factory, picks, split, seed):
    root = tmp_path_factory.mktemp("prop")
    shuffled = list(picks)
    random.Random(seed).shuffle(shuffled)
    whole = Store(root / "whole")
    ingest(sorted(picks), whole, workers=1)
    parts = Store(root / "parts")
    for part in (shuffled[:split], shuffled[split:]):
        if part:
            ingest(part, parts, workers=1)
    assert_same_store(whole, parts)
    ingest(picks, parts, workers=1)
    assert_same_store(whole, parts)


# archives


def test_zip_and_tar_gz_archives_are_walked_member_by_member(tmp_path):
    files = sample(24)
    with zipfile.ZipFile(tmp_path / "batch.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files[:12]:
            archive.write(path, f"2020/QTR1/{path.name}")
        archive.writestr("2020/README.txt", b"not a filing")
        archive.writestr("__MACOSX/2020/._x.xml", b"resource fork")
        archive.writestr("2020/notes.csv", b"a,b")
    with tarfile.open(tmp_path / "batch.tar.gz", "w:gz") as archive:
        for path in files[12:]:
            archive.add(path, f"feed/{path.name}")
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "batch.zip", tmp_path / "batch.tar.gz"], store, workers=1)

    assert report.filings == 24 and report.archives == 2
    assert [q.source for q in report.quarantined] == [f"{tmp_path / 'batch.zip'}!2020/README.txt"]
    assert report.skipped == 1
    sources = set(store.scan("filings").select("source").collect().to_series())
    assert f"{tmp_path / 'batch.zip'}!2020/QTR1/{files[0].name}" in sources
    assert f"{tmp_path / 'batch.tar.gz'}!feed/{files[12].name}" in sources

    direct = Store(tmp_path / "direct")
    ingest(files, direct, workers=1)
    assert store.accessions() == direct.accessions()
    archived, plain = snapshot(store), snapshot(direct)
    for name in ("owners", "transactions", "footnotes"):
        assert archived[name].equals(plain[name]), name


def test_archives_nested_in_directories_and_archives(tmp_path):
    files = sample(4)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        for path in files[:2]:
            archive.write(path, path.name)
    (tmp_path / "in" / "deep").mkdir(parents=True)
    with tarfile.open(tmp_path / "in" / "deep" / "outer.tgz", "w:gz") as archive:
        info = tarfile.TarInfo("inner.zip")
        info.size = len(inner.getvalue())
        archive.addfile(info, io.BytesIO(inner.getvalue()))
        for path in files[2:]:
            archive.add(path, path.name)
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "in"], store, workers=1)
    assert report.filings == 4 and report.archives == 2 and report.quarantined == []
    assert any("outer.tgz!inner.zip!" in s for s in store.scan("filings").collect()["source"])


def test_hostile_archive_members_are_refused_or_harmless(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs_module, "MAX_FILING_BYTES", 50_000)
    good = sample(2)
    with zipfile.ZipFile(tmp_path / "hostile.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.xml", b"<ownershipDocument>" + b" " * 10_000_000)
        archive.write(good[0], f"../../escape/{good[0].name}")
    with tarfile.open(tmp_path / "hostile.tar.gz", "w:gz") as archive:
        link = tarfile.TarInfo("link.xml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
        archive.add(good[1], good[1].name)
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "hostile.zip", tmp_path / "hostile.tar.gz"], store, workers=1)
    assert report.filings == 2
    assert [(q.source, q.reason) for q in report.quarantined] == [
        (
            f"{tmp_path / 'hostile.zip'}!bomb.xml",
            "cannot read archive member: ValueError: member of 10000019 "
            "bytes is too large to be an ownership filing",
        )
    ]
    assert f"{tmp_path / 'hostile.zip'}!../../escape/{good[0].name}" in set(
        store.scan("filings").collect()["source"]
    )
    assert not (tmp_path.parent / "escape").exists()


def test_a_truncated_tar_gz_keeps_the_members_before_the_damage(tmp_path):
    files = sample(40)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in files:
            archive.add(path, path.name)
    data = buffer.getvalue()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "cut.tar.gz"], store, workers=1)
    assert 0 < report.filings < 40
    whole = Store(tmp_path / "whole")
    ingest(files, whole, workers=1)
    assert store.accessions() < whole.accessions()
    damaged = [q for q in report.quarantined if q.source == str(tmp_path / "cut.tar.gz")]
    assert len(damaged) == 1 and damaged[0].reason.startswith("corrupt tar archive after ")
    kept = store.scan("quarantine").filter(pl.col("source") == str(tmp_path / "cut.tar.gz")).collect()
    assert kept["content"].to_list() == [data[: len(data) // 2]]


# bad input


def test_junk_is_quarantined_with_its_path_and_reason_and_never_loses_good_files(tmp_path):
    expected = junk_directory(tmp_path / "junk")
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "junk"], store, workers=1)

    assert report.filings == 6 and report.skipped == 1
    reasons = {Path(q.source).name: q.reason for q in report.quarantined}
    assert set(reasons) == set(expected)
    for name, fragment in expected.items():
        assert reasons[name].startswith(fragment), (name, reasons[name])
        assert "\n" not in reasons[name] and reasons[name]
    by_name = {Path(q.source).name: q for q in report.quarantined}
    assert by_name["0000000000-99-000001.xml"].accession == "0000000000-99-000001", "from the file name"
    assert by_name["0000000000-99-000002.txt"].accession == "0000011544-20-000013", "from the SGML header"

    stored = store.scan("quarantine").collect()
    assert sorted(stored["source"]) == sorted(str(tmp_path / "junk" / name) for name in expected)
    for row in stored.iter_rows(named=True):
        path = Path(row["source"])
        if path.name not in ("pipe.xml", "pipe.zip"):
            assert row["content"] == path.read_bytes()
            assert row["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()
    again = ingest([tmp_path / "junk"], store, workers=1)
    assert len(again.quarantined) == len(expected) and again.rows["quarantine"] == 0
    assert store.scan("quarantine").collect().height == len(expected)


def test_an_unreadable_directory_is_reported_and_the_rest_stored(tmp_path, monkeypatch):
    """A subdirectory that cannot be listed (permissions, removed mid-walk) is named, not skipped silently."""
    root = tmp_path / "in"
    for name, path in (("a", sample(1, seed=1)[0]), ("b", sample(1, seed=2)[0])):
        (root / name).mkdir(parents=True)
        shutil.copy(path, root / name / path.name)
    scandir = os.scandir

    def refuse(path="."):
        if Path(path) == root / "b":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    report = ingest([root], Store(tmp_path / "store"), workers=1)
    assert report.filings == 1
    [failed] = report.quarantined
    assert failed.source == str(root / "b") and "cannot read directory" in failed.reason
    assert "Permission denied" in failed.reason


def test_random_corruption_of_real_filings_never_stops_a_run(tmp_path):
    rng = random.Random(11)
    directory = tmp_path / "damaged"
    directory.mkdir()
    originals = sample(40, seed=3)
    for index, path in enumerate(originals):
        data = bytearray(path.read_bytes())
        if index % 2:
            cut = rng.randrange(len(data))
            data = data[:cut]
        else:
            for _ in range(20):
                data[rng.randrange(len(data))] = rng.randrange(256)
        (directory / path.name).write_bytes(bytes(data))
    store = Store(tmp_path / "store")
    report = ingest([directory], store, workers=1)
    assert report.files == 40
    assert report.filings + len(report.quarantined) == 40
    assert store.summary()["quarantine"] == len(report.quarantined)


def test_an_oversized_file_is_quarantined_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs_module, "MAX_FILING_BYTES", 100)
    big = tmp_path / "in" / "0000000000-99-000002.xml"
    big.parent.mkdir()
    big.write_bytes(b"<ownershipDocument>" + b" " * 200)
    report = ingest([big.parent], Store(tmp_path / "store"), workers=1)
    assert [(q.accession, q.reason) for q in report.quarantined] == [
        ("0000000000-99-000002", "file of 219 bytes is too large to be an ownership filing")
    ]


def test_a_file_named_explicitly_is_read_whatever_its_extension(tmp_path):
    renamed = tmp_path / "in" / "filing.dat"
    renamed.parent.mkdir()
    renamed.write_bytes(FILING_FILES[3].read_bytes())
    assert ingest([renamed], Store(tmp_path / "store"), workers=1).filings == 1
    walked = ingest([renamed.parent], Store(tmp_path / "other"), workers=1)
    assert (walked.filings, walked.skipped) == (0, 1)


def test_a_missing_path_is_a_user_error_naming_it_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match="no such file or directory: .*nowhere") as error:
        ingest([FILING_FILES[0], tmp_path / "nowhere"], Store(tmp_path / "store"))
    assert "fix:" in str(error.value)
    assert not (tmp_path / "store").exists()


def test_an_unwritable_store_is_a_user_error_before_parsing(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(ingest_module, "_parse_chunk", None)
    with pytest.raises(UserError, match="cannot write to the store"):
        ingest([FILING_FILES[0]], Store(tmp_path / "file" / "store"))


def test_chunks_and_batches_are_also_bounded_by_bytes(tmp_path, monkeypatch):
    files = sample(12)
    reference = Store(tmp_path / "reference")
    ingest(files, reference, workers=1)
    monkeypatch.setattr(ingest_module, "CHUNK_BYTES", 1)
    monkeypatch.setattr(ingest_module, "BATCH_BYTES", 1)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "corrupt.zip").write_bytes(b"not a zip")
    store = Store(tmp_path / "store")
    writes = []
    real_write = store.write
    monkeypatch.setattr(store, "write", lambda tables: writes.append(tables) or real_write(tables))
    chunks: list[int] = []
    report = ingest([*files, junk], store, workers=1, progress=chunks.append)
    assert chunks == [1] * 12
    assert len(writes) == 13 and report.filings == 12 and len(report.quarantined) == 1
    assert snapshot(store)["transactions"].equals(snapshot(reference)["transactions"])


def test_progress_is_reported_per_chunk(tmp_path):
    seen: list[int] = []
    ingest(sample(25), Store(tmp_path), workers=1, chunk_size=10, progress=seen.append)
    assert seen == [10, 10, 5]


def test_the_store_inside_an_input_directory_is_not_walked(tmp_path):
    shutil.copy(FILING_FILES[0], tmp_path / FILING_FILES[0].name)
    store = Store(tmp_path / "store")
    ingest([tmp_path], store, workers=1)
    again = ingest([tmp_path], store, workers=1)
    assert (again.files, again.skipped, again.duplicates) == (1, 0, 1)


def test_hidden_files_and_directories_are_not_walked(tmp_path):
    (tmp_path / "in" / ".git").mkdir(parents=True)
    (tmp_path / "in" / ".git" / "x.xml").write_bytes(b"junk")
    (tmp_path / "in" / ".hidden.xml").write_bytes(b"junk")
    (tmp_path / "in" / FILING_FILES[0].name).write_bytes(FILING_FILES[0].read_bytes())
    report = ingest([tmp_path / "in"], Store(tmp_path / "store"), workers=1)
    assert (report.files, report.filings, report.quarantined) == (1, 1, [])


NOT_UTF8 = os.fsdecode(b"\xff\xfe")
"""A name part whose bytes are not UTF-8: Python holds it as surrogates, Arrow and stdout refuse those."""


def test_names_that_are_not_utf8_never_stop_a_batch_and_are_stored_escaped(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    files = sample(3, seed=5)
    (root / f"{NOT_UTF8}{files[0].name}").write_bytes(files[0].read_bytes())
    (root / f"junk{NOT_UTF8}.xml").write_bytes(b"<note/>")
    with tarfile.open(root / f"feed{NOT_UTF8}.tar", "w") as archive:
        for path in files[1:]:
            archive.add(path, f"{NOT_UTF8}/{path.name}")
    store = Store(tmp_path / "store")
    report = ingest([root], store, workers=1)
    assert report.filings == 3
    assert [q.source for q in report.quarantined] == [f"{root}/junk\\xff\\xfe.xml"]
    assert store.scan("quarantine").collect()["source"].to_list() == [f"{root}/junk\\xff\\xfe.xml"]
    assert sorted(store.scan("filings").collect()["source"]) == sorted(
        [f"{root}/\\xff\\xfe{files[0].name}"]
        + [f"{root}/feed\\xff\\xfe.tar!\\xff\\xfe/{path.name}" for path in files[1:]]
    )
    assert store.accessions() == {accession_hint(path.name) for path in files}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("plain/0000011544-20-000013.txt", "plain/0000011544-20-000013.txt"),
        ("é.xml", "é.xml"),
        (f"a{NOT_UTF8}.xml", "a\\xff\\xfe.xml"),
        ("two\nlines\t.xml", "two\\nlines\\t.xml"),
    ],
)
def test_shown_names_are_printable_text(name, shown):
    assert inputs_module.shown_name(name) == shown


def test_links_inside_a_directory_are_counted_and_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.xml"
    secret.write_bytes(b"<secret>not for the store</secret>")
    shutil.copy(FILING_FILES[1], outside / FILING_FILES[1].name)
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(FILING_FILES[0], root / FILING_FILES[0].name)
    (root / "passwd.xml").symlink_to("/etc/passwd")
    (root / "secret.xml").symlink_to(secret)
    (root / "dangling.xml").symlink_to(root / "missing.xml")
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    (root / "feed.zip").symlink_to(outside / "feed.zip")
    store = Store(tmp_path / "store")
    report = ingest([root], store, workers=1)
    assert (report.filings, report.links, report.quarantined) == (1, 5, [])
    assert store.summary()["quarantine"] == 0
    named = ingest([root / "secret.xml"], store, workers=1)
    assert [q.source for q in named.quarantined] == [str(root / "secret.xml")], (
        "a link named as a root is read"
    )


def test_a_file_replaced_by_a_link_during_the_walk_is_not_followed(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "swapped.xml").symlink_to("/etc/passwd")
    report = IngestReport()
    failures = []
    assert list(inputs_module._file(root / "swapped.xml", report, failures.append, explicit=False)) == []
    assert [f.reason for f in failures] == ["not a regular file (a pipe, socket, device or link?)"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_archive_nested_deeper_than_the_limit_is_quarantined_whole(tmp_path):
    """outer.zip!level2.zip!level1.zip!level0.zip!f3: f3 is four archives deep, one more than the limit."""
    assert inputs_module.MAX_ARCHIVE_DEPTH == 3
    f0, f1, f2, f3 = sample(4, seed=9)
    level0 = _zip({f3.name: f3.read_bytes()})
    level1 = _zip({"level0.zip": level0, f2.name: f2.read_bytes()})
    level2 = _zip({"level1.zip": level1, f1.name: f1.read_bytes()})
    (tmp_path / "outer.zip").write_bytes(_zip({"level2.zip": level2, f0.name: f0.read_bytes()}))
    store = Store(tmp_path / "store")
    report = ingest([tmp_path / "outer.zip"], store, workers=1)
    assert (report.filings, report.archives, report.skipped) == (3, 3, 0)
    source = f"{tmp_path / 'outer.zip'}!level2.zip!level1.zip!level0.zip"
    assert [(q.source, q.reason) for q in report.quarantined] == [
        (source, "archive nested more than 3 deep: not opened, kept whole")
    ]
    kept = store.scan("quarantine").collect()
    assert kept.select("source", "content").rows() == [(source, level0)]


def test_invalid_and_implausible_values_are_stored_flagged_for_a_plain_query(tmp_path):
    xml = (FIXTURES / "0000320121-23-000040.xml").read_bytes()
    xml = xml.replace(b"<periodOfReport>2023-05-12<", b"<periodOfReport>2023-02-30<", 1)
    xml = xml.replace(b"<value>2023-05-12</value>", b"<value>2023-02-30</value>", 1)
    xml = xml.replace(b"<value>84603</value>", b"<value>1e308</value>", 1)
    xml = xml.replace(b"<value>2.36</value>", b"<value>1e308</value>", 1)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "0000320121-23-000040.xml").write_bytes(xml)
    ingest([tmp_path / "in"], Store(tmp_path / "store"), workers=1)
    trades = pl.scan_parquet(tmp_path / "store" / "transactions" / "**" / "*.parquet", hive_partitioning=True)
    [flagged] = trades.filter(pl.col("quality").list.len() > 0).collect().iter_rows(named=True)
    assert flagged["quality"] == [
        "transaction_date:invalid",
        "price:implausible",
        "shares:implausible",
        "value:implausible",
    ]
    assert (flagged["transaction_date"], flagged["shares"], flagged["price"]) == (None, 1e308, 1e308)
    filings = pl.scan_parquet(tmp_path / "store" / "filings" / "**" / "*.parquet", hive_partitioning=True)
    assert filings.select("quality").collect().item().to_list() == ["period_of_report:invalid"]


# one filing, one row


def stored_rows(store: Store) -> dict[str, int]:
    """Rows per table as a plain Parquet reader sees them."""
    return {
        name: pl.scan_parquet(store.root / name / "**" / "*.parquet", hive_partitioning=True)
        .select(pl.len())
        .collect()
        .item()
        for name in ("filings", "owners", "transactions", "footnotes")
    }


def one_filing_two_names(tmp_path: Path) -> tuple[Path, Path]:
    """A real bare-XML filing under its accession name and under an EDGAR primary-document name."""
    data = (FIXTURES / "0000320121-23-000040.xml").read_bytes()
    named, anonymous = tmp_path / "named", tmp_path / "anonymous"
    named.mkdir()
    anonymous.mkdir()
    (named / "0000320121-23-000040.xml").write_bytes(data)
    (anonymous / "wk-form4_1700000000.xml").write_bytes(data + b"\n")
    return named, anonymous


def test_the_same_xml_under_a_name_without_accession_is_stored_once(tmp_path):
    named, anonymous = one_filing_two_names(tmp_path)
    reference = Store(tmp_path / "reference")
    ingest([named], reference, workers=1)
    for order in ([named, anonymous], [anonymous, named]):
        store = Store(tmp_path / f"store-{order[0].name}")
        report = ingest(order, store, workers=1)
        assert (report.filings, report.duplicates, report.replaced) == (1, 1, 0)
        assert store.accessions() == {"0000320121-23-000040"}
        assert stored_rows(store) == stored_rows(reference)


def test_a_copy_without_accession_stored_first_is_replaced_by_the_one_with_it(tmp_path):
    named, anonymous = one_filing_two_names(tmp_path)
    store = Store(tmp_path / "store")
    first = ingest([anonymous], store, workers=1)
    assert first.filings == 1 and store.accessions() == {content_key(anonymous / "wk-form4_1700000000.xml")}
    second = ingest([named], store, workers=1)
    assert (second.filings, second.duplicates, second.replaced) == (1, 0, 1)
    assert store.accessions() == {"0000320121-23-000040"}
    reference = Store(tmp_path / "reference")
    ingest([named], reference, workers=1)
    assert stored_rows(store) == stored_rows(reference)
    assert_same_store(store, reference)
    again = ingest([anonymous, named], store, workers=1)
    assert (again.filings, again.duplicates, again.replaced) == (0, 2, 0)
    assert_same_store(store, reference)


def test_a_submission_and_its_bare_xml_are_one_filing(tmp_path):
    data = (FIXTURES / "0000011544-20-000013.txt").read_bytes()
    xml = data[data.index(b"<?xml") : data.index(b"</XML>")]
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "form4.xml").write_bytes(xml)
    store = Store(tmp_path / "store")
    ingest([tmp_path / "bare"], store, workers=1)
    report = ingest([FIXTURES / "0000011544-20-000013.txt"], store, workers=1)
    assert report.replaced == 1 and store.accessions() == {"0000011544-20-000013"}
    [filing] = store.scan("filings").collect().iter_rows(named=True)
    assert filing["filing_date"] is not None and filing["source"].endswith(".txt")


def test_two_accessions_with_the_same_xml_stay_two_filings(tmp_path):
    data = (FIXTURES / "0000320121-23-000040.xml").read_bytes()
    (tmp_path / "in").mkdir()
    for accession in ("0000320121-23-000040", "0000320121-23-000041"):
        (tmp_path / "in" / f"{accession}.xml").write_bytes(data)
    report = ingest([tmp_path / "in"], Store(tmp_path / "store"), workers=1)
    assert (report.filings, report.duplicates) == (2, 0)


def content_key(path: Path) -> str:
    return "sha1-" + hashlib.sha1(path.read_bytes()).hexdigest()[:12]
