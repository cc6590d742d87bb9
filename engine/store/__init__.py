"""The Parquet store: every dataset's layout, atomic writes, the accession index and local-file ingest."""

from engine._faces import lazy_face

_EXPORTS = {
    "Store": "engine.store.datasets",
    "WriteResult": "engine.store.datasets",
    "AccessionIndex": "engine.store.indexes",
    "ingest": "engine.store.ingest",
    "IngestReport": "engine.store.ingest",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
