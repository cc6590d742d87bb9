"""Replace the last row groups of a Parquet file without re-encoding the others.

A Parquet file is ``PAR1``, row groups of column chunks written one after another, the footer (Thrift
compact ``FileMetaData``: the schema, each row group's chunks and their byte offsets), its length and
``PAR1``. ``replace_tail`` keeps the bytes of the row groups before the first one replaced as they are,
appends the row groups of a new tail written on its own (their offsets shifted by where they land), and
writes a footer listing both: a daily append rewrites one small row group, not a 20-year panel.

The footer is decoded and re-encoded field by field by a generic Thrift compact codec; a footer it does
not re-encode to the same bytes, or a tail whose schema differs, makes ``replace_tail`` return False so
that the caller rewrites the file whole instead. Page indexes and bloom filters of kept row groups that
lie after the cut are dropped from the footer (readers then do without them).
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import polars as pl

Field = tuple[int, int, object]
"""A decoded field: (id, compact type, value); a struct's value is a list of fields, a list's
(element type, items)."""

STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, STRUCT = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    12,
)

SHIFTED = {"chunk": (2, 4, 6), "meta": (9, 10, 11, 14), "group": (5,)}
"""Byte offsets in a ColumnChunk, its ColumnMetaData and a RowGroup (Parquet's parquet.thrift ids)."""

DROPPED = {"chunk": ((4, 5), (6, 7)), "meta": ((14, 15),)}
"""(offset, length) pairs of a kept chunk's page indexes and bloom filter, dropped when past the cut."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> object:
        if kind in (TRUE, FALSE):
            return kind == TRUE
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            self.at += 8
            return self.data[self.at - 8 : self.at]
        if kind == BINARY:
            size = self.varint()
            self.at += size
            return self.data[self.at - size : self.at]
        if kind in (LIST, SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            items = [self.byte() if element in (TRUE, FALSE) else self.value(element) for _ in range(size)]
            return (element, items)
        if kind == STRUCT:
            return self.fields()
        raise ValueError(f"unsupported Thrift compact type {kind}")

    def fields(self) -> list[Field]:
        out: list[Field] = []
        last = 0
        while (header := self.byte()) != STOP:
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            out.append((last, kind, self.value(kind)))
        return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append(n & 0x7F | 0x80)
        n >>= 7


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


def _value(kind: int, value: object) -> bytes:
    if kind in (TRUE, FALSE):
        return b""
    if kind == BYTE:
        return bytes([value])
    if kind in (I16, I32, I64):
        return _zigzag(value)
    if kind == DOUBLE:
        return value
    if kind == BINARY:
        return _varint(len(value)) + value
    if kind in (LIST, SET):
        element, items = value
        head = (
            bytes([len(items) << 4 | element])
            if len(items) < 15
            else bytes([0xF0 | element]) + _varint(len(items))
        )
        body = b"".join(bytes([i]) if element in (TRUE, FALSE) else _value(element, i) for i in items)
        return head + body
    return _fields(value)


def _fields(fields: list[Field]) -> bytes:
    out = bytearray()
    last = 0
    for fid, kind, value in fields:
        if kind in (TRUE, FALSE):
            kind = TRUE if value else FALSE
        delta = fid - last
        out += bytes([delta << 4 | kind]) if 0 < delta < 16 else bytes([kind]) + _zigzag(fid)
        out += _value(kind, value)
        last = fid
    out.append(STOP)
    return bytes(out)


def _footer(data: bytes) -> tuple[int, list[Field]]:
    """Where the footer starts, and the decoded ``FileMetaData``."""
    if data[-4:] != b"PAR1":
        raise ValueError("not a Parquet file")
    length = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - length
    return start, _Reader(data[start : start + length]).fields()


def _get(fields: list[Field], fid: int) -> object:
    return next((value for f, _, value in fields if f == fid), None)


def _set(fields: list[Field], fid: int, kind: int, value: object) -> list[Field]:
    return sorted([f for f in fields if f[0] != fid] + [(fid, kind, value)], key=lambda f: f[0])


def _group_start(group: list[Field]) -> int:
    """The first byte of a row group's data: its chunks' dictionary or data pages."""
    starts = []
    for chunk in _get(group, 1)[1]:
        meta = _get(chunk, 3)
        starts.append(min(o for o in (_get(meta, 11), _get(meta, 9)) if o is not None))
    return min(starts)


def _edit(fields: list[Field], shifted: tuple[int, ...], shift: int, dropped=(), cut: int = 0) -> list[Field]:
    """Fields with the ``shifted`` offsets moved by ``shift``, and ``dropped`` pairs past ``cut`` removed."""
    values = {fid: value for fid, _, value in fields}
    gone = {fid for pair in dropped if cut and values.get(pair[0], -1) >= cut for fid in pair}
    return [(f, k, v + shift if f in shifted else v) for f, k, v in fields if f not in gone]


def _moved_group(group: list[Field], shift: int, cut: int = 0) -> list[Field]:
    """A row group's footer entry with its offsets shifted (tail) or its indexes past ``cut`` dropped."""
    chunks = []
    for chunk in _get(group, 1)[1]:
        meta = _edit(_get(chunk, 3), SHIFTED["meta"], shift, DROPPED["meta"], cut)
        chunk = _edit(chunk, SHIFTED["chunk"], shift, DROPPED["chunk"], cut)
        chunks.append(_set(chunk, 3, STRUCT, meta))
    group = _edit(group, SHIFTED["group"], shift)
    return _set(group, 1, LIST, (STRUCT, chunks))


def replace_tail(
    path: Path, keep_groups: int, tail: pl.DataFrame, temp: Path, **write_options: object
) -> bool:
    """Write to ``temp`` the file ``path`` with its row groups from ``keep_groups`` on replaced by
    ``tail`` (written with ``write_options``); False, writing nothing, when the file cannot be spliced."""
    buffer = io.BytesIO()
    tail.write_parquet(buffer, **write_options)
    tail_bytes = buffer.getvalue()
    tail_start, tail_meta = _footer(tail_bytes)
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - 8, 0))
        end = handle.read(8)
        length = struct.unpack("<I", end[:4])[0] if len(end) == 8 and end[4:] == b"PAR1" else size
        if length > size - 12:
            raise ValueError(f"{path}: not a Parquet file")
        handle.seek(size - 8 - length)
        raw = handle.read(length)
    old_meta = _Reader(raw).fields()
    if _fields(old_meta) != raw or _get(old_meta, 2) != _get(tail_meta, 2) or _get(old_meta, 8) is not None:
        return False
    groups = _get(old_meta, 4)[1]
    if keep_groups == 0:
        return False
    cut = (
        _group_start(groups[keep_groups]) if keep_groups < len(groups) else os.path.getsize(path) - 8 - length
    )
    kept = [_moved_group(group, 0, cut) for group in groups[:keep_groups]]
    added = [_moved_group(group, cut - 4) for group in _get(tail_meta, 4)[1]]
    rows = sum(_get(group, 3) for group in kept) + _get(tail_meta, 3)
    ordered = [_set(g, 7, I16, i) if _get(g, 7) is not None else g for i, g in enumerate(kept + added)]
    meta = _set(_set(tail_meta, 3, I64, rows), 4, LIST, (STRUCT, ordered))
    footer = _fields(meta)
    with open(path, "rb") as source, open(temp, "wb") as out:
        copied = 0
        while copied < cut:
            copied += os.copy_file_range(source.fileno(), out.fileno(), cut - copied, copied, copied)
        out.seek(cut)
        out.write(tail_bytes[4:tail_start])
        out.write(footer + struct.pack("<I", len(footer)) + b"PAR1")
        out.flush()
        os.fsync(out.fileno())
    return True
