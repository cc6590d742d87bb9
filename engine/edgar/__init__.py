"""EDGAR access: its calendar, URLs, the shared rate budget, the HTTP client (gateway), discovery, download,
manifest, data-set backfill and XBRL shares outstanding (orchestration)."""

from engine._faces import lazy_face

_EXPORTS = {
    "today_in_new_york": "engine.edgar.calendar",
    "EdgarUrls": "engine.edgar.urls",
    "EdgarClient": "engine.edgar.http",
    "FetchError": "engine.edgar.http",
    "RateLimiter": "engine.edgar.rate_limit",
    "download_range": "engine.edgar.download",
    "DownloadReport": "engine.edgar.download",
    "Manifest": "engine.edgar.manifest",
    "ingest_zip_files": "engine.edgar.backfill",
    "fetch_shares_outstanding": "engine.edgar.shares",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
