"""SCORING.md as code: config, eligibility and amendment rules, the lazy events pipeline, market caps,
numba kernels with their plain-Python twins, the slow reference, the run and the live cross-section of
insider watch."""

from engine._faces import lazy_face

_EXPORTS = {
    "score": "engine.scoring.run",
    "score_asof": "engine.scoring.run",
    "score_run": "engine.scoring.run",
    "ScoreRun": "engine.scoring.run",
    "score_file": "engine.scoring.incremental",
    "ScoreFile": "engine.scoring.incremental",
    "SCORE_COLUMNS": "engine.scoring.run",
    "ScoreConfig": "engine.scoring.config",
    "MarketCaps": "engine.scoring.market_caps",
    "load_market_caps": "engine.scoring.market_caps",
    "reference_score": "engine.scoring.reference",
    "eligible_trades": "engine.scoring.rules",
    "clean_ticker": "engine.scoring.rules",
    "point_in_time_caps": "engine.scoring.caps_from_prices",
    "ticker_table": "engine.scoring.tickers",
    "TickerTable": "engine.scoring.tickers",
    "resolve_issuers": "engine.scoring.tickers",
    "read_company_tickers": "engine.scoring.tickers",
    "live_scores": "engine.scoring.live",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
