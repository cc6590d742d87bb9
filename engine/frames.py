"""The one reader of the tables the API takes: a Parquet or CSV path (or a directory of Parquet files), a
Polars DataFrame or LazyFrame, a pandas DataFrame or a pyarrow Table, as Polars. Dates are coerced one way,
required columns checked, and every error is one line naming the argument, the file and row, and the fix.

pandas is optional: it is never imported here, a pandas DataFrame is recognised only when the caller has
already imported pandas (it cannot exist otherwise).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, Union

import polars as pl

from engine.errors import UserError

if TYPE_CHECKING:
    import pandas
    import pyarrow

TableSource: TypeAlias = Union[  # noqa: UP007 (pandas and pyarrow are named, not imported, at run time)
    str, os.PathLike[str], pl.DataFrame, pl.LazyFrame, "pandas.DataFrame", "pyarrow.Table"
]
"""Every form a table argument may take."""

ACCEPTED = "a Parquet/CSV path, a Polars DataFrame or LazyFrame, a pandas DataFrame or a pyarrow Table"
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
TABLE_OUTPUTS = (".parquet", ".csv")
"""The file types a command writes a table as (``output_path``'s ``suffixes`` for an --out table)."""
DATE_FIX = "write dates as YYYY-MM-DD (a Date or Datetime column, or ISO text)"


def is_path(source: object) -> bool:
    """True for a file-system path given as text or a path object."""
    return isinstance(source, str | os.PathLike)


def is_table(source: object) -> bool:
    """True for any in-memory table the API accepts (not a path)."""
    return isinstance(source, pl.DataFrame | pl.LazyFrame) or _pandas(source) or _arrow(source)


def origin(source: object) -> str:
    """What a table is, for messages and provenance: ``file caps.csv``, ``pandas DataFrame``."""
    if is_path(source):
        return f"file {Path(source)}"
    if _pandas(source):
        return "pandas DataFrame"
    if _arrow(source):
        return f"pyarrow {type(source).__name__}"
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return f"Polars {type(source).__name__}"
    return type(source).__name__


def describe(source: object, argument: str) -> str:
    """How messages name a table argument: ``market_caps file caps.csv``, ``prices (pandas DataFrame)``."""
    return f"{argument} {origin(source)}" if is_path(source) else f"{argument} ({origin(source)})"


def is_parquet_file(source: object) -> bool:
    """True for a path to an existing Parquet file (by its suffix, or its magic bytes)."""
    if not is_path(source) or not Path(source).is_file():
        return False
    path = Path(source)
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:  # unreadable: the reader that follows reports it
        return False


def lazy(source: TableSource, argument: str) -> pl.LazyFrame:
    """Any accepted table as a LazyFrame; Parquet files and directories are scanned, not read."""
    if isinstance(source, pl.LazyFrame):
        return source
    if is_path(source):
        path = _existing(source, argument)
        if path.is_dir() or is_parquet_file(path):
            return _scan_parquet(path, argument)
    return frame(source, argument).lazy()


def frame(source: TableSource, argument: str) -> pl.DataFrame:
    """Any accepted table as a DataFrame (a pandas index with a name becomes a column)."""
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if is_path(source):
        return _read(_existing(source, argument), argument)
    if _pandas(source):
        named_index = any(name is not None for name in source.index.names)
        return _converted(lambda: pl.from_pandas(source, include_index=named_index), argument)
    if _arrow(source):
        return _converted(lambda: pl.from_arrow(source), argument)
    raise UserError(
        f"{argument}: a {type(source).__name__} is not a table",
        fix=f"pass {ACCEPTED}",
    )


def lower_columns(table: pl.DataFrame, argument: str) -> pl.DataFrame:
    """Column names stripped and lower-cased (``Date`` -> ``date``); two names that then clash are an
    error."""
    names = [c.strip().lower() for c in table.columns]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UserError(
            f"{argument}: columns {table.columns} repeat {clash} once case and spaces are ignored",
            fix="keep one column per name",
        )
    return table.rename(dict(zip(table.columns, names, strict=True)))


def require_columns(columns: Iterable[str], needed: Iterable[str], where: str, fix: str) -> None:
    """A one-line error naming ``where``, the missing columns and the ones present."""
    present = list(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        raise UserError(f"{where}: no column {', '.join(missing)} (columns: {', '.join(present)})", fix=fix)


def as_date(dtype: pl.DataType, column: str, where: str | None = None) -> pl.Expr:
    """``column`` as a Date: Date kept, Datetime truncated (in its own time zone), ISO text parsed on its
    first ten characters (``2020-09-28 00:00:00-04:00`` too); text that is not a date becomes null."""
    col = pl.col(column)
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    if dtype == pl.Null:
        return col.cast(pl.Date)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        col, dtype = col.cast(pl.String), pl.String
    if dtype != pl.String:
        raise UserError(f"{where or 'table'}: column {column!r} has type {dtype}, not dates", fix=DATE_FIX)
    return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def parse_dates(table: pl.DataFrame, column: str, where: str) -> pl.DataFrame:
    """``table`` with ``column`` as Date; a value present but not a date is an error naming its row (the
    ``row`` column when there is one, else the 1-based row after the header)."""
    coerced = table.with_columns(as_date(table.schema[column], column, where))
    unreadable = coerced[column].is_null() & table[column].is_not_null()
    if unreadable.any():
        first = int(unreadable.arg_max() or 0)
        row = table["row"][first] if "row" in table.columns else first + 1
        more = int(unreadable.sum()) - 1
        raise UserError(
            f"{where}, row {row}: {column} {table[column][first]!r} is not a date"
            + (f" ({more:,} more rows like it)" if more else ""),
            fix=DATE_FIX,
        )
    return coerced


def to_date(value: object, argument: str) -> dt.date:
    """A date argument (``datetime.date``, ``datetime``/pandas ``Timestamp``, ``numpy.datetime64`` or ISO
    text) as a ``datetime.date``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    elif type(value).__name__ == "datetime64":
        day = value.astype("datetime64[D]").item()  # type: ignore[attr-defined]
        if isinstance(day, dt.date):
            return day
    raise UserError(
        f"{argument}: {_short(repr(value))} ({type(value).__name__}) is not a date",
        fix="pass a datetime.date or a 'YYYY-MM-DD' string",
    )


def output_path(path: str | os.PathLike[str], suffixes: tuple[str, ...], argument: str = "--out") -> Path:
    """A file a table will be written to, checked before any work is done: one of ``suffixes``, not a
    directory, in a directory that exists (created now) and can be written."""
    out = Path(path)
    names = " or ".join(suffixes)
    if out.suffix.lower() not in suffixes:
        raise UserError(
            f"{argument} {out}: unsupported output type {out.suffix or '(none)'!r}", fix=f"name it {names}"
        )
    if out.is_dir():
        raise UserError(
            f"{argument} {out} is a directory",
            fix=f"pass a file name inside it, e.g. {out / ('out' + suffixes[0])}",
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the directory of {argument} {out}: {exc.strerror or exc}",
            fix="pass a path inside a writable directory",
        ) from exc
    if not os.access(out.parent, os.W_OK):
        raise UserError(
            f"cannot write to {out.parent} ({argument} {out})", fix="pass a path inside a writable directory"
        )
    return out


def _pandas(source: object) -> bool:
    # A module another thread is still importing has no DataFrame yet, and no object can be one of its
    # frames: getattr, not the attribute (pyarrow imports pandas lazily, in whichever thread first needs it).
    frame_type = getattr(sys.modules.get("pandas"), "DataFrame", None)
    return frame_type is not None and isinstance(source, frame_type)


def _arrow(source: object) -> bool:
    pyarrow = sys.modules.get("pyarrow")
    table, batch = getattr(pyarrow, "Table", None), getattr(pyarrow, "RecordBatch", None)
    return table is not None and batch is not None and isinstance(source, table | batch)


def _converted(convert: Callable[[], pl.DataFrame], argument: str) -> pl.DataFrame:
    try:
        return convert()
    except (pl.exceptions.PolarsError, TypeError, ValueError, ImportError) as exc:
        raise UserError(
            f"{argument}: cannot convert the table to Polars: {_first_line(exc)}",
            fix="give plain columns (numbers, text, dates)",
        ) from exc


def _existing(source: str | os.PathLike[str], argument: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise UserError(f"{argument} file not found: {path}", fix=f"check the path given as {argument}")
    return path


def _scan_parquet(path: Path, argument: str) -> pl.LazyFrame:
    """A Parquet file, or every Parquet file under a directory (hive partitions become columns)."""
    if path.is_dir():
        if not any(path.glob("**/*.parquet")):
            raise UserError(f"{argument}: no Parquet file under {path}", fix="pass a .parquet or .csv file")
        target: Path | str = str(path / "**" / "*.parquet")
    else:
        target = path
    try:
        scan = pl.scan_parquet(target, hive_partitioning=path.is_dir())
        scan.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise UserError(
            f"cannot read {argument} file {path}: {_first_line(exc)}", fix="give a valid Parquet file"
        ) from exc
    return scan


def _read(path: Path, argument: str) -> pl.DataFrame:
    name = path.name.lower()
    if path.is_dir() or is_parquet_file(path):
        reader = _scan_parquet(path, argument).collect
    elif name.endswith(CSV_SUFFIXES):
        separator = "\t" if name.endswith(".tsv") else ","
        reader = functools.partial(pl.read_csv, path, separator=separator, infer_schema_length=10_000)
    else:
        raise UserError(
            f"{argument} file {path} is neither Parquet nor CSV",
            fix="convert it to .parquet or .csv (.csv.gz)",
        )
    try:
        return reader()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise UserError(
            f"cannot read {argument} file {path}: {_first_line(exc)}",
            fix="give a Parquet file or a CSV file with a header row",
        ) from exc


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
