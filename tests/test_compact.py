"""Compaction (``engine.store.compaction``, ``insider compact``): rows kept and sorted, one file per
partition, idempotent, automatic past the threshold, atomic under kill -9, and never half-seen by a reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_store import assert_same, batch, contents, plain_read

import engine.store.compaction as compaction
from engine.cli.main import main
from engine.errors import UserError
from engine.store.datasets import JOURNAL, Store
from parsers.schema import STORE_TABLES

REPO = Path(__file__).resolve().parents[1]
DATA_TABLES = ("filings", "owners", "transactions", "footnotes")
WRITES = 6
"""Batches written before compacting: each adds one file to each of the 12 month partitions."""


def filled(root: Path, writes: int = WRITES, threshold: int = 0) -> Store:
    """A store written in ``writes`` batches of 12 filings (one per month partition), plus quarantine."""
    store = Store(root, compact_threshold=threshold)
    for i in range(writes):
        store.write(batch(range(12 * i, 12 * i + 12), quarantined=[(f"bad{i}.xml", b"x%d" % i)]))
    return store


def files_per_partition(root: Path, name: str) -> dict[Path, int]:
    counts: dict[Path, int] = {}
    for path in (root / name).rglob("*.parquet"):
        counts[path.parent] = counts.get(path.parent, 0) + 1
    return counts


def plain_rows(root: Path) -> dict[str, list[str]]:
    """What a reader that knows nothing of the store sees: every accession of every data table."""
    return {name: sorted(plain_read(root, name)["accession"].to_list()) for name in DATA_TABLES}


def test_compaction_keeps_every_row_in_one_sorted_file_per_partition(tmp_path):
    store = filled(tmp_path)
    before = contents(store)
    footprint = store.footprint()
    assert footprint["owners"].files == 12 * WRITES

    report = store.compact()

    assert_same(contents(Store(tmp_path)), before)
    assert report.before == footprint and report.after == store.footprint()
    assert report.partitions == {name: 12 for name in DATA_TABLES} | {"quarantine": 1}
    for name in STORE_TABLES:
        assert set(files_per_partition(tmp_path, name).values()) == {1}, name
        keys = list(compaction.SORT_KEYS[name])
        for path in (tmp_path / name).rglob("*.parquet"):
            rows = pl.read_parquet(path, hive_partitioning=False)
            assert rows.equals(rows.sort(keys, nulls_last=True)), path
    assert not (tmp_path / compaction.STAGING_DIR).exists()
    assert any(line.startswith("owners: 12 partitions compacted, files 72 -> 12") for line in report.lines())


def test_compacting_twice_changes_nothing(tmp_path):
    store = filled(tmp_path)
    store.compact()
    files = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*.parquet"))
    again = store.compact()
    assert again.partitions == {} and again.before == again.after
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*.parquet")) == files


def test_one_table_is_compacted_alone(tmp_path):
    store = filled(tmp_path)
    report = store.compact("owners")
    assert list(report.before) == ["owners"] and report.partitions == {"owners": 12}
    assert set(files_per_partition(tmp_path, "owners").values()) == {1}
    assert set(files_per_partition(tmp_path, "filings").values()) == {WRITES}
    with pytest.raises(ValueError, match="unknown store table"):
        store.compact("prices")


def test_files_of_an_older_schema_are_compacted_to_the_current_one(tmp_path):
    store = filled(tmp_path, writes=2)
    file = sorted((tmp_path / "owners").rglob("*.parquet"))[0]
    table = pq.read_table(file)
    pq.write_table(table.drop_columns(["role"]), file)
    before = contents(Store(tmp_path))
    store.compact()
    assert pq.read_schema(next(file.parent.glob("*.parquet"))).names == [
        f.name for f in STORE_TABLES["owners"] if f.name not in ("filing_year", "filing_month")
    ]
    assert_same(contents(Store(tmp_path)), before)


def in_month(numbers: range, year: int, month: int) -> dict[str, pa.Table]:
    """``batch(numbers)`` with every row in one partition."""
    tables = {}
    for name, table in batch(numbers).items():
        for column, value in (("filing_year", year), ("filing_month", month)):
            at = table.schema.get_field_index(column)
            values = pa.array([value] * table.num_rows, table.schema.field(column).type)
            table = table.set_column(at, column, values)
        tables[name] = table
    return tables


def test_a_write_compacts_a_partition_it_leaves_with_more_files_than_the_threshold(tmp_path):
    store = Store(tmp_path, compact_threshold=3)
    results = [store.write(in_month(range(10 * i, 10 * i + 10), 2024, 5)) for i in range(5)]
    assert [result.compacted for result in results] == [0, 0, 0, 4, 0]  # one partition in 4 tables
    assert set(files_per_partition(tmp_path, "owners").values()) == {2}


@pytest.mark.parametrize(("month", "after"), [((2024, 5), (2024, 6)), ((2023, 12), (2024, 1))])
def test_the_first_write_into_a_month_compacts_the_month_before(tmp_path, month, after):
    """Daily writes move on: the month they left is compacted to one file, whatever the threshold."""
    store = Store(tmp_path, compact_threshold=8)
    for i in range(3):
        store.write(in_month(range(10 * i, 10 * i + 10), *month))
    result = store.write(in_month(range(30, 40), *after))
    assert result.compacted == 4
    assert sorted(files_per_partition(tmp_path, "transactions").values()) == [1, 1]
    assert store.write(in_month(range(40, 50), *after)).compacted == 0


def test_daily_writes_keep_the_rows_of_writes_never_compacted(tmp_path):
    reference = filled(tmp_path / "reference")
    store = Store(tmp_path / "auto", compact_threshold=3)
    for i in range(WRITES + 2):
        store.write(batch(range(12 * i, 12 * i + 12)))
        for name in DATA_TABLES:
            assert max(files_per_partition(store.root, name).values()) <= 3
    reference.write(batch(range(12 * WRITES, 12 * WRITES + 24)))
    ours, theirs = contents(store), contents(reference)
    for name in DATA_TABLES:
        assert ours[name].equals(theirs[name]), name


def test_the_threshold_comes_from_the_environment_and_zero_turns_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv(compaction.THRESHOLD_ENV, "2")
    assert Store(tmp_path).compact_threshold == 2
    assert Store(tmp_path, compact_threshold=5).compact_threshold == 5
    monkeypatch.setenv(compaction.THRESHOLD_ENV, "0")
    store = filled(tmp_path / "off", threshold=Store(tmp_path).compact_threshold)
    assert set(files_per_partition(store.root, "filings").values()) == {WRITES}
    monkeypatch.setenv(compaction.THRESHOLD_ENV, "many")
    with pytest.raises(UserError, match="INSIDER_COMPACT_THRESHOLD is 'many'"):
        Store(tmp_path)
    monkeypatch.delenv(compaction.THRESHOLD_ENV)
    assert Store(tmp_path).compact_threshold == compaction.DEFAULT_THRESHOLD


def test_insider_compact_prints_files_and_bytes_before_and_after(tmp_path, capsys):
    filled(tmp_path)
    assert main(["compact", "--store", str(tmp_path), "--table", "transactions"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"compact {tmp_path}"
    assert out[1].startswith("  transactions: 12 partitions compacted, files 72 -> 12, bytes ")
    assert main(["compact", "--store", str(tmp_path / "missing")]) == 2
    assert "there is no store" in capsys.readouterr().err


# readers


def test_a_reader_sees_the_old_files_or_the_new_one_at_every_step(tmp_path, monkeypatch):
    """A plain reader just before and just after each partition's exchange sees every row once."""
    store = filled(tmp_path)
    expected = plain_rows(tmp_path)
    real, seen = compaction._exchange, []

    def watched(first: Path, second: Path) -> bool:
        seen.append(plain_rows(tmp_path) == expected)
        done = real(first, second)
        seen.append(plain_rows(tmp_path) == expected)
        return done

    monkeypatch.setattr(compaction, "_exchange", watched)
    store.compact()
    assert len(seen) == 2 * (4 * 12 + 1 + 1)  # every partition, plus the quarantine's and the probe
    assert all(seen)


READER = textwrap.dedent(
    """
    import json, pathlib, sys
    import polars as pl
    root, expected, stop = sys.argv[1], json.loads(sys.argv[2]), pathlib.Path(sys.argv[3])
    good = failed = 0
    while not stop.exists():
        for name, (rows, unique) in expected.items():
            try:
                scan = pl.scan_parquet(f"{root}/{name}/**/*.parquet", hive_partitioning=True)
                frame = scan.select("accession").collect()
            except Exception as exc:  # a file listed before an exchange and opened after it
                if "No such file" not in str(exc) and "os error 2" not in str(exc):
                    raise
                failed += 1
                continue
            if (frame.height, frame["accession"].n_unique()) != (rows, unique):
                sys.exit(f"{name}: {frame.height} rows, {frame['accession'].n_unique()} accessions")
            good += 1
            if good == 1:
                print("reading", flush=True)
    print(good, failed)
    """
)


@pytest.mark.slow
def test_readers_scanning_while_the_store_is_compacted_never_see_a_row_twice_or_miss_one(tmp_path):
    """Two plain readers in other processes scan every table in a loop while it is compacted: every
    read that completes holds each row exactly once."""
    store = filled(tmp_path / "store", writes=12)
    expected = {
        name: store.scan(name).select(pl.len(), pl.col("accession").n_unique()).collect().row(0)
        for name in DATA_TABLES
    }
    stop = tmp_path / "stop"
    argv = [sys.executable, "-c", READER, str(store.root), json.dumps(expected), str(stop)]
    readers = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        assert [reader.stdout.readline() for reader in readers] == ["reading\n"] * 2
        report = store.compact()
    finally:
        stop.touch()
    outputs = [reader.communicate(timeout=120)[0] for reader in readers]
    assert [reader.returncode for reader in readers] == [0, 0], outputs
    assert report.partitions["owners"] == 12
    assert_same(contents(store), contents(filled(tmp_path / "reference", writes=12)))


# crashes

KILLED_COMPACTION = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = [{repo!r}]
    import engine.store.compaction as compaction
    from engine.store.datasets import Store
    real, calls = compaction.{hook}, []
    def hooked(*args, **kwargs):
        if {after}:
            result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == {count}:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs) if not {after} else result
    compaction.{hook} = hooked
    Store({root!r}).compact()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hook", "after", "count"),
    [
        ("write_parquet_temp", False, 1),  # killed writing the first compacted file
        ("write_parquet_temp", True, 7),  # the 7th written, not yet exchanged
        ("_exchange", True, 2),  # the probe and the first partition exchanged, old files not yet removed
        ("_exchange", True, 30),
        ("_exchange", False, 30),  # killed just before an exchange
    ],
)
def test_a_compaction_killed_at_any_step_leaves_the_rows_as_they_were(tmp_path, hook, after, count):
    """kill -9 of a compacting process: plain readers see every row once even before the store is
    opened again; the next open removes what the compaction left, and compacting again finishes it."""
    store = filled(tmp_path / "store")
    before, seen = contents(store), plain_rows(store.root)
    script = KILLED_COMPACTION.format(
        repo=str(REPO), root=str(store.root), hook=hook, after=after, count=count
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL
    assert (store.root / compaction.STAGING_DIR).exists(), "killed mid-compaction"
    assert plain_rows(store.root) == seen

    reopened = Store(store.root)
    assert not (store.root / compaction.STAGING_DIR).exists() and not list(store.root.rglob("*.tmp"))
    assert_same(contents(reopened), before)
    reopened.compact()
    assert_same(contents(reopened), before)
    assert set(files_per_partition(store.root, "transactions").values()) == {1}


@pytest.mark.slow
def test_a_compaction_killed_from_outside_at_random_moments_leaves_the_rows_as_they_were(tmp_path):
    store = filled(tmp_path / "store", writes=12)
    before, seen = contents(store), plain_rows(store.root)
    script = f"import sys; sys.path[:0] = [{str(REPO)!r}]\nfrom engine.store.datasets import Store\n"
    script += f"print('go', flush=True); Store({str(store.root)!r}).compact()"
    for delay in (0.05, 0.2, 0.4, 0.8):
        compactor = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert compactor.stdout.readline() == "go\n"
        time.sleep(delay)
        os.kill(compactor.pid, signal.SIGKILL)
        compactor.wait()
        assert plain_rows(store.root) == seen
        assert_same(contents(Store(store.root)), before)
    Store(store.root).compact()
    assert_same(contents(Store(store.root)), before)


# where directories cannot be exchanged


def test_without_an_exchange_the_journaled_publish_compacts(tmp_path, monkeypatch):
    monkeypatch.setattr(compaction, "_exchange", lambda first, second: False)
    store = filled(tmp_path)
    before = contents(store)
    store.compact()
    assert_same(contents(Store(tmp_path)), before)
    assert set(files_per_partition(tmp_path, "owners").values()) == {1}
    assert not (tmp_path / JOURNAL).exists()


def test_without_an_exchange_a_crash_between_publishing_and_removing_is_finished_on_open(
    tmp_path, monkeypatch
):
    """The fallback's window: the new file is in place beside the old ones until they are removed; a
    crash there is finished by the next open (the journal lists the old files)."""
    monkeypatch.setattr(compaction, "_exchange", lambda first, second: False)
    store = filled(tmp_path)
    before = contents(store)
    real_unlink = Path.unlink

    def crash(self, missing_ok=False):
        if self.suffix == ".parquet":
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash)
    with pytest.raises(KeyboardInterrupt):
        store.compact()
    monkeypatch.undo()
    assert (tmp_path / JOURNAL).exists()
    assert_same(contents(Store(tmp_path)), before)
