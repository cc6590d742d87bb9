"""A local fake EDGAR on 127.0.0.1 serving real filings under EDGAR's URL layout, with fault injection:
filings (real submissions and synthetic copies), indexes (form.idx, master.idx), the current-filings feed of
a scripted day (feed), server, process."""

from engine._faces import lazy_face

_EXPORTS = {
    "ReplayFiling": "engine.replay.filings",
    "load_filing": "engine.replay.filings",
    "load_filings": "engine.replay.filings",
    "synthetic_copies": "engine.replay.filings",
    "wrap_submission": "engine.replay.filings",
    "form_index": "engine.replay.indexes",
    "master_index": "engine.replay.indexes",
    "FakeEdgar": "engine.replay.server",
    "Hit": "engine.replay.server",
    "RATE_PAGE": "engine.replay.server",
    "UNDECLARED_PAGE": "engine.replay.server",
    "max_in_window": "engine.replay.server",
    "windows_over": "engine.replay.server",
    "ReplayProcess": "engine.replay.process",
    "FakeTiingo": "engine.replay.tiingo",
    "LocalServer": "engine.replay.local",
    "CurrentFeed": "engine.replay.feed",
    "FeedFault": "engine.replay.feed",
    "Publication": "engine.replay.feed",
    "ReplayClock": "engine.replay.feed",
    "as_owner": "engine.replay.feed",
    "evenly": "engine.replay.feed",
    "restamp": "engine.replay.feed",
    "scripted_day": "engine.replay.feed",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
