"""The fake EDGAR in a child process, steered over HTTP: honest arrival times for rate accounting."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from engine.replay.server import Hit


class ReplayProcess:
    """The fake EDGAR in a child process (``python -m engine.replay``), steered over ``/_replay/``.

    Arrival times are then stamped by a process that does nothing else, which is what rate
    accounting needs when the client under test runs on the same machine."""

    def __init__(
        self, filings_dir: Path, *, workdir: Path, latency: float = 0.0, gzip: bool = False, copies: int = 0
    ) -> None:
        port_file = workdir / "replay-url"
        port_file.unlink(missing_ok=True)
        command = (
            [
                sys.executable,
                "-m",
                "engine.replay",
                str(filings_dir),
                "--port-file",
                str(port_file),
                "--latency",
                str(latency),
            ]
            + (["--gzip"] if gzip else [])
            + (["--copies", str(copies)] if copies else [])
        )
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake EDGAR did not start (exit {self.process.poll()})")
            time.sleep(0.05)
        self.base_url = port_file.read_text().strip()

    def _call(self, action: str, **query: object) -> object:
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        with urllib.request.urlopen(f"{self.base_url}_replay/{action}?{params}", timeout=30) as answer:
            return json.loads(answer.read())

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        match: str = "/Archives/edgar/data/",
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """As :meth:`FakeEdgar.inject`, in the child."""
        self._call("inject", kind=kind, times=times, match=match, retry_after=retry_after, delay=delay)

    def hits(self) -> list[Hit]:
        """Every request the child has served."""
        return [Hit(*row) for row in self._call("hits")]  # type: ignore[union-attr]

    def stop(self) -> None:
        """End the child."""
        self.process.terminate()
        self.process.wait(30)
