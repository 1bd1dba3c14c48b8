"""Frames made in one turn of the event loop leave in one write, in order; nothing waits longer."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from bot.ws_protocol import TurnBufferedTransport

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1234)}.get(name, default)


def buffered() -> tuple[TurnBufferedTransport, Recorder]:
    raw = Recorder()
    return TurnBufferedTransport(cast(asyncio.Transport, raw), asyncio.get_running_loop()), raw


async def test_one_turns_frames_are_one_write_in_order() -> None:
    t, raw = buffered()
    for frame in (b"ack", b"start", b"delta"):
        t.write(frame)
    assert raw.writes == []  # not yet: the turn is not over
    await asyncio.sleep(0)
    assert raw.writes == [b"ackstartdelta"]
    t.write(b"end")
    await asyncio.sleep(0)
    assert raw.writes == [b"ackstartdelta", b"end"]


async def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    t, raw = buffered()
    t.write(b"bye")
    t.close()
    assert raw.writes == [b"bye"] and raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert raw.writes == [b"bye"]

    t, raw = buffered()
    t.write(b"lost")
    t.abort()
    await asyncio.sleep(0)
    assert raw.writes == [] and raw.aborted


async def test_nothing_is_written_once_the_transport_is_closing() -> None:
    t, raw = buffered()
    t.write(b"late")
    raw.closed = True  # the peer went away meanwhile
    await asyncio.sleep(0)
    assert raw.writes == []


async def test_everything_else_is_the_transports_own() -> None:
    t, raw = buffered()
    assert t.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert t.is_closing() is False
    raw.closed = True
    assert t.is_closing() is True


async def test_writelines_and_write_eof_keep_the_order() -> None:
    t, raw = buffered()
    eofs: list[int] = []
    raw.write_eof = lambda: eofs.append(len(raw.writes))  # type: ignore[attr-defined]
    t.write(b"a")
    t.writelines([b"b", b"c"])
    t.write_eof()
    assert raw.writes == [b"abc"] and eofs == [1]  # the pending frames went first


async def test_the_protocol_writes_through_the_buffer() -> None:
    """What uvicorn is given: its protocol, writing each turn's frames in one write."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from bot.ws_protocol import CoalescingWebSocketsProtocol

    config = Config(app=lambda *a: None, ws=CoalescingWebSocketsProtocol)
    config.load()
    protocol = CoalescingWebSocketsProtocol(config, ServerState(), app_state={})
    raw = Recorder()
    protocol.connection_made(cast(asyncio.Transport, raw))
    assert isinstance(protocol.transport, TurnBufferedTransport)
    protocol.transport.write(b"x")
    protocol.transport.write(b"y")
    await asyncio.sleep(0)
    assert raw.writes == [b"xy"]
