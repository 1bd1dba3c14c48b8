"""uvicorn's WebSocket protocol, with the frames of one event-loop turn sent in one write.

Each frame uvicorn sends is its own ``transport.write``: a system call, and on loopback or a
virtual machine's network the whole delivery of a TCP segment. An answer from the knowledge base
is four frames (``ack``, ``reply.start``, ``reply.delta``, ``reply.end``), most of them made in
the same turn of the event loop; written together they cost one. Frames still leave in the order
they were made, at the end of the turn that made them, and nothing is held past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class TurnBufferedTransport:
    """A transport whose writes in one turn of the event loop go out as one ``write``.

    Everything but writing and closing is the wrapped transport's own; ``close`` and ``write_eof``
    send what is pending first, ``abort`` drops it, as a transport's own buffer would.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingWebSocketsProtocol(WebSocketsSansIOProtocol):
    """``websockets-sansio`` as uvicorn runs it, writing through a ``TurnBufferedTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        buffered = TurnBufferedTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(buffered)  # type: ignore[arg-type]
