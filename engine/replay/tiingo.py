"""A local fake of Tiingo's end-of-day prices API on 127.0.0.1, for tests, the README test and the demo.

``GET /tiingo/daily/<ticker>/prices?startDate=YYYY-MM-DD&endDate=YYYY-MM-DD`` answers Tiingo's JSON rows
(``date`` as ``YYYY-MM-DDT00:00:00.000Z``, ``close``, ``high``, ``low``, ``open``, ``volume``, the
``adj*`` fields, ``divCash``, ``splitFactor``) from a ``PRICES_SCHEMA`` table; an unknown ticker is a
404 with Tiingo's ``detail``; a request without the key (``Authorization: Token <key>`` or ``?token=``)
a 401. Faults (a status, optionally with ``Retry-After``) are queued with :meth:`FakeTiingo.inject`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from aiohttp import web

from engine.replay.local import LocalServer


@dataclass(frozen=True)
class PriceHit:
    """One request as the fake saw it."""

    at: float
    ticker: str
    start: str | None
    end: str | None
    status: int


@dataclass
class FakeTiingo(LocalServer):
    """The fake: ``prices`` (``PRICES_SCHEMA`` columns) served to callers presenting ``api_key``."""

    thread_name = "fake-tiingo"

    prices: pl.DataFrame
    api_key: str = "test-key"
    hits: list[PriceHit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: list[tuple[int, str | None]] = []
        self._init_server()

    def inject(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` price requests with ``status`` (429 with ``Retry-After`` when given)."""
        self._faults += [(status, retry_after)] * times

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header == f"Token {self.api_key}" or request.query.get("token") == self.api_key

    async def _prices(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"].upper()
        start, end = request.query.get("startDate"), request.query.get("endDate")
        response = self._answer(request, ticker, start, end)
        self.hits.append(PriceHit(time.monotonic(), ticker, start, end, response.status))
        return response

    def _answer(self, request: web.Request, ticker: str, start: str | None, end: str | None) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"detail": "Invalid token."}, status=401)
        if self._faults:
            status, retry_after = self._faults.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return web.json_response({"detail": f"fault {status}"}, status=status, headers=headers)
        rows = self.prices.filter(pl.col("ticker") == ticker)
        if rows.is_empty():
            return web.json_response({"detail": f"Error: Ticker '{ticker}' not found"}, status=404)
        if start:
            rows = rows.filter(pl.col("date") >= date.fromisoformat(start))
        if end:
            rows = rows.filter(pl.col("date") <= date.fromisoformat(end))
        return web.Response(body=json.dumps(_tiingo_rows(rows.sort("date"))), content_type="application/json")

    def app(self) -> web.Application:
        """Tiingo's daily prices path."""
        application = web.Application()
        application.router.add_get("/tiingo/daily/{ticker}/prices", self._prices)
        return application


def _tiingo_rows(rows: pl.DataFrame) -> list[dict]:
    out = []
    for r in rows.iter_rows(named=True):
        close, adjusted = r["close"], r["adj_close"]
        raw = close if close is not None else adjusted
        out.append(
            {
                "date": f"{r['date'].isoformat()}T00:00:00.000Z",
                "close": raw,
                "high": raw,
                "low": raw,
                "open": raw,
                "volume": r["volume"],
                "adjClose": adjusted,
                "adjHigh": adjusted,
                "adjLow": adjusted,
                "adjOpen": adjusted,
                "adjVolume": r["volume"],
                "divCash": r["dividend"],
                "splitFactor": r["split_factor"],
            }
        )
    return out
