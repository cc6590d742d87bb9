"""EDGAR's form.idx and master.idx, daily and quarterly, generated from the replayed filings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from engine.replay.filings import ReplayFiling


def _index_rows(filings: Iterable[ReplayFiling]) -> Iterator[tuple[str, str, int, date, str]]:
    for filing in filings:
        for cik, name in filing.ciks:
            yield filing.form_type, name, cik, filing.filing_date, f"edgar/data/{cik}/{filing.accession}.txt"


def form_index(filings: Iterable[ReplayFiling], *, daily: bool, last_day: date) -> bytes:
    """A ``form.idx`` (fixed width, sorted by form type, then company) in EDGAR's daily or quarterly form."""
    title = (
        "Daily Index of EDGAR Dissemination Feed by Form Type"
        if daily
        else ("Master Index of EDGAR Dissemination Feed by Form Type")
    )
    lines = [
        f"Description:           {title}",
        f"Last Data Received:    {last_day:%b} {last_day.day}, {last_day.year}",
        "Comments:              webmaster@sec.gov",
        "Anonymous FTP:         ftp://ftp.sec.gov/edgar/",
        " ",
        " ",
        " ",
        " ",
        f"{'Form Type':<12}{'Company Name':<62}{'CIK':<12}{'Date Filed':<12}File Name",
        "-" * 141,
    ]
    for form, name, cik, day, path in sorted(_index_rows(filings), key=lambda r: (r[0], r[1], r[2], r[4])):
        shown = f"{day:%Y%m%d}" if daily else day.isoformat()
        padded_name = name + " " * max(2, 62 - len(name))
        lines.append(f"{form:<12}{padded_name}{cik:<12}{shown:<12}{path}".ljust(150))
    return ("\n".join(lines) + "\n").encode("latin-1", "replace")


def master_index(filings: Iterable[ReplayFiling], *, daily: bool, last_day: date) -> bytes:
    """A ``master.idx`` (pipe-delimited, sorted by CIK) in EDGAR's daily or quarterly form."""
    title = "Daily Index of EDGAR Dissemination Feed" if daily else "Master Index of EDGAR Dissemination Feed"
    lines = [
        f"Description:           {title}",
        f"Last Data Received:    {last_day:%b} {last_day.day:2d}, {last_day.year}",
        "Comments:              webmaster@sec.gov",
        "Anonymous FTP:         ftp://ftp.sec.gov/edgar/",
        " ",
        "CIK|Company Name|Form Type|Date Filed|" + ("File Name" if daily else "Filename"),
        "-" * 80,
    ]
    for form, name, cik, day, path in sorted(_index_rows(filings), key=lambda r: (r[2], r[0], r[4])):
        shown = f"{day:%Y%m%d}" if daily else day.isoformat()
        lines.append(f"{cik}|{name}|{form}|{shown}|{path}")
    return ("\n".join(lines) + "\n").encode("latin-1", "replace")
