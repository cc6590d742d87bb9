"""The write journal of a store batch: hidden staging names, the publish step and crash recovery.

Every file of a batch is written under ``hidden`` staging names (``.part-<hash>.parquet.tmp``), then the
journal (``ROOT/_journal.json``) turns from ``STAGING`` to ``PUBLISH`` and ``publish`` renames the files
into place; ``finish_or_undo`` completes or rolls back a batch whose journal survived a crash
(``engine.store.datasets`` describes the whole protocol).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.store.atomic import TMP_SUFFIX, fsync_directory

JOURNAL = "_journal.json"
STAGING, PUBLISH = "staging", "publish"
"""Journal states: files being written under hidden names; files being renamed into place."""


def hidden(path: Path) -> Path:
    """The staging name of a store file: hidden from every Parquet reader until it is published."""
    return path.with_name("." + path.name)


def staged(path: Path) -> Path:
    """The temporary name a file is written under before it is staged, then published."""
    return hidden(path).with_name(hidden(path).name + TMP_SUFFIX)


def publish(paths: list[Path], obsolete: list[Path], pool: ThreadPoolExecutor) -> None:
    """Rename staged files into place back to back (the only moment a reader can see part of a
    batch), make the renames durable, then remove the obsolete files."""
    for path in paths:
        os.replace(staged(path), path)
    directories = {d for path in paths for d in (path.parent, path.parent.parent, path.parent.parent.parent)}
    list(pool.map(fsync_directory, sorted(directories)))
    for path in obsolete:
        path.unlink(missing_ok=True)
    list(pool.map(fsync_directory, sorted({path.parent for path in obsolete})))


def finish_or_undo(root: Path, journal: dict | list) -> None:
    """Recovery of one journaled batch: publish it if it got as far as publishing with every file on
    disk (staged or in place), else remove every file of it (the staged ones only, while staging)."""
    if isinstance(journal, list):  # written before staging existed: files were renamed in place one by one
        journal = {"state": PUBLISH, "files": journal}
    paths = [root / name for name in journal["files"]]
    publishing = journal["state"] == PUBLISH
    complete = publishing and all(p.exists() or staged(p).exists() for p in paths)
    for path in paths:
        if complete and staged(path).exists():
            os.replace(staged(path), path)
        elif not complete:
            staged(path).unlink(missing_ok=True)
            if publishing:
                path.unlink(missing_ok=True)
    if complete:
        for path in journal.get("obsolete", []):
            (root / path).unlink(missing_ok=True)
    for directory in {path.parent for path in paths if path.parent.exists()}:
        fsync_directory(directory)


def leftover_temps(root: Path, root_files: Iterable[str], places: Iterable[Path]) -> Iterator[Path]:
    """The temp files a killed write can leave: beside the store's own ``root_files`` and anywhere inside
    its ``places`` (datasets, side directories), never elsewhere under ``root``: a store opened at a
    directory that holds other files must not remove the user's ``*.tmp``."""
    for name in root_files:
        if (temp := root / (name + TMP_SUFFIX)).exists():
            yield temp
    for place in dict.fromkeys(places):
        yield from place.rglob(f"*{TMP_SUFFIX}")
