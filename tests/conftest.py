"""Paths to the fixtures shipped in the repository (tests never read ../shared), per-test time limits and
Hypothesis's settings and seed."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import is_hypothesis_test, settings

FIXTURES = Path(__file__).parent / "fixtures"
FILINGS = FIXTURES / "filings"

LONG_TIMEOUT = 900
"""Seconds a ``slow`` test (whole corpus, subprocesses) or a Hypothesis test may take; others get
pyproject's ``timeout``. Shrinking a Hypothesis failure took over 120 s on this machine under load, and a
timeout then would lose the falsifying example."""

# CI: no deadline (a loaded machine is not a bug) and every failing example printed as a
# @reproduce_failure blob. The run's seed (header) repeats its draws; a seeded run bypasses the example
# database, which only local runs keep (.hypothesis, replayed first on the next run).
settings.register_profile("ci", deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def filings_dir() -> Path:
    """The 608 real EDGAR ownership filings copied from shared/data/filings, with MANIFEST.csv."""
    return FILINGS


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """One Hypothesis seed for the run: ``--hypothesis-seed``, else HYPOTHESIS_SEED, else (in CI) a fresh
    random one, so that the header's seed repeats every draw of a failed CI run."""
    if config.getoption("hypothesis_seed") is not None:
        return
    chosen = os.environ.get("HYPOTHESIS_SEED")
    if chosen is None and os.environ.get("CI"):
        chosen = str(random.SystemRandom().randrange(2**32))
    if chosen is not None:
        config.option.hypothesis_seed = chosen


def pytest_report_header(config: pytest.Config) -> str:
    """The Hypothesis profile and seed, and how to repeat the run's draws."""
    seed = config.getoption("hypothesis_seed")
    profile = settings.get_current_profile_name()
    if seed is None:
        return f"hypothesis profile {profile!r}: random draws, failing examples replayed from .hypothesis"
    return f"hypothesis profile {profile!r}, seed {seed}: HYPOTHESIS_SEED={seed} pytest ... repeats its draws"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` and Hypothesis tests get LONG_TIMEOUT seconds unless they set their own ``timeout`` mark."""
    for item in items:
        long = item.get_closest_marker("slow") or is_hypothesis_test(getattr(item, "obj", None))
        if long and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT))
