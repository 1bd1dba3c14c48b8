"""The idle sweeper, run by hand with a moved clock: units end when their idle time ran out."""

from __future__ import annotations

import pytest

from bot.jobs.sweeper import sweep_once
from core.chat.frames import Ended, EndReason
from core.db.tables import Conversation
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio


async def test_a_lapsed_unit_is_ended_and_every_tab_is_told(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "hi"})
    await session.answering.wait()
    conv = session.conversation
    assert conv is not None
    tab, tab_outbox = await chat_kit.greeted(outbox.frames[0].visitor)  # type: ignore[union-attr]

    chat_kit.clock.advance(minutes=29)
    assert await sweep_once(chat_kit.services) == 0  # not idle long enough yet
    chat_kit.clock.advance(minutes=2)
    assert await sweep_once(chat_kit.services) == 1
    for box in (outbox, tab_outbox):
        ended = box.frames[-1]
        assert isinstance(ended, Ended) and ended.reason == EndReason.IDLE
        assert ended.conversation.id == conv.id
    assert session.conversation is None and tab.conversation is None
    assert chat_kit.count(Conversation, end_reason="idle") == 1
    assert await sweep_once(chat_kit.services) == 0


async def test_nobody_connected_is_still_swept(chat_kit: ChatKit) -> None:
    session, _outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "hi"})
    await session.stop()
    chat_kit.clock.advance(hours=25)
    assert await sweep_once(chat_kit.services) == 1
    assert chat_kit.count(Conversation, end_reason="idle") == 1
