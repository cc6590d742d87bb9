"""insider-engine: SEC Form 3/4/5 filings to a point-in-time insider trading signal."""

from engine._faces import lazy_face

__version__ = "0.1.0"

_EXPORTS = {
    "score": "engine.scoring.run",
    "score_asof": "engine.scoring.run",
    "score_file": "engine.scoring.incremental",
    "ScoreConfig": "engine.scoring.config",
    "explain": "engine.scoring.explain",
    "compare": "engine.evaluation.compare",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
