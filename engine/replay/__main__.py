"""``python -m engine.replay FILINGS_DIR``: the fake EDGAR as its own process."""

from engine.replay.server import main

raise SystemExit(main())
