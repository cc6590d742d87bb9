"""insider-engine: SEC Form 3/4/5 filings to a point-in-time insider trading signal."""

__version__ = "0.1.0"

__all__ = ["ScoreConfig", "score", "score_asof"]


def __getattr__(name: str):
    """``engine.score``, ``engine.score_asof``, ``engine.ScoreConfig``, imported on first use so that
    ``import engine`` (and the CLI) stays light."""
    if name in ("score", "score_asof"):
        from engine import scoring

        return getattr(scoring, name)
    if name == "ScoreConfig":
        from engine.config import ScoreConfig

        return ScoreConfig
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
