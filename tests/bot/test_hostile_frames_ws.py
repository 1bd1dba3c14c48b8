"""Hostile frames over a real server: each gets ``bad_frame``, the socket stays open, and
nothing a client sends puts an error or a traceback in the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.chat.frames import parse_client_frame
from core.db.tables import Message
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio

DEEP = 1200
LONE = "\ud800"

HOSTILE: dict[str, str] = {
    "array nested 1,200 deep": "[" * DEEP + "]" * DEEP,
    "object nested 1,200 deep": '{"a":' * DEEP + "1" + "}" * DEEP,
    "text nested 1,200 deep": '{"type":"message","id":"d","text":' + "[" * DEEP + "]" * DEEP + "}",
    "type is a list": json.dumps({"type": ["message"], "id": "l", "text": "hi"}),
    "type is an object": json.dumps({"type": {"a": 1}, "id": "o", "text": "hi"}),
    "type is a number": json.dumps({"type": 7}),
    "lone surrogate in a message id": json.dumps({"type": "message", "id": LONE, "text": "hi"}),
    "lone surrogate in a message text": json.dumps(
        {"type": "message", "id": "t", "text": f"a{LONE}b"}
    ),
    "low surrogate alone in text": json.dumps({"type": "message", "id": "u", "text": "\udc00"}),
    "lone surrogate in a rating comment": json.dumps(
        {"type": "rating", "score": 5, "comment": LONE}
    ),
    "lone surrogate in an unknown field": json.dumps({"type": "close", "extra": LONE}),
    "lone surrogate in a key": json.dumps({"type": "close", LONE: 1}),
    "lone surrogate as the type": json.dumps({"type": LONE}),
    "an integer of 5,000 digits": '{"type":"rating","score":' + "9" * 5000 + "}",
    "NaN as a score": '{"type":"rating","score":NaN}',
}


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Every record of the run, uvicorn's own included (its loggers do not propagate)."""
    caplog.set_level(logging.DEBUG)
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error")]
    for logger in uvicorn_loggers:
        logger.addHandler(caplog.handler)
    yield caplog.records
    for logger in uvicorn_loggers:
        logger.removeHandler(caplog.handler)


def test_every_hostile_frame_is_a_frame_error() -> None:
    from core.chat.frames import ErrorCode, FrameError

    for name, raw in HOSTILE.items():
        with pytest.raises(FrameError) as info:
            parse_client_frame(raw)
        assert info.value.code == ErrorCode.BAD_FRAME, name
        assert info.value.client_id is None or info.value.client_id.isprintable(), name


def test_a_hello_with_a_lone_surrogate_in_its_identity_is_still_a_hello() -> None:
    hello = parse_client_frame(
        json.dumps({"type": "hello", "visitor": LONE, "user": {"id": LONE, "hash": "ab"}})
    )
    assert hello.type == "hello" and hello.visitor is None and hello.user is None
    paired = parse_client_frame(json.dumps({"type": "message", "id": "p", "text": "\U0001f600"}))
    assert paired.type == "message" and paired.text == "\U0001f600"


async def test_hostile_frames_get_bad_frame_and_leave_the_socket_open(
    live: LiveServer, make_tenant: MakeTenant, log_records: list[logging.LogRecord]
) -> None:
    t = make_tenant()
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    await chat.send(HOSTILE["array nested 1,200 deep"])  # before hello too
    assert (await chat.expect("error"))["code"] == "bad_frame"
    await chat.hello(visitor=LONE)
    for name, raw in HOSTILE.items():
        await chat.send(raw)
        error = await chat.expect("error")
        assert error["code"] == "bad_frame" and error["id"] in (None, "d", "l", "o"), name
        # An accepted frame in between, so that the ten-in-a-row close never comes.
        await chat.send({"type": "close"})
        assert (await chat.expect("error"))["code"] == "no_conversation", name
    ack, frames = await chat.ask("ok", "still here")
    assert ack["id"] == "ok" and frames[-1]["type"] == "reply.end"
    await chat.close()
    query = select(func.count()).select_from(Message.__table__)  # type: ignore[attr-defined]
    stored = live.services.db.read(lambda conn: conn.execute(query).scalar_one())
    assert stored == 2  # "still here" and its answer: no hostile text was stored
    loud = [r for r in log_records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    assert not any("Traceback" in r.getMessage() for r in log_records)
