"""A local fake EDGAR on 127.0.0.1 serving real filings under EDGAR's URL layout, with fault injection."""

from engine._faces import lazy_face

_EXPORTS = {
    "FakeEdgar": "engine.replay.server",
    "ReplayProcess": "engine.replay.server",
    "load_filings": "engine.replay.server",
    "load_filing": "engine.replay.server",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
