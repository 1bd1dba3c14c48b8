"""Hand-off through the two state machines, without a server: an end user's chat session and an
agent's console session on one process, a real database and a recording sink each."""

from __future__ import annotations

from typing import TypeVar

import pytest
from sqlmodel import col, select

from bot.chat.agent_session import AgentSession
from bot.chat.limits import Limits
from bot.chat.session import ChatSession
from core.chat import handoff
from core.chat.agent_frames import (
    AgentAck,
    AgentError,
    AgentErrorCode,
    AgentOut,
    Assigned,
    ConversationEnded,
    ConversationMessage,
    EndUserTyping,
    Queue,
    Released,
)
from core.chat.frames import (
    Ack,
    AgentMessage,
    AgentTyping,
    Ended,
    EndReason,
    Error,
    ErrorCode,
    Handoff,
    HandoffStatus,
    ReplyEnd,
    Role,
    Welcome,
)
from core.chat.handoff_rules import save_rules
from core.db.tables import Conversation, LeftMessage, Message
from core.licensing import visitor_tokens
from core.ratelimit import MemoryRateLimiter, Rate
from testkit.sessions import ChatKit, Outbox

pytestmark = pytest.mark.anyio
F = TypeVar("F")


class Console:
    """An agent console's sink."""

    def __init__(self) -> None:
        self.frames: list[AgentOut] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, frame: AgentOut) -> None:
        self.frames.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def take(self) -> list[AgentOut]:
        frames, self.frames = self.frames, []
        return frames

    def of(self, kind: type[F]) -> list[F]:
        return [f for f in self.frames if isinstance(f, kind)]


async def console(
    kit: ChatKit, n: int = 1, licensee_id: str | None = None
) -> tuple[AgentSession, Console]:
    agent = handoff.Agent(f"u_agent_{n}", f"Agent {n}", licensee_id or kit.licensee.id)
    sink = Console()
    session = AgentSession(kit.services, agent, sink)
    await session.start()
    return session, sink


async def asks(kit: ChatKit, session: ChatSession, outbox: Outbox) -> Handoff:
    await kit.say(session, {"type": "message", "id": "m1", "text": "转人工"})
    await session.answering.wait()
    frames = outbox.take()
    assert [f.type for f in frames] == ["ack", "handoff"], frames
    frame = frames[1]
    assert isinstance(frame, Handoff)
    return frame


async def greet(kit: ChatKit, locale: str) -> tuple[ChatSession, Outbox]:
    session, outbox = await kit.greeted(locale=locale)
    outbox.take()
    return session, outbox


def conversation_of(session: ChatSession) -> str:
    assert session.conversation is not None
    return session.conversation.id


async def test_nobody_there_offers_a_message_and_the_robot_stays_quiet(chat_kit: ChatKit) -> None:
    session, outbox = await greet(chat_kit, locale="en")
    frame = await asks(chat_kit, session, outbox)
    assert frame.status == HandoffStatus.UNAVAILABLE and "message" in frame.text
    assert chat_kit.answerer.calls == 0  # the phrase was for a person, not the robot
    await chat_kit.say(
        session, {"type": "leave", "contact": "ann@example.com", "text": "Call me about my order"}
    )
    [ack] = outbox.take()
    assert isinstance(ack, Ack) and ack.id is None
    assert chat_kit.count(LeftMessage) == 1
    await session.receive_text('{"type": "leave", "contact": "", "text": "x"}')
    await chat_kit.say(session, {"type": "leave", "contact": "  ", "text": "x"})
    errors = outbox.take()
    assert [e.code for e in errors if isinstance(e, Error)] == [ErrorCode.BAD_FRAME] * 2
    assert chat_kit.count(LeftMessage) == 1


async def test_left_messages_and_history_pages_spend_the_end_users_rate(
    chat_kit: ChatKit,
) -> None:
    """Requests that are not chat messages are charged to the same buckets: past the rate,
    ``rate_limited`` with a retry time, and nothing is stored."""
    chat_kit.services.limiter = MemoryRateLimiter(clock=lambda: 100.0)
    chat_kit.services.limits = Limits(
        visitor_messages=Rate(2, 10),
        key_messages=Rate(100, 1),
        visitor_conversations=Rate(100, 1),
        key_conversations=Rate(100, 1),
        visitor_hellos=Rate(100, 1),
        address_hellos=Rate(100, 1),
    )
    session, outbox = await greet(chat_kit, locale="en")
    await chat_kit.say(session, {"type": "history", "before": "msg_none", "limit": 5})
    for n in range(2):
        await chat_kit.say(
            session, {"type": "leave", "contact": "ann@example.com", "text": f"q{n}"}
        )
    errors = [f for f in outbox.take() if isinstance(f, Error)]
    assert [(e.code, e.retry_after) for e in errors] == [(ErrorCode.RATE_LIMITED, 5.0)]
    assert chat_kit.count(LeftMessage) == 1
    await chat_kit.say(session, {"type": "history", "before": "msg_none", "limit": 5})
    assert [f.code for f in outbox.take() if isinstance(f, Error)] == [ErrorCode.RATE_LIMITED]


async def test_a_whole_hand_off_both_ways(chat_kit: ChatKit) -> None:
    agent, desk = await console(chat_kit)
    assert isinstance(desk.take()[0], Queue)
    session, outbox = await greet(chat_kit, locale="en")
    frame = await asks(chat_kit, session, outbox)
    assert frame.status == HandoffStatus.QUEUED and frame.position == 1 and frame.wait
    conv = conversation_of(session)
    [queue] = desk.take()
    assert isinstance(queue, Queue) and [i.conversation for i in queue.items] == [conv]
    assert queue.items[0].preview == "转人工"

    await chat_kit.say(session, {"type": "message", "id": "m2", "text": "my parcel is late"})
    await session.answering.wait()
    assert outbox.types() == ["ack"]  # queued: no robot answer
    outbox.take()

    await agent.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    frames = desk.take()
    assigned = next(f for f in frames if isinstance(f, Assigned))
    assert [h.text for h in assigned.history] == ["转人工", "my parcel is late"]
    assert assigned.end_user is not None and assigned.end_user.locale == "en"
    assert any(isinstance(f, Queue) and f.items == [] for f in frames)
    [told] = outbox.take()
    assert isinstance(told, Handoff) and told.status == HandoffStatus.ASSIGNED
    assert told.agent is not None and told.agent.name == "Agent 1"

    # Agent -> end user, with markup kept as text; the same id twice arrives once.
    raw = f'{{"type": "message", "conversation": "{conv}", "id": "a1", "text": "<img src=x>"}}'
    await agent.receive_text(raw)
    await agent.receive_text(raw)
    said = [f for f in outbox.take() if isinstance(f, AgentMessage)]
    assert len(said) == 1 and said[0].text == "<img src=x>" and said[0].agent.name == "Agent 1"
    frames = desk.take()
    assert [f.id for f in frames if isinstance(f, AgentAck)] == ["a1", "a1"]
    assert len([f for f in frames if isinstance(f, ConversationMessage)]) == 1

    # End user -> agent: ack only, no robot.
    await chat_kit.say(session, {"type": "message", "id": "m3", "text": "thanks!"})
    await session.answering.wait()
    assert outbox.types() == ["ack"]
    outbox.take()
    [relayed] = desk.take()
    assert isinstance(relayed, ConversationMessage) and relayed.message.text == "thanks!"
    assert relayed.message.role == Role.VISITOR
    assert chat_kit.answerer.calls == 0

    # Typing both ways.
    await chat_kit.say(session, {"type": "typing", "on": True})
    [typing] = desk.take()
    assert isinstance(typing, EndUserTyping) and typing.on
    await agent.receive_text(f'{{"type": "typing", "conversation": "{conv}", "on": true}}')
    [agent_typing] = outbox.take()
    assert isinstance(agent_typing, AgentTyping) and agent_typing.on

    # The agent closes: the end user gets ended/agent, one unit, and can rate it.
    await agent.receive_text(f'{{"type": "close", "conversation": "{conv}"}}')
    [ended] = outbox.take()
    assert isinstance(ended, Ended) and ended.reason == EndReason.AGENT
    assert any(isinstance(f, ConversationEnded) for f in desk.take())
    assert chat_kit.count(Conversation) == 1
    await chat_kit.say(session, {"type": "rating", "score": 5})
    [rated] = outbox.take()
    assert isinstance(rated, Ack) and rated.id is None


async def test_reload_and_reconnect_get_their_state_from_the_database(chat_kit: ChatKit) -> None:
    agent, _desk = await console(chat_kit)
    session, outbox = await greet(chat_kit, locale="zh-CN")
    await asks(chat_kit, session, outbox)
    conv = conversation_of(session)
    await agent.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    outbox.take()
    # The end user's second tab, with the stored visitor token.
    with chat_kit.db.read_session() as s:
        visitor = s.execute(select(col(Conversation.visitor_id))).scalar_one()
    assert visitor == session.visitor_id
    token = visitor_tokens.issue(chat_kit.services.settings.secret(), chat_kit.licensee.id, visitor)
    tab, tab_out = await chat_kit.connect()
    await chat_kit.say(tab, {"type": "hello", "visitor": token, "locale": "zh-CN"})
    welcome = tab_out.frames[0]
    assert isinstance(welcome, Welcome) and welcome.handoff is not None
    assert welcome.handoff.status == HandoffStatus.ASSIGNED
    assert welcome.config.handoff  # the licensee has agents: the widget offers a person
    # The agent's console reconnects (a reload, or the server restarted).
    await agent.stop()
    again, again_desk = await console(chat_kit)
    assigned = again_desk.of(Assigned)
    assert [a.conversation for a in assigned] == [conv]
    # Messages reach both tabs of the end user.
    await again.receive_text(
        f'{{"type": "message", "conversation": "{conv}", "id": "z", "text": "在的"}}'
    )
    assert [f.type for f in outbox.take()] == ["agent.message"]
    assert [f.type for f in tab_out.take()][-1] == "agent.message"


async def test_release_gives_it_back_to_the_robot(chat_kit: ChatKit) -> None:
    agent, desk = await console(chat_kit)
    session, outbox = await greet(chat_kit, locale="en")
    await asks(chat_kit, session, outbox)
    conv = conversation_of(session)
    await agent.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    outbox.take()
    desk.take()
    await agent.receive_text(f'{{"type": "release", "conversation": "{conv}"}}')
    [back] = outbox.take()
    assert isinstance(back, Handoff) and back.status == HandoffStatus.RETURNED
    assert any(isinstance(f, Released) for f in desk.take())
    await chat_kit.say(session, {"type": "message", "id": "m9", "text": "what are your hours?"})
    await session.answering.wait()
    assert "reply.end" in outbox.types()  # the robot answers again
    # Released: the agent may no longer write there.
    await agent.receive_text(
        f'{{"type": "message", "conversation": "{conv}", "id": "late", "text": "hi"}}'
    )
    [error] = desk.take()
    assert isinstance(error, AgentError) and error.code == AgentErrorCode.NOT_YOURS


async def test_two_agents_one_conversation(chat_kit: ChatKit) -> None:
    first, first_desk = await console(chat_kit, 1)
    second, second_desk = await console(chat_kit, 2)
    session, _outbox = await asks_ready(chat_kit)
    conv = conversation_of(session)
    first_desk.take()
    second_desk.take()
    await first.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    await second.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    assert first_desk.of(Assigned)
    [error] = second_desk.of(AgentError)
    assert error.code == AgentErrorCode.TAKEN
    assert not second_desk.of(Assigned)


async def asks_ready(kit: ChatKit) -> tuple[ChatSession, Outbox]:
    session, outbox = await greet(kit, locale="en")
    await asks(kit, session, outbox)
    return session, outbox


async def test_another_licensees_agent_gets_errors_and_changes_nothing(chat_kit: ChatKit) -> None:
    from core.licensing.licensees import create_licensee

    with chat_kit.db.session() as s:
        other, _ = create_licensee(
            s, name="Other", origins=["https://other.example.com"], now=chat_kit.clock()
        )
        s.commit()
    _mine, _mine_desk = await console(chat_kit, 1)
    theirs, theirs_desk = await console(chat_kit, 2, licensee_id=other.id)
    session, outbox = await asks_ready(chat_kit)
    conv = conversation_of(session)
    assert all(isinstance(f, Queue) and f.items == [] for f in theirs_desk.take())
    for raw in (
        f'{{"type": "accept", "conversation": "{conv}"}}',
        f'{{"type": "transcript", "conversation": "{conv}"}}',
        f'{{"type": "message", "conversation": "{conv}", "id": "x", "text": "hi"}}',
        f'{{"type": "close", "conversation": "{conv}"}}',
    ):
        await theirs.receive_text(raw)
    codes = [f.code for f in theirs_desk.take() if isinstance(f, AgentError)]
    assert codes == [AgentErrorCode.NOT_FOUND] * 4
    assert outbox.take() == []
    with chat_kit.db.read_session() as s:
        assert s.execute(select(col(Conversation.ended_at))).scalar_one() is None
        assert len(s.execute(select(col(Message.id))).all()) == 1


async def test_a_visitor_cannot_send_agent_frames(chat_kit: ChatKit) -> None:
    session, outbox = await greet(chat_kit, locale="en")
    for raw in (
        '{"type": "accept", "conversation": "conv_x"}',
        '{"type": "agent.message", "id": "a", "text": "hi", "agent": {"name": "x"}}',
        '{"type": "release", "conversation": "conv_x"}',
    ):
        await session.receive_text(raw)
    assert [f.code for f in outbox.frames if isinstance(f, Error)] == [ErrorCode.BAD_FRAME] * 3


async def test_the_end_user_leaving_takes_the_request_off_the_queue(chat_kit: ChatKit) -> None:
    _agent, desk = await console(chat_kit)
    session, _outbox = await asks_ready(chat_kit)
    desk.take()
    await chat_kit.say(session, {"type": "close"})
    queues = desk.of(Queue)
    assert queues and queues[-1].items == []
    with chat_kit.db.read_session() as s:
        assert handoff.queue(s, chat_kit.licensee.id) == []


async def test_the_robots_dont_know_offers_a_person_only_with_agents(chat_kit: ChatKit) -> None:
    session, outbox = await greet(chat_kit, locale="en")
    await chat_kit.say(session, {"type": "message", "id": "q1", "text": "something unknown"})
    await session.answering.wait()
    end = [f for f in outbox.take() if isinstance(f, ReplyEnd)]
    assert end and not end[0].handoff  # no agents: no button
    await console(chat_kit)
    chat_kit.services.desk.forget_rules(chat_kit.licensee.id)
    other, other_out = await greet(chat_kit, locale="en")
    await chat_kit.say(other, {"type": "message", "id": "q1", "text": "something unknown"})
    await other.answering.wait()
    end = [f for f in other_out.take() if isinstance(f, ReplyEnd)]
    assert end and end[0].handoff
    with chat_kit.db.session() as s:
        save_rules(s, chat_kit.licensee.id, offer_on_dont_know=False, now=chat_kit.clock())
        s.commit()
    chat_kit.services.desk.forget_rules(chat_kit.licensee.id)
    third, third_out = await greet(chat_kit, locale="en")
    await chat_kit.say(third, {"type": "message", "id": "q1", "text": "something unknown"})
    await third.answering.wait()
    end = [f for f in third_out.take() if isinstance(f, ReplyEnd)]
    assert end and not end[0].handoff


async def test_the_handoff_button_starts_a_unit_when_none_is_open(chat_kit: ChatKit) -> None:
    await console(chat_kit)
    session, outbox = await greet(chat_kit, locale="zh-CN")
    await chat_kit.say(session, {"type": "handoff"})
    await session.answering.wait()
    frames = outbox.take()
    assert [f.type for f in frames] == ["ack", "handoff"]
    assert isinstance(frames[1], Handoff) and frames[1].status == HandoffStatus.QUEUED
    assert chat_kit.count(Conversation) == 1
    with chat_kit.db.read_session() as s:
        [text] = s.execute(select(col(Message.text))).scalars().all()
    assert text == "转人工"
    assert chat_kit.answerer.calls == 0
