"""uvicorn's HTTP protocol with a deadline: a connection must send its first request in time."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def timed_http_protocol(timeout: float) -> type[asyncio.Protocol]:
    """An HTTP protocol class that closes a connection whose first request (a page, or a
    WebSocket handshake) is not complete ``timeout`` seconds after it connected: uvicorn itself
    holds a half-sent request forever, and each one costs a socket and memory."""

    class TimedHTTPProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline = asyncio.get_running_loop().call_later(timeout, self._expire)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _expire(self) -> None:
            # A request whose headers arrived has a cycle; an upgraded socket has moved on to
            # the WebSocket protocol (and the hello deadline, bot/ws.py).
            transport = self.transport
            if (
                self.cycle is None
                and transport.get_protocol() is self
                and not transport.is_closing()
            ):
                transport.close()

    return TimedHTTPProtocol
