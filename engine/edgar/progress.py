"""Download progress: a tqdm bar (rate, ETA, bytes, failures) on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("engine.edgar.download")


def _human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


class Progress:
    """Counts filings stored and failed, and bytes; a bar on a TTY, else a line every ``interval`` s."""

    def __init__(
        self,
        total: int = 0,
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        interval: float = 10.0,
        description: str = "filings",
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self.total = total
        self.done = 0
        self.bytes = 0
        self.failed = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar = (
            tqdm(total=total or None, unit="filing", desc=description, file=self.stream, dynamic_ncols=True)
            if self.interactive
            else None
        )

    def add_total(self, count: int) -> None:
        """More work discovered (the range is discovered quarter by quarter)."""
        self.total += count
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def update(self, *, done: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        """Record finished filings, bytes received and failures."""
        self.done += done
        self.bytes += nbytes
        self.failed += failed
        if self._bar is not None:
            self._bar.update(done + failed)
            self._bar.set_postfix_str(f"{_human_bytes(self.bytes)}, {self.failed} failed", refresh=False)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._emit(now)

    def line(self) -> str:
        """One human line: done/total, rate, ETA, bytes, failures."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        finished = self.done + self.failed
        rate = finished / elapsed
        eta = (self.total - finished) / rate if rate and self.total >= finished else float("nan")
        eta_text = f"{eta:.0f} s" if eta == eta else "?"
        return (
            f"{finished}/{self.total} filings, {rate:.1f}/s, ETA {eta_text}, "
            f"{_human_bytes(self.bytes)}, {self.failed} failed"
        )

    def _emit(self, now: float) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {self.line()}", file=self.stream, flush=True)

    def close(self) -> None:
        """Finish the bar, or print the final line."""
        if self._bar is not None:
            self._bar.close()
        else:
            self._emit(time.monotonic())
