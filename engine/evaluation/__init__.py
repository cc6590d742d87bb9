"""Does the score predict returns: prices, the heavy-selling event test, the tear sheet, plots, report."""

from engine._faces import lazy_face

_EXPORTS = {
    "evaluate": "engine.evaluation.run",
    "EvaluationReport": "engine.evaluation.run",
    "load_prices": "engine.evaluation.prices",
    "Prices": "engine.evaluation.prices",
    "tear_sheet": "engine.evaluation.tearsheet",
    "TearSheet": "engine.evaluation.tearsheet",
    "heavy_selling_test": "engine.evaluation.event_study",
    "EventStudy": "engine.evaluation.event_study",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
