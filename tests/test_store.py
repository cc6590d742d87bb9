"""The Parquet store: typed scans, idempotent batches, crash recovery and the writer lock."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.store.datasets as store_module
from engine.errors import UserError
from engine.store.datasets import LOCK, WRITER, AccessionIndex, Store
from parsers.schema import QUARANTINE_SCHEMA, STORE_TABLES

REPO = Path(__file__).resolve().parents[1]


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
def test_a_killed_writer_is_repaired_on_next_open(tmp_path, files_before_crash):
    """A process dies between two renames (no cleanup runs): the next open undoes the batch."""
    root = tmp_path / "store"
    Store(root).write(batch([100]))
    _crash_in_subprocess(root, files_before_crash)
    assert (root / store_module.JOURNAL).exists()
    visible = {
        name: pl.scan_parquet(root / name / "**" / "*.parquet").collect().height
        for name in ("owners", "filings")
    }
    assert visible["owners"] > batch([100])["owners"].num_rows, "the crash left child rows behind"
    if files_before_crash > CHILD_FILES:
        assert visible["filings"] == 1 + files_before_crash - CHILD_FILES, "and some filings rows"

    reopened = Store(root)
    assert not (root / store_module.JOURNAL).exists()
    assert reopened.accessions() == {"0000000001-20-000100"}
    for name in STORE_TABLES:
        assert set(reopened.scan(name).collect()["accession"].drop_nulls()) <= {"0000000001-20-000100"}, name

    reference = Store(tmp_path / "ref")
    reference.write(batch([100]))
    reference.write(batch(range(8)))
    assert reopened.write(batch(range(8))).filings == 8
    assert_same(contents(Store(root)), contents(reference))


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
