"""The socket's sink: an end user who leaves while a frame is on its way stops the sending only
(the answer goes on and is stored), never with an exception in the answering pipeline."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from bot.ws import SocketSink
from core.chat.frames import ReplyStart

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LeavingSocket:
    """Still "connected" as the application sees it, but the client's close is on its way."""

    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.tries = 0

    async def send_text(self, _data: str) -> None:
        self.tries += 1
        raise WebSocketDisconnect(code=1006)


async def test_a_send_to_a_socket_that_is_closing_is_dropped_quietly() -> None:
    socket = LeavingSocket()
    sink = SocketSink(cast(WebSocket, cast(Any, socket)))
    await sink.send(ReplyStart(reply="msg_1", to="q1"))  # no exception
    assert socket.tries == 1
