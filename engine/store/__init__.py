"""The Parquet store: every dataset's layout (the tables, the download manifest, shares outstanding), atomic
writes, the accession codec and index, and local-file ingest."""

from engine._faces import lazy_face

_EXPORTS = {
    "Store": "engine.store.datasets",
    "WriteResult": "engine.store.datasets",
    "AccessionIndex": "engine.store.indexes",
    "Manifest": "engine.store.manifest",
    "scan_shares_outstanding": "engine.store.shares",
    "ingest": "engine.store.ingest",
    "IngestReport": "engine.store.ingest",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
