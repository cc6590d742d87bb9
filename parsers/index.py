"""EDGAR index files (``form``, ``master``, ``company``, ``crawler``; daily, quarterly) -> INDEX_SCHEMA rows.

The layout is recognised from the header, and data starts after the line of dashes (header lengths vary,
and the daily company index breaks its header over two lines). Fixed-width lines are split from the
right (file name, date, CIK), so company names that overflow their column and form types containing
spaces are read correctly. The accession is taken from the file name.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Collection
from datetime import date

import pyarrow as pa

from parsers.accessions import find_accession
from parsers.schema import INDEX_SCHEMA, OWNERSHIP_FORMS
from parsers.values import parse_compact_date, parse_date

_GZIP_MAGIC = b"\x1f\x8b"
_DASHES = re.compile(r"^-{10,}[ \t\r]*$", re.MULTILINE)
_FORM_FIRST = re.compile(r"^(\S+(?: \S+)*?)\s{2,}(.*)$")
_FORM_LAST = re.compile(r"^(.*?\S)\s{2,}(\S+(?: \S+)*)$")


class IndexFormatError(ValueError):
    """The bytes are not an EDGAR index file, or a relevant line of it cannot be read."""


def parse_index(data: bytes, *, forms: Collection[str] | None = OWNERSHIP_FORMS) -> pa.Table:
    """Rows of an index file whose form type is in ``forms`` (all rows when None), as INDEX_SCHEMA.

    Gzip-compressed bytes (EDGAR's ``form.gz`` ...) are decompressed first. An empty file (EDGAR serves
    one for a day without filings) gives an empty table; a file without the dashed header line, or a
    wanted row without a readable accession, raises IndexFormatError.
    """
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IndexFormatError(f"gzip-compressed index that cannot be decompressed: {exc}") from None
    text = data.decode("latin-1")
    if not text.strip():
        return INDEX_SCHEMA.empty_table()
    dashes = _DASHES.search(text)
    if dashes is None:
        raise IndexFormatError(
            "no line of dashes under a column header: not an EDGAR form/master/company index file"
        )
    header = text[: dashes.start()]
    body = text[dashes.end() :].splitlines()
    dashes_line = header.count("\n") + 1
    if "|" in header.strip().splitlines()[-1]:
        split = _master_line
    elif re.search(r"^Form Type", header, re.MULTILINE):
        split = _form_line
    else:
        split = _company_line
    wanted = None if forms is None else frozenset(forms)
    columns: list[list] = [[] for _ in INDEX_SCHEMA]
    for offset, line in enumerate(body):
        if not line.strip():
            continue
        fields = split(line)
        if fields is None:
            raise IndexFormatError(
                f"line {dashes_line + offset}: cannot split into form type, company, CIK, date, file name"
            )
        form_type, company, cik, filed, file_name = fields
        if wanted is not None and form_type not in wanted:
            continue
        accession = find_accession(file_name)
        if accession is None:
            raise IndexFormatError(f"line {dashes_line + offset}: no accession number in {file_name!r}")
        row = (form_type, company, _cik(cik), _filed(filed), file_name, accession)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return pa.Table.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, INDEX_SCHEMA, strict=True)],
        schema=INDEX_SCHEMA,
    )


def _master_line(line: str) -> tuple[str, str, str, str, str] | None:
    parts = line.strip().split("|")
    if len(parts) < 5:
        return None
    return parts[-3].strip(), "|".join(parts[1:-3]).strip(), parts[0], parts[-2], parts[-1].strip()


def _fixed_tail(line: str) -> tuple[str, str, str, str] | None:
    """(prefix, cik, date, file) of a fixed-width line, read from the right."""
    parts = line.rstrip().rsplit(None, 3)
    if len(parts) != 4:
        return None
    return parts[0].strip(), parts[1], parts[2], parts[3]


def _form_line(line: str) -> tuple[str, str, str, str, str] | None:
    tail = _fixed_tail(line)
    if tail is None:
        return None
    prefix, cik, filed, file_name = tail
    split = _FORM_FIRST.match(prefix)
    form_type, company = (split.group(1), split.group(2)) if split else (prefix[:12].strip(), prefix[12:])
    return form_type, company.strip(), cik, filed, file_name


def _company_line(line: str) -> tuple[str, str, str, str, str] | None:
    tail = _fixed_tail(line)
    if tail is None:
        return None
    prefix, cik, filed, file_name = tail
    split = _FORM_LAST.match(prefix)
    company, form_type = (split.group(1), split.group(2)) if split else prefix.rpartition(" ")[::2]
    return form_type.strip(), company.strip(), cik, filed, file_name


def _cik(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _filed(text: str) -> date | None:
    return parse_date(text) if "-" in text else parse_compact_date(text)
