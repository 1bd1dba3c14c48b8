"""A unit started after the service end is served and its row flagged beyond term, through the
same day a month later; from the next day, nothing starts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.tables import Conversation
from core.licensing.service_period import add_months, start_of_day
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio


async def test_units_after_the_end_are_flagged_and_after_a_month_refused(
    chat_kit: ChatKit,
) -> None:
    lic = chat_kit.licensee
    end = start_of_day(lic.service_end, lic.timezone)  # midnight starting the last day
    moments = [
        (end + timedelta(hours=23, minutes=59), False),  # the last day, 23:59
        (end + timedelta(days=1), True),  # the next midnight: beyond term
        (start_of_day(add_months(lic.service_end, 1), lic.timezone) + timedelta(hours=23), True),
    ]
    for i, (moment, beyond) in enumerate(moments):
        chat_kit.clock.now = moment
        session, outbox = await chat_kit.greeted()
        await chat_kit.say(session, {"type": "message", "id": f"m{i}", "text": "hi"})
        await session.answering.wait()
        assert "ack" in outbox.types(), outbox.frames
        await chat_kit.say(session, {"type": "close"})
        assert chat_kit.count(Conversation, beyond_term=beyond) >= 1
    assert chat_kit.count(Conversation, beyond_term=True) == 2
    assert chat_kit.count(Conversation, beyond_term=False) == 1
    chat_kit.clock.now = start_of_day(
        add_months(lic.service_end, 1) + timedelta(days=1), lic.timezone
    )
    session, outbox = await chat_kit.connect()
    await chat_kit.say(session, {"type": "hello", "visitor": None, "locale": "en"})
    await chat_kit.say(session, {"type": "message", "id": "late", "text": "hi"})
    assert outbox.closed is not None and outbox.closed[0] == 4403
    assert chat_kit.count(Conversation) == 3
