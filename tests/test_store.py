"""The Parquet store: typed scans, idempotent batches, crash recovery and the writer lock."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.store.datasets as store_module
from engine.errors import UserError
from engine.store.accessions import accession_keys as codec_keys
from engine.store.datasets import CHILD_TABLES, LOCK, WRITER, Store
from engine.store.indexes import AccessionIndex, ContentIndex, resolve
from parsers.accessions import CONTENT_KEY_PATTERN, is_accession
from parsers.schema import QUARANTINE_SCHEMA, STORE_TABLES
from parsers.tables import TableBuilder

REPO = Path(__file__).resolve().parents[1]
FILINGS = REPO / "tests" / "fixtures" / "filings"


def filing_rows(number: int) -> dict[str, list[dict]]:
    """The rows of one synthetic filing: accession derived from ``number``, 1-3 owners and transactions."""
    accession = f"0000000001-20-{number:06d}"
    year, month = 2018 + number % 4, 1 + number % 12
    filed = date(year, month, 1 + number % 28)
    part = {"filing_year": year, "filing_month": month}
    filings = [
        {
            "accession": accession,
            "document_type": "4",
            "issuer_cik": 1000 + number % 7,
            "ticker": "ABC",
            "insider_cik": 5000 + number,
            "n_owners": 1 + number % 3,
            "aff10b5one": number % 2 == 0,
            "signatures": [{"name": "A. Person", "date": filed}],
            "filing_date": filed,
            "accepted_at": datetime(year, month, filed.day, 17, 30),
            "available_date": filed,
            "source": f"{accession}.txt",
            **part,
        }
    ]
    owners = [
        {"accession": accession, "owner_index": i, "owner_cik": 5000 + number + i, "role": "director", **part}
        for i in range(1 + number % 3)
    ]
    transactions = [
        {
            "accession": accession,
            "row_index": i,
            "document_type": "4",
            "is_derivative": i == 2,
            "transaction_code": "PS"[i % 2],
            "shares": 100.0 * (i + 1),
            "price": None if i == 1 else 9.5,
            "footnote_ids": ["F1"] if i == 0 else [],
            "filing_date": filed,
            **part,
        }
        for i in range(1 + number % 3)
    ]
    footnotes = [{"accession": accession, "footnote_id": "F1", "text": f"footnote {number}", **part}]
    return {"filings": filings, "owners": owners, "transactions": transactions, "footnotes": footnotes}


def quarantine_row(source: str, content: bytes) -> dict:
    return {
        "source": source,
        "accession": None,
        "reason": "not an ownership document",
        "sha1": hashlib.sha1(content).hexdigest(),
        "size": len(content),
        "content": content,
        "quarantined_at": datetime(2026, 1, 2, tzinfo=UTC),
        "filing_year": 2026,
        "filing_month": 1,
    }


def batch(numbers, quarantined=()) -> dict[str, pa.Table]:
    """A batch in the form ``TableBuilder.build()`` returns it."""
    rows: dict[str, list[dict]] = {name: [] for name in STORE_TABLES}
    for number in numbers:
        for name, table_rows in filing_rows(number).items():
            rows[name].extend(table_rows)
    rows["quarantine"] = [quarantine_row(source, content) for source, content in quarantined]
    return {name: pa.Table.from_pylist(rows[name], schema=STORE_TABLES[name]) for name in STORE_TABLES}


def contents(store: Store) -> dict[str, pl.DataFrame]:
    """Every dataset, rows sorted so that frames compare regardless of file order."""
    return {
        name: store.scan(name).collect().sort(pl.all()) for name in STORE_TABLES if name != "quarantine"
    } | {"quarantine": store.scan("quarantine").collect().sort("source", "sha1")}


def parquet_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def assert_same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in STORE_TABLES:
        assert a[name].equals(b[name]), name


# reading


def test_empty_store_scans_as_empty_frames_of_the_schema(tmp_path):
    store = Store(tmp_path / "missing")
    for name, schema in STORE_TABLES.items():
        frame = store.scan(name).collect()
        assert frame.height == 0
        assert frame.schema == pl.from_arrow(schema.empty_table()).schema
    assert store.accessions() == set()
    assert store.last_filing_date() is None
    assert store.summary() == dict.fromkeys(STORE_TABLES, 0)
    assert not (tmp_path / "missing").exists()


def test_unknown_table_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown store table 'trades'"):
        Store(tmp_path).scan("trades")


def test_the_store_names_the_directory_of_every_dataset(tmp_path):
    store = Store(tmp_path)
    for name in (*STORE_TABLES, *store_module.SIDE_DATASETS):
        assert store.dataset_dir(name) == tmp_path / name
    with pytest.raises(ValueError, match="unknown store dataset 'trades'"):
        store.dataset_dir("trades")


def test_an_existing_store_needs_its_table(tmp_path):
    with pytest.raises(UserError, match="no transactions/ directory"):
        Store.existing(tmp_path, holding="transactions")
    Store(tmp_path).write(batch(range(2)))
    assert Store.existing(tmp_path).root == tmp_path


def test_write_then_scan_round_trips_every_table_typed_per_schema(tmp_path):
    store = Store(tmp_path)
    written = batch(range(10), quarantined=[("junk.xml", b"<html/>")])
    result = store.write(written)
    assert result.filings == 10 and result.duplicates == 0 and result.quarantined == 1
    assert result.rows == {name: written[name].num_rows for name in STORE_TABLES}
    for name, schema in STORE_TABLES.items():
        frame = store.scan(name).collect()
        assert frame.schema == pl.from_arrow(schema.empty_table()).schema
        assert frame.schema["filing_year"] == pl.Int16 and frame.schema["filing_month"] == pl.Int8
        expected = pl.from_arrow(written[name])
        keys = ["source"] if name == "quarantine" else [c for c in expected.columns if c != "signatures"]
        assert frame.sort(keys).equals(expected.sort(keys)), name
    assert store.accessions() == {f"0000000001-20-{n:06d}" for n in range(10)}
    assert store.last_filing_date() == max(
        r["filing_date"] for n in range(10) for r in filing_rows(n)["filings"]
    )
    assert store.summary()["transactions"] == written["transactions"].num_rows


def test_files_are_hive_partitioned_without_partition_columns_inside(tmp_path):
    Store(tmp_path).write(batch([5]))
    files = parquet_files(tmp_path)
    assert [f.rsplit("/part-", 1)[0] for f in files] == [
        f"{name}/filing_year=2019/filing_month=6" for name in sorted(STORE_TABLES) if name != "quarantine"
    ]
    names = pq.read_schema(tmp_path / files[0]).names
    assert "filing_year" not in names and "accession" in names


def test_files_from_an_older_or_newer_schema_scan_per_the_current_one(tmp_path):
    Store(tmp_path).write(batch([5, 6]))
    file = next((tmp_path / "owners").rglob("*.parquet"))
    table = pq.read_table(file)
    older = table.drop_columns(["role"]).append_column("retired", pa.array([1] * table.num_rows, pa.int8()))
    pq.write_table(older, file)
    frame = Store(tmp_path).scan("owners").collect()
    assert frame.schema == pl.from_arrow(STORE_TABLES["owners"].empty_table()).schema
    assert frame.filter(pl.col("role").is_null()).height == older.num_rows


def test_readers_ignore_temp_files_and_the_next_open_removes_them(tmp_path):
    reader = Store(tmp_path)
    reader.write(batch([1]))
    partition = next((tmp_path / "filings").rglob("*.parquet")).parent
    temp = partition / "part-deadbeef.parquet.tmp"
    temp.write_bytes(b"half a parquet file")
    assert reader.scan("filings").collect().height == 1
    assert Store(tmp_path).scan("filings").collect().height == 1
    assert not temp.exists()


def test_opening_a_store_removes_only_its_own_temp_files(tmp_path):
    """A store opened at a directory that holds other files (--store pointed at a home or project
    directory) must not delete the user's ``*.tmp`` files: only those its own writes leave."""
    theirs = [
        tmp_path / "draft.tmp",
        tmp_path / "work" / "notes.txt.tmp",
        tmp_path / "work" / "deep" / "x.tmp",
    ]
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"the user's")
    Store(tmp_path).write(batch([1]))
    ours = [
        next((tmp_path / "filings").rglob("*.parquet")).parent / ".part-0123.parquet.tmp",
        tmp_path / "_watch" / "state.json.tmp",
        tmp_path / "_journal.json.tmp",
        tmp_path / ".writer.tmp",
    ]
    for path in ours:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left by a killed write")
    assert Store(tmp_path).scan("filings").collect().height == 1
    assert [path.exists() for path in ours] == [False] * len(ours)
    assert all(path.read_bytes() == b"the user's" for path in theirs)


# idempotence


def test_the_same_batch_twice_is_stored_once(tmp_path):
    store = Store(tmp_path)
    store.write(batch(range(20), quarantined=[("a.xml", b"x")]))
    before, files = contents(store), parquet_files(tmp_path)
    again = store.write(batch(range(20), quarantined=[("a.xml", b"x")]))
    assert again.filings == 0 and again.duplicates == 20 and again.files == 0
    assert again.quarantined == 0 and again.quarantine_duplicates == 1
    assert parquet_files(tmp_path) == files
    assert_same(contents(store), before)


def test_duplicates_are_found_by_a_new_store_instance(tmp_path):
    Store(tmp_path).write(batch(range(5)))
    result = Store(tmp_path).write(batch(range(3, 8)))
    assert (result.filings, result.duplicates) == (3, 2)
    assert Store(tmp_path).scan("filings").collect()["accession"].is_unique().all()


def test_quarantine_is_kept_per_source_and_content(tmp_path):
    store = Store(tmp_path)
    first = store.write(
        batch([], quarantined=[("a.xml", b"1"), ("a.xml", b"1"), ("a.xml", b"2"), ("b.xml", b"1")])
    )
    assert (first.quarantined, first.quarantine_duplicates) == (3, 1)
    second = Store(tmp_path).write(batch([], quarantined=[("b.xml", b"1"), ("c.xml", b"1")]))
    assert (second.quarantined, second.quarantine_duplicates) == (1, 1)
    assert store.scan("quarantine").collect().height == 4


def test_a_batch_is_written_to_reproducible_file_names(tmp_path):
    Store(tmp_path / "a").write(batch([3, 1, 2]))
    Store(tmp_path / "b").write(batch([2, 3, 1]))
    assert parquet_files(tmp_path / "a") == parquet_files(tmp_path / "b")
    for name in parquet_files(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    numbers=st.lists(st.integers(0, 60), min_size=1, max_size=25, unique=True),
    cuts=st.lists(st.integers(0, 25), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_any_batching_and_order_gives_the_same_rows_and_twice_changes_nothing(numbers, cuts, order):
    bounds = sorted({0, len(numbers), *(c for c in cuts if c < len(numbers))})
    batches = [numbers[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    order.shuffle(batches)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        reference = Store(one)
        reference.write(batch(sorted(numbers)))
        store = Store(many)
        for part in batches:
            store.write(batch(part))
        assert_same(contents(store), contents(reference))
        files = parquet_files(Path(many))
        for part in batches:
            assert store.write(batch(part)).filings == 0
        assert Store(many).write(batch(numbers)).duplicates == len(numbers)
        assert parquet_files(Path(many)) == files
        assert_same(contents(Store(many)), contents(reference))


# validation


def test_a_batch_must_match_the_schemas(tmp_path):
    store = Store(tmp_path)
    tables = batch([1])
    with pytest.raises(ValueError, match="unknown store tables"):
        store.write({**tables, "trades": tables["filings"]})
    with pytest.raises(ValueError, match="'owners' does not match its schema"):
        store.write({**tables, "owners": tables["owners"].drop_columns(["role"])})
    doubled = batch([1, 1])
    with pytest.raises(ValueError, match="more than once"):
        store.write(doubled)
    orphan = batch([1, 2])
    with pytest.raises(ValueError, match="owners: rows of accessions with no filings row"):
        store.write({**orphan, "filings": batch([1])["filings"]})
    assert parquet_files(tmp_path) == []


def test_missing_tables_are_empty(tmp_path):
    store = Store(tmp_path)
    result = store.write({"filings": batch([4])["filings"]})
    assert result.filings == 1 and store.scan("owners").collect().height == 0


# crash safety


def _crash_after(count: int, monkeypatch) -> None:
    """Every file written after the first ``count`` fails (files are written on several threads)."""
    real = store_module.write_parquet_temp
    written = []
    lock = threading.Lock()

    def failing(path, table):
        with lock:
            if len(written) >= count:
                raise OSError("disk on fire")
            written.append(path)
        return real(path, table)

    monkeypatch.setattr(store_module, "write_parquet_temp", failing)


CHILD_FILES = 24
"""Files of the child tables for ``batch(range(8))``: 3 tables x 8 partitions, written before filings."""


@pytest.mark.parametrize("files_before_crash", [0, 1, 6, CHILD_FILES + 3])
def test_a_failed_write_leaves_nothing_and_retry_stores_each_row_once(
    tmp_path, monkeypatch, files_before_crash
):
    Store(tmp_path).write(batch([100]))
    reference = Store(tmp_path / "ref")
    reference.write(batch([100]))
    reference.write(batch(range(8)))
    store = Store(tmp_path)
    _crash_after(files_before_crash, monkeypatch)
    with pytest.raises(OSError, match="disk on fire"):
        store.write(batch(range(8)))
    monkeypatch.undo()
    before = Store(tmp_path / "before")
    before.write(batch([100]))
    assert not (tmp_path / store_module.JOURNAL).exists()
    assert store.accessions() == {"0000000001-20-000100"}
    assert_same(contents(store), contents(before))
    assert store.write(batch(range(8))).filings == 8
    assert_same(contents(Store(tmp_path)), contents(reference))


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    sys.path[:0] = [{repo!r}, {tests!r}]
    import engine.store.datasets as store_module
    from test_store import batch
    real, renamed = os.replace, []
    def crash(source, target):
        if str(target).endswith(".parquet"):
            if len(renamed) == {count}:
                os._exit(9)
            renamed.append(target)
        real(source, target)
    os.replace = crash
    store_module.Store({root!r}).write(batch(range(8)))
    """
)


def _crash_in_subprocess(root: Path, count: int) -> None:
    script = CRASHING_WRITER.format(repo=str(REPO), tests=str(REPO / "tests"), root=str(root), count=count)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9


@pytest.mark.slow
@pytest.mark.parametrize("files_before_crash", [2, CHILD_FILES + 3])
def test_a_writer_killed_while_publishing_is_finished_on_next_open(tmp_path, files_before_crash):
    """A process dies between two renames of the publish step (no cleanup runs): a plain reader sees
    part of the batch until the next open, which publishes the rest."""
    root = tmp_path / "store"
    Store(root).write(batch([100]))
    _crash_in_subprocess(root, files_before_crash)
    assert (root / store_module.JOURNAL).exists()
    visible = pl.scan_parquet(root / "owners" / "**" / "*.parquet").collect().height
    assert visible > batch([100])["owners"].num_rows, "the crash left part of the batch published"

    reopened = Store(root)
    assert not (root / store_module.JOURNAL).exists() and not list(root.rglob("*.tmp"))
    reference = Store(tmp_path / "ref")
    reference.write(batch([100]))
    reference.write(batch(range(8)))
    assert_same(contents(reopened), contents(reference))
    assert reopened.write(batch(range(8))).duplicates == 8


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}, {tests!r}]
    import engine.store.datasets as store_module
    from test_store import batch
    real, written = store_module.write_parquet_temp, []
    def stall(path, table):
        temp = real(path, table)
        written.append(temp)
        if len(written) == {count}:
            print("written", flush=True)
            time.sleep(600)
        return temp
    store_module.write_parquet_temp = stall
    store_module.Store({root!r}).write(batch(range(8)))
    """
)


def plain_read(root: Path, name: str) -> pl.DataFrame:
    """A dataset as a reader that knows nothing of the store reads it: the README's glob, and pyarrow's
    directory discovery."""
    globbed = pl.scan_parquet(root / name / "**" / "*.parquet", hive_partitioning=True).collect()
    discovered = pl.from_arrow(ds.dataset(root / name, format="parquet", partitioning="hive").to_table())
    assert sorted(globbed["accession"]) == sorted(discovered["accession"])
    return globbed


@pytest.mark.slow
@pytest.mark.parametrize("files_before_kill", [3, CHILD_FILES + 2])
def test_a_batch_killed_mid_write_is_never_seen_by_a_plain_reader(tmp_path, files_before_kill):
    """SIGKILL while the batch's files are written: plain Parquet readers see the store as before it."""
    root = tmp_path / "store"
    Store(root).write(batch([100]))
    before = {name: plain_read(root, name).sort("accession") for name in CHILD_TABLES + ("filings",)}
    script = KILLED_WRITER.format(
        repo=str(REPO), tests=str(REPO / "tests"), root=str(root), count=files_before_kill
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "written\n"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert (root / store_module.JOURNAL).exists(), "killed mid-batch"
    for name, frame in before.items():
        assert plain_read(root, name).sort("accession").equals(frame), name

    reopened = Store(root)
    assert not (root / store_module.JOURNAL).exists() and not list(root.rglob("*.tmp"))
    assert reopened.write(batch(range(8))).filings == 8
    reference = Store(tmp_path / "ref")
    reference.write(batch([100]))
    reference.write(batch(range(8)))
    assert_same(contents(reopened), contents(reference))


def test_a_crash_after_the_last_file_keeps_the_complete_batch(tmp_path, monkeypatch):
    store = Store(tmp_path)
    real_unlink = Path.unlink

    def crash_on_journal(self, missing_ok=False):
        if self.name == store_module.JOURNAL:
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_journal)
    with pytest.raises(KeyboardInterrupt):
        store.write(batch(range(4)))
    monkeypatch.undo()
    assert (tmp_path / store_module.JOURNAL).exists()
    reopened = Store(tmp_path)
    assert not (tmp_path / store_module.JOURNAL).exists()
    assert len(reopened.accessions()) == 4
    assert reopened.write(batch(range(4))).duplicates == 4


# one filing, one row: a copy with an accession replaces a stored copy without one

NAMED = "0000320121-23-000040"


def replacement_batches() -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """A filing stored without its accession next to another filing of the same partition, then the
    same XML with its accession."""
    data = (FILINGS / f"{NAMED}.xml").read_bytes()
    now = datetime(2026, 1, 2, tzinfo=UTC)
    first = TableBuilder(now)
    first.add(data, source="wk-form4_1700000000.xml", filing_date=date(2023, 5, 15))
    other = (FILINGS / "0000002488-24-000005.xml").read_bytes()
    first.add(other, source="other.xml", accession="0000002488-24-000005", filing_date=date(2023, 5, 16))
    second = TableBuilder(now)
    second.add(data, source=f"{NAMED}.xml", accession=NAMED, filing_date=date(2023, 5, 15))
    return first.build(), second.build()


def replaced_reference(root: Path) -> Store:
    """The store as if the accession had been known from the start."""
    first, second = replacement_batches()
    keep = pa.array(["0000002488-24-000005"])
    reference = Store(root)
    reference.write({name: t.filter(pc.is_in(t.column("accession"), keep)) for name, t in first.items()})
    reference.write(second)
    return reference


def test_a_copy_with_an_accession_replaces_the_stored_copy_without(tmp_path):
    first, second = replacement_batches()
    store = Store(tmp_path / "store")
    store.write(first)
    anonymous = sorted(store.accessions() - {"0000002488-24-000005"})
    assert anonymous[0].startswith("sha1-")
    result = store.write(second)
    assert (result.filings, result.replaced, result.duplicates) == (1, 1, 0)
    assert store.accessions() == {"0000002488-24-000005", NAMED}
    for name in ("filings", "owners", "transactions", "footnotes"):
        plain = pl.scan_parquet(tmp_path / "store" / name / "**" / "*.parquet", hive_partitioning=True)
        assert anonymous[0] not in set(plain.collect()["accession"]), name
    assert_same(contents(Store(tmp_path / "store")), contents(replaced_reference(tmp_path / "ref")))
    assert store.write(first).duplicates == 2, "the copy without accession now counts as a duplicate"


@pytest.mark.parametrize("files_before_crash", [0, 3])
def test_a_failed_replacement_keeps_the_copy_and_a_retry_replaces_it(
    tmp_path, monkeypatch, files_before_crash
):
    first, second = replacement_batches()
    store = Store(tmp_path / "store")
    store.write(first)
    before = contents(store)
    _crash_after(files_before_crash, monkeypatch)
    with pytest.raises(OSError, match="disk on fire"):
        store.write(second)
    monkeypatch.undo()
    assert_same(contents(Store(tmp_path / "store")), before)
    assert store.write(second).replaced == 1
    assert_same(contents(Store(tmp_path / "store")), contents(replaced_reference(tmp_path / "ref")))


REPLACING_WRITER = textwrap.dedent(
    """
    import os, sys
    sys.path[:0] = [{repo!r}, {tests!r}]
    import engine.store.datasets as store_module
    from test_store import replacement_batches
    first, second = replacement_batches()
    store = store_module.Store({root!r})
    store.write(first)
    real = os.unlink
    def crash(path, *args, **kwargs):
        if str(path).endswith(".parquet"):
            os._exit(9)
        real(path, *args, **kwargs)
    os.unlink = crash
    store.write(second)
    """
)


@pytest.mark.slow
def test_a_writer_killed_before_removing_replaced_rows_is_finished_on_next_open(tmp_path):
    root = tmp_path / "store"
    script = REPLACING_WRITER.format(repo=str(REPO), tests=str(REPO / "tests"), root=str(root))
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert (root / store_module.JOURNAL).exists()
    reopened = Store(root)
    assert not (root / store_module.JOURNAL).exists()
    assert_same(contents(reopened), contents(replaced_reference(tmp_path / "ref")))


# the writer lock


LOCK_HOLDER = textwrap.dedent(
    """
    import os, sys
    from filelock import FileLock
    lock = FileLock({lock!r})
    lock.acquire()
    with open({writer!r}, "w") as record:
        record.write("7 %d" % os.getpid())
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def test_a_writer_waits_for_the_lock_then_names_the_holder(tmp_path):
    Store(tmp_path).write(batch([1]))
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER.format(lock=str(tmp_path / LOCK), writer=str(tmp_path / WRITER))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            UserError, match=f"being written by another process \\(pid {holder.pid}\\)"
        ) as error:
            Store(tmp_path, lock_timeout=0.3).write(batch([2]))
        assert "fix:" in str(error.value)
        assert Store(tmp_path).scan("filings").collect().height == 1
    finally:
        holder.communicate("")
    assert Store(tmp_path, lock_timeout=0.3).write(batch([2])).filings == 1


CONCURRENT_WRITER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{repo!r}, {tests!r}]
    from engine.store.datasets import Store
    from test_store import batch
    store = Store({root!r})
    for start in range(0, 40, 4):
        store.write(batch(range({offset} + start, {offset} + start + 6)))
    """
)


@pytest.mark.slow
def test_two_processes_writing_overlapping_batches_store_each_filing_once(tmp_path):
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT_WRITER.format(
                    repo=str(REPO), tests=str(REPO / "tests"), root=str(tmp_path), offset=offset
                ),
            ]
        )
        for offset in (0, 2)
    ]
    assert [w.wait() for w in writers] == [0, 0]
    reference = Store(tmp_path / "ref")
    reference.write(batch(range(0, 44)))
    assert_same(contents(Store(tmp_path)), contents(reference))


def test_an_instance_sees_writes_made_by_another_instance(tmp_path):
    first, second = Store(tmp_path), Store(tmp_path)
    first.write(batch([1]))
    second.write(batch([2]))
    assert first.accessions() == second.accessions() == {"0000000001-20-000001", "0000000001-20-000002"}
    assert first.write(batch([1, 2, 3])).duplicates == 2


def test_an_unwritable_store_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match=f"cannot write to the store {blocker / 'store'}") as error:
        Store(blocker / "store").write(batch([1]))
    assert "--store" in str(error.value)


def test_quarantine_schema_rows_only_need_source_and_sha1(tmp_path):
    row = quarantine_row("x.txt", b"abc") | {"sha1": None, "content": None, "size": None}
    table = pa.Table.from_pylist([row, row], schema=QUARANTINE_SCHEMA)
    result = Store(tmp_path).write({"quarantine": table})
    assert (result.quarantined, result.quarantine_duplicates) == (1, 1)


# the accession index

accession_keys = st.one_of(
    st.tuples(st.integers(0, 10**10 - 1), st.integers(0, 99), st.integers(0, 10**6 - 1)).map(
        lambda t: f"{t[0]:010d}-{t[1]:02d}-{t[2]:06d}"
    ),
    st.text("0123456789abcdef-", max_size=20).map(lambda s: "sha1-" + s),
    st.text(max_size=8),
)


@given(
    stored=st.lists(accession_keys, unique=True, max_size=40),
    added=st.lists(accession_keys, unique=True, max_size=20),
    asked=st.lists(accession_keys, max_size=40),
)
def test_the_accession_index_behaves_as_a_set(stored, added, asked):
    index = AccessionIndex(pl.Series(stored, dtype=pl.String))
    reference = set(stored)
    new = index.missing(added)
    assert new == [a for a in added if a not in reference]
    index.add(new)
    reference.update(new)
    assert len(index) == len(reference)
    probe = asked + stored + added
    assert index.missing(probe) == [a for a in probe if a not in reference]


# the accession codec

odd_accessions = st.one_of(
    accession_keys,
    st.text("0123456789-+ ", min_size=18, max_size=21),
    st.text("0123456789abcdefABCDEF-+ ", min_size=10, max_size=13).map(lambda s: "sha1-" + s),
)


@given(st.lists(odd_accessions, unique=True, max_size=40))
def test_the_codec_keys_exactly_the_two_forms_each_its_own_key_in_text_order(accessions):
    keys = codec_keys(pl.Series(accessions, dtype=pl.String)).to_list()
    for accession, key in zip(accessions, keys, strict=True):
        well_formed = is_accession(accession) or re.fullmatch(CONTENT_KEY_PATTERN, accession) is not None
        assert (key is not None) == well_formed, accession
    numbered = sorted((a, k) for a, k in zip(accessions, keys, strict=True) if k is not None and k >= 0)
    assert [k for _, k in numbered] == sorted(k for _, k in numbered)
    keyed = [k for k in keys if k is not None]
    assert len(set(keyed)) == len(keyed)


def test_the_scores_keys_and_the_store_index_no_longer_drift():
    """The score's encoder once keyed ``-000000001-20-000001`` and ``+000000001-20-000001`` as
    ``0000000001-20-000001``, ``sha1--12345678901`` as the number ``0000012509-99-896320`` and an
    upper-case content key as its lower-case twin, while the store's index left all of those unpacked;
    both now call one codec, which keys neither of them."""
    accessions = [
        "0000000001-20-000001",
        "-000000001-20-000001",
        "+000000001-20-000001",
        "0000012509-99-896320",
        "sha1--12345678901",
        "sha1-abcdef012345",
        "sha1-ABCDEF012345",
    ]
    keys = codec_keys(pl.Series(accessions, dtype=pl.String)).to_list()
    assert keys == [120000001, None, None, 1250999896320, None, -1 - 0xABCDEF012345, None]
    index = AccessionIndex(pl.Series(accessions[::2], dtype=pl.String))
    assert index.missing(accessions) == accessions[1::2]


H, G = "a" * 64, "b" * 64
K, K2 = "sha1-aaaaaaaaaaaa", "sha1-bbbbbbbbbbbb"
A, B = "0000000001-20-000001", "0000000001-20-000002"


@pytest.mark.parametrize(
    ("stored", "batch", "drop", "replace"),
    [
        ([], [(K, H), (A, H)], {K}, {}),
        ([], [(A, H), (K, H)], {K}, {}),
        ([], [(K, H), (K2, H)], {K2}, {}),
        ([], [(A, H), (B, H)], set(), {}),
        ([], [(K, H), (A, G)], set(), {}),
        ([(K, H)], [(A, H)], set(), {K: (2023, 5)}),
        ([(K, H)], [(K2, H), (A, H)], {K2}, {K: (2023, 5)}),
        ([(A, H)], [(K, H)], {K}, {}),
        ([(A, H)], [(B, H)], set(), {}),
    ],
)
def test_content_rules(stored, batch, drop, replace):
    """One filing, one row (engine.store.indexes): what a batch drops and replaces, by content hash."""
    rows = [{"accession": a, "xml_sha256": h, "filing_year": 2023, "filing_month": 5} for a, h in stored]
    frame = pl.DataFrame(
        rows,
        schema={
            "accession": pl.String,
            "xml_sha256": pl.String,
            "filing_year": pl.Int16,
            "filing_month": pl.Int8,
        },
    )
    resolution = resolve(batch, ContentIndex(frame.lazy))
    assert (resolution.drop, resolution.replace) == (drop, replace)
