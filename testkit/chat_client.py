"""A protocol v1 test client over a real WebSocket (the ``websockets`` library)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from testkit.tenants import ORIGIN


class Chat:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.welcome: dict[str, Any] | None = None

    @classmethod
    async def open(
        cls,
        ws_url: str,
        key: str | None,
        *,
        origin: str | None = ORIGIN,
        headers: dict[str, str] | None = None,
    ) -> Chat:
        query = f"?key={key}" if key is not None else ""
        conn = await connect(
            f"{ws_url}/v1/chat{query}",
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            compression=None,
            max_size=None,
            # Unread frames must not stop the client from reading the server's close reply.
            max_queue=None,
            open_timeout=5,
        )
        return cls(conn)

    @classmethod
    async def start(
        cls,
        ws_url: str,
        key: str | None,
        visitor: str | None = None,
        *,
        locale: str | None = "zh-CN",
        origin: str | None = ORIGIN,
    ) -> Chat:
        """Open a socket and say hello (the welcome is kept in ``welcome``)."""
        chat = await cls.open(ws_url, key, origin=origin)
        await chat.hello(visitor, locale)
        return chat

    async def hello(
        self, visitor: str | None = None, locale: str | None = "zh-CN"
    ) -> dict[str, Any]:
        await self.send({"type": "hello", "visitor": visitor, "locale": locale})
        self.welcome = await self.expect("welcome")
        return self.welcome

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, wait: float = 5) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), wait)
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def expect(self, kind: str, wait: float = 5) -> dict[str, Any]:
        frame = await self.recv(wait)
        assert frame["type"] == kind, frame
        return frame

    async def ask(self, client_id: str, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a message; return its ack and every frame up to and including reply.end."""
        await self.send({"type": "message", "id": client_id, "text": text})
        ack = await self.expect("ack")
        return ack, await self.answer()

    async def answer(self) -> list[dict[str, Any]]:
        """The frames up to and including the next reply.end."""
        frames = [await self.recv()]
        while frames[-1]["type"] != "reply.end":
            frames.append(await self.recv())
        return frames

    async def close_code(self) -> int | None:
        """Read until the server closes the socket; return its close code."""
        with contextlib.suppress(ConnectionClosed):
            while True:  # callers bound the whole wait; a busy machine may be slow to act
                await self.recv(wait=60)
        await self.conn.close()
        return self.conn.close_code

    async def close(self) -> None:
        await self.conn.close()
