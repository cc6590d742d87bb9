"""Does the score predict returns: price sources and the store's prices, the heavy-selling event test,
event-time returns, the tear sheet, plots, report.md and report.html."""

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
    "event_time_returns": "engine.evaluation.event_time",
    "PriceSource": "engine.evaluation.price_sources",
    "PriceRequest": "engine.evaluation.price_sources",
    "FilePrices": "engine.evaluation.price_sources",
    "TiingoPrices": "engine.evaluation.price_sources",
    "tiingo_client": "engine.evaluation.price_sources",
    "update_prices": "engine.evaluation.price_store",
    "plan_requests": "engine.evaluation.price_store",
    "scan_prices": "engine.evaluation.price_store",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
