"""``python -m engine.replay FILINGS_DIR``: the fake EDGAR as its own process, serving until killed."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from engine.replay.filings import load_filings, synthetic_copies
from engine.replay.server import FakeEdgar


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.replay FILINGS_DIR [--port N] [--latency S] [--copies N]``: serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m engine.replay", description=main.__doc__)
    parser.add_argument("filings", type=Path, help="directory of .txt/.xml ownership filings")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--gzip", action="store_true", help="gzip bodies for clients that accept it")
    parser.add_argument("--copies", type=int, default=0, help="serve N synthetic copies instead (volume)")
    parser.add_argument("--port-file", type=Path, help="write the base URL here once listening")
    args = parser.parse_args(argv)
    filings = load_filings(args.filings)
    if args.copies:
        filings = synthetic_copies(filings, args.copies)
    server = FakeEdgar(filings, latency=args.latency, gzip=args.gzip)

    async def run() -> None:
        url = await server.start(args.port)
        if args.port_file:
            args.port_file.write_text(url)
        print(f"fake EDGAR with {len(filings)} filings at {url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
