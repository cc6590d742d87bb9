"""What every local fake server shares: an aiohttp app served on 127.0.0.1, in this loop or in a thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web


class LocalServer:
    """Serve ``self.app()`` on 127.0.0.1; use as ``async with`` or ``start_in_thread``/``stop_thread``.

    Subclasses define ``app()`` and call ``_init_server()`` when they are constructed."""

    thread_name = "local-server"

    def _init_server(self) -> None:
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""

    def app(self) -> web.Application:
        """The aiohttp application to serve."""
        raise NotImplementedError

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (an ephemeral port by default); returns the base URL ``http://127.0.0.1:N/``."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        return self.base_url

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, port: int = 0) -> str:
        """Serve from a background thread with its own event loop (for a client in another loop)."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start(port))
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name=self.thread_name, daemon=True)
        self._thread.start()
        ready.wait(30)
        return self.base_url

    def stop_thread(self) -> None:
        """Stop a server started by :meth:`start_in_thread`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._thread = None
