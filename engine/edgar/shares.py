"""Cover-page shares outstanding, point in time, from the XBRL frames API: fetching the store's
``shares_outstanding`` (parsed by ``parsers.xbrl_frames``, stored by ``engine.store.shares``).

One request per quarter, ``api/xbrl/frames/dei/EntityCommonStockSharesOutstanding/shares/CY{YYYY}Q{q}I.json``,
gives one fact per filer (cik, entityName, end, val, accn). A frame has no filing date, and a fact must
not be used before it was filed, so ``filed`` comes from EDGAR's quarterly ``xbrl.idx`` (every XBRL
filing with its date) of the frame's quarter and the next one; a fact whose filing is in neither stays
with ``filed`` null. A frame fetched again replaces the stored one (the SEC revises frames as late
filers arrive).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from engine.edgar.calendar import next_quarter
from engine.edgar.http import EdgarClient, FetchError
from engine.edgar.urls import EdgarUrls
from engine.store.datasets import Store
from engine.store.shares import write_frame
from parsers.index import IndexFormatError, parse_index
from parsers.xbrl_frames import frame_name, parse_frame

FIRST_FRAME = (2009, 2)
"""Cover-page dei facts start with the 2009 XBRL phase-in."""


@dataclass
class SharesReport:
    """Facts stored per frame, and what could not be fetched."""

    frames: dict[str, int] = field(default_factory=dict)
    unfiled: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line."""
        return (
            f"shares outstanding: {sum(self.frames.values())} facts in {len(self.frames)} frames, "
            f"{self.unfiled} without a known filing date, {len(self.failures)} frames not fetched"
            + "".join(f"\n  {url}: {reason}" for url, reason in sorted(self.failures.items()))
        )


async def fetch_shares_outstanding(
    store: Store,
    client: EdgarClient,
    urls: EdgarUrls,
    quarters: Iterable[tuple[int, int]],
) -> SharesReport:
    """Fetch and store the frame of each quarter, with filing dates from the quarterly xbrl.idx."""
    report = SharesReport()
    filed_cache: dict[tuple[int, int], dict[str, date]] = {}

    async def filing_dates(year: int, quarter: int) -> dict[str, date]:
        if (year, quarter) not in filed_cache:
            url = urls.quarterly_index(year, quarter, kind="xbrl")
            dates: dict[str, date] = {}
            try:
                data = await client.get(url, missing_ok=True)
                if data:
                    table = parse_index(data, forms=None)
                    dates = dict(
                        zip(
                            table.column("accession").to_pylist(),
                            table.column("date_filed").to_pylist(),
                            strict=True,
                        )
                    )
            except (FetchError, IndexFormatError) as exc:
                report.failures[url] = str(exc)
            filed_cache[(year, quarter)] = dates
        return filed_cache[(year, quarter)]

    for year, quarter in quarters:
        url = urls.shares_frame(year, quarter)
        try:
            data = await client.get(url, missing_ok=True)
        except FetchError as exc:
            report.failures[url] = exc.reason
            continue
        if data is None:
            report.failures[url] = "no such frame (HTTP 403/404)"
            continue
        filed = {**await filing_dates(*next_quarter((year, quarter))), **await filing_dates(year, quarter)}
        frame = frame_name(year, quarter)
        try:
            table = parse_frame(data, frame=frame, filed=filed)
        except ValueError as exc:
            report.failures[url] = str(exc)
            continue
        write_frame(store, frame, table)
        report.frames[frame] = table.num_rows
        report.unfiled += table.column("filed").null_count
    return report
