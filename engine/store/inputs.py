"""Filings among files, directories and archives: what ``ingest`` reads, and what it quarantines unread.

Directories are walked recursively in a stable order, ``.zip`` and ``.tar.gz``/``.tgz``/``.tar``
archives member by member, nested archives too (``MAX_ARCHIVE_DEPTH`` deep). Nothing here raises on bad
input: a file that cannot be read, or an archive that is corrupt or nested too deep, becomes a
``Failure`` with its source (``archive.zip!member/path`` inside archives, names escaped by
``shown_name``) and a one-line reason. Symbolic links inside a directory are not followed.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from parsers.accessions import find_accession, from_compact

FILING_SUFFIXES: frozenset[str] = frozenset({".xml", ".txt", ".nc", ".sgml"})
"""Files inside directories and archives that are read as filings; other files are skipped (counted)."""
MAX_FILING_BYTES = 64 * 1024 * 1024
"""A larger file is no ownership filing: quarantined by path without reading it."""
MAX_ARCHIVE_DEPTH = 3
"""Archives inside archives are opened this many levels deep; a deeper one is quarantined whole."""


class Counts(Protocol):
    """Where ``walk`` counts what it met: files and archives opened, files skipped, links not followed."""

    files: int
    archives: int
    skipped: int
    links: int


@dataclass(frozen=True, slots=True)
class Input:
    """One filing's bytes, where they came from, and the accession its name carries."""

    source: str
    data: bytes
    accession: str | None


@dataclass(frozen=True, slots=True)
class Failure:
    """One input that could not be read: its source, why, and its bytes or size when known."""

    source: str
    reason: str
    data: bytes | None
    size: int | None


def shown_name(name: str) -> str:
    """A path or member name as printable text: bytes that are not UTF-8 (``\\xff``) and control
    characters escaped, so that any name can be printed and stored without stopping a batch."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def accession_hint(name: str) -> str | None:
    """The accession number a file name carries (``0000011544-20-000013.txt``, ``000001154420000013.xml``)."""
    base = name.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
    return find_accession(base) or from_compact(base.split(".", 1)[0])


def walk(
    roots: Iterable[Path], report: Counts, fail: Callable[[Failure], None], store_root: Path
) -> Iterator[Input]:
    """Every filing under the roots, in a stable order; failures go to ``fail``, skips to the report.

    Hidden files and directories, and the store itself when it lies under a root, are not walked.
    Symbolic links inside a directory are not followed (a link may lead anywhere: ``/etc/passwd``);
    they are counted in ``report.links``. A link named as a root is followed: the user chose it."""
    store_root = store_root.resolve()

    def unreadable(error: OSError) -> None:
        source = shown_name(os.fsdecode(error.filename)) if error.filename else "directory"
        fail(Failure(source, f"cannot read directory: {one_line(error)}", None, None))

    def linked(directory: str, name: str) -> bool:
        if os.path.islink(os.path.join(directory, name)):
            report.links += 1
            return True
        return False

    for root in roots:
        if root.is_dir():
            for directory, subdirectories, names in os.walk(root, onerror=unreadable):
                subdirectories[:] = sorted(
                    d
                    for d in subdirectories
                    if not d.startswith(".")
                    and not linked(directory, d)
                    and (Path(directory) / d).resolve() != store_root
                )
                for name in sorted(names):
                    if not name.startswith(".") and not linked(directory, name):
                        yield from _file(Path(directory) / name, report, fail, explicit=False)
        else:
            yield from _file(root, report, fail, explicit=True)


def _file(path: Path, report: Counts, fail: Callable[[Failure], None], *, explicit: bool) -> Iterator[Input]:
    """One file: an archive walked member by member, or a filing read whole.

    A file found by walking is read without following a link, should one replace it meanwhile."""
    source = shown_name(str(path))
    archive = _is_archive(path.name)
    if not archive and not explicit and path.suffix.lower() not in FILING_SUFFIXES:
        report.skipped += 1
        return
    if archive:
        report.archives += 1
    else:
        report.files += 1
    what = "archive" if archive else "file"
    try:
        status = path.stat() if explicit else path.lstat()
    except OSError as exc:
        fail(Failure(source, f"cannot read {what}: {one_line(exc)}", None, None))
        return
    if not stat.S_ISREG(status.st_mode):
        fail(Failure(source, "not a regular file (a pipe, socket, device or link?)", None, None))
        return
    opener = None if explicit else _open_no_follow
    if archive:
        try:
            with open(path, "rb", opener=opener) as handle:
                yield from _archive(handle, source, path.name, report, fail, depth=1)
        except OSError as exc:
            fail(Failure(source, f"cannot read archive: {one_line(exc)}", None, status.st_size))
        return
    if status.st_size > MAX_FILING_BYTES:
        reason = f"file of {status.st_size} bytes is too large to be an ownership filing"
        fail(Failure(source, reason, None, status.st_size))
        return
    try:
        with open(path, "rb", opener=opener) as handle:
            data = handle.read()
    except OSError as exc:
        fail(Failure(source, f"cannot read file: {one_line(exc)}", None, status.st_size))
        return
    yield Input(source, data, accession_hint(source))


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _archive(
    handle: IO[bytes],
    source: str,
    name: str,
    report: Counts,
    fail: Callable[[Failure], None],
    depth: int,
) -> Iterator[Input]:
    """The filings inside one archive; a corrupt archive keeps the members read before the damage."""
    kind = "zip" if name.lower().endswith(".zip") else "tar"
    members = _zip_members if kind == "zip" else _tar_members
    count = 0
    try:
        for member, read in members(handle):
            count += 1
            inner = f"{source}!{shown_name(member)}"
            if _is_archive(member):
                try:
                    data = read()
                except Exception as exc:
                    fail(Failure(inner, f"cannot read archive member: {one_line(exc)}", None, None))
                    continue
                if depth >= MAX_ARCHIVE_DEPTH:
                    reason = f"archive nested more than {MAX_ARCHIVE_DEPTH} deep: not opened, kept whole"
                    fail(Failure(inner, reason, data, None))
                    continue
                report.archives += 1
                yield from _archive(io.BytesIO(data), inner, member, report, fail, depth + 1)
                continue
            if member.lower()[member.rfind(".") :] not in FILING_SUFFIXES:
                report.skipped += 1
                continue
            report.files += 1
            try:
                data = read()
            except Exception as exc:
                fail(Failure(inner, f"cannot read archive member: {one_line(exc)}", None, None))
                continue
            yield Input(inner, data, accession_hint(inner))
    except Exception as exc:
        handle.seek(0)
        data = handle.read(MAX_FILING_BYTES + 1)
        kept = data if len(data) <= MAX_FILING_BYTES else None
        where = f" after {count} members" if count else ""
        fail(Failure(source, f"corrupt {kind} archive{where}: {one_line(exc)}", kept, None))


def _zip_members(handle: IO[bytes]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            if info.is_dir() or _hidden(info.filename):
                continue
            yield info.filename, lambda info=info: _read_limited(archive.open(info), info.file_size)


def _tar_members(handle: IO[bytes]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    with tarfile.open(fileobj=handle, mode="r:*") as archive:
        for info in archive:
            if not info.isfile() or _hidden(info.name):
                continue
            yield info.name, lambda info=info: _read_limited(archive.extractfile(info), info.size)


def _read_limited(stream: IO[bytes] | None, declared: int) -> bytes:
    if stream is None or declared > MAX_FILING_BYTES:
        raise ValueError(f"member of {declared} bytes is too large to be an ownership filing")
    with stream:
        data = stream.read(MAX_FILING_BYTES + 1)
    if len(data) > MAX_FILING_BYTES:
        raise ValueError("member expands beyond the size of any ownership filing")
    return data


def _is_archive(name: str) -> bool:
    return name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def _hidden(member: str) -> bool:
    parts = [part for part in member.split("/") if part not in ("", ".", "..")]
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def one_line(exc: BaseException) -> str:
    """An error as one printable line of at most 200 characters, its type first."""
    message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = shown_name(" ".join(message.split())) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
