"""Paths to the fixtures shipped in the repository (tests never read ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FILINGS = FIXTURES / "filings"


@pytest.fixture(scope="session")
def filings_dir() -> Path:
    """The 608 real EDGAR ownership filings copied from shared/data/filings, with MANIFEST.csv."""
    return FILINGS
