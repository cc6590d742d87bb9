"""insider-engine: SEC Form 3/4/5 filings to a point-in-time insider trading signal."""

__version__ = "0.1.0"
