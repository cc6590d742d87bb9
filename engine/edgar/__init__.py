"""EDGAR access: its calendar, URLs, the shared rate budget, the HTTP client (gateway), discovery, download
(recorded in the store's manifest), data-set backfill, XBRL shares outstanding and the live watch with its
event outputs (orchestration)."""

from engine._faces import lazy_face

_EXPORTS = {
    "today_in_new_york": "engine.edgar.calendar",
    "EdgarUrls": "engine.edgar.urls",
    "EdgarClient": "engine.edgar.http",
    "PoliteClient": "engine.edgar.http",
    "FetchError": "engine.edgar.http",
    "RateLimiter": "engine.edgar.rate_limit",
    "download_range": "engine.edgar.download",
    "DownloadReport": "engine.edgar.download",
    "ingest_zip_files": "engine.edgar.backfill",
    "fetch_shares_outstanding": "engine.edgar.shares",
    "Watcher": "engine.edgar.watch",
    "WatchSettings": "engine.edgar.watch_state",
    "WatchReport": "engine.edgar.watch_state",
    "EventWriter": "engine.edgar.alerts",
    "WebhookSender": "engine.edgar.alerts",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
