"""EDGAR's URL layout in one place, relative to a base URL so that everything can point at a mirror."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode, urlsplit

from engine.edgar.calendar import quarter_of
from engine.errors import UserError
from parsers.xbrl_frames import frame_name

SEC_BASE_URL = "https://www.sec.gov/"
SEC_DATA_BASE_URL = "https://data.sec.gov/"

FRAME_CONCEPT = "dei/EntityCommonStockSharesOutstanding/shares"
DATASET_DIR = "files/structureddata/data/insider-transactions-data-sets"


def is_sec_url(url: str) -> bool:
    """Whether a URL points at the SEC itself: any host under sec.gov, in any scheme, case or spelling."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    host = host.lower().rstrip(".")
    return host == "sec.gov" or host.endswith(".sec.gov")


def _normalise(base: str, option: str) -> str:
    try:
        parts = urlsplit(base)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or any(c.isspace() or ord(c) < 32 for c in base):
        raise UserError(
            f"{option} {base!r} is not an http(s) URL", fix=f"pass e.g. {option} https://mirror.example/"
        )
    return base if base.endswith("/") else base + "/"


@dataclass(frozen=True)
class EdgarUrls:
    """Every URL the downloader fetches: archives and indexes under ``base``, APIs under ``data_base``."""

    base: str = SEC_BASE_URL
    data_base: str = SEC_DATA_BASE_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", _normalise(self.base, "--base-url"))
        object.__setattr__(self, "data_base", _normalise(self.data_base, "--data-base-url"))

    def daily_index(self, day: date, kind: str = "form") -> str:
        """``Archives/edgar/daily-index/{YYYY}/QTR{q}/{kind}.{YYYYMMDD}.idx``."""
        return (
            f"{self.base}Archives/edgar/daily-index/{day.year}/QTR{quarter_of(day)}/{kind}.{day:%Y%m%d}.idx"
        )

    def quarterly_index(self, year: int, quarter: int, kind: str = "form") -> str:
        """``Archives/edgar/full-index/{YYYY}/QTR{q}/{kind}.idx``."""
        return f"{self.base}Archives/edgar/full-index/{year}/QTR{quarter}/{kind}.idx"

    def filing(self, cik: int, accession: str) -> str:
        """The full submission (SGML header + documents): ``Archives/edgar/data/{cik}/{accession}.txt``."""
        return f"{self.base}Archives/edgar/data/{int(cik)}/{accession}.txt"

    def current_feed(self, form_type: str, *, start: int = 0, count: int = 100) -> str:
        """One page of the current-filings Atom feed of one form type (EDGAR matches it as a prefix: ``4``
        lists 4 and 4/A), newest first, issuer and reporting-owner entries both: ``cgi-bin/browse-edgar``."""
        query = urlencode(
            {
                "action": "getcurrent",
                "type": form_type,
                "company": "",
                "dateb": "",
                "owner": "include",
                "start": start,
                "count": count,
                "output": "atom",
            }
        )
        return f"{self.base}cgi-bin/browse-edgar?{query}"

    def dataset_zip(self, year: int, quarter: int) -> str:
        """The SEC Insider Transactions Data Set of one quarter: ``{YYYY}q{N}_form345.zip``."""
        return f"{self.base}{DATASET_DIR}/{year}q{quarter}_form345.zip"

    def shares_frame(self, year: int, quarter: int) -> str:
        """XBRL frame of cover-page share counts at a quarter's end (instantaneous ``CY{YYYY}Q{q}I``)."""
        return f"{self.data_base}api/xbrl/frames/{FRAME_CONCEPT}/{frame_name(year, quarter)}.json"

    def company_tickers(self) -> str:
        """The SEC's current ticker map with exchanges: ``files/company_tickers_exchange.json``."""
        return f"{self.base}files/company_tickers_exchange.json"
