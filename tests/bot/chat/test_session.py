"""The chat session driven with plain frames, a recording sink and a real SQLite database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from bot.chat.claims import MessageKey
from bot.chat.limits import Limits
from bot.chat.session import ChatSession
from bot.chat.store import DatabaseStore
from core.chat import conversations as units
from core.chat.frames import (
    Ack,
    CloseCode,
    Ended,
    EndReason,
    Error,
    ErrorCode,
    HistoryPage,
    Notice,
    NoticeKind,
    ReplyDelta,
    ReplyEnd,
    ReplyStart,
    Welcome,
)
from core.db.tables import ContentBlock, Conversation, LicenceStatus, Message
from core.licensing import visitor_tokens
from core.licensing.licensees import authenticate_chat, set_status
from core.licensing.maintenance import Window
from core.licensing.suspension import suspend
from core.moderation.matcher import Matcher, WordList
from core.ratelimit import MemoryRateLimiter, Rate
from testkit.sessions import ChatKit, Outbox
from testkit.tenants import ORIGIN

pytestmark = pytest.mark.anyio


def welcome_of(outbox: Outbox) -> Welcome:
    frame = outbox.frames[0]
    assert isinstance(frame, Welcome)
    return frame


def error_of(outbox: Outbox) -> Error:
    frame = outbox.frames[-1]
    assert isinstance(frame, Error), outbox.frames
    return frame


# ------------------------------------------------------------------ opening


async def test_a_new_end_user_is_welcomed_and_nothing_is_stored(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.connect()
    assert outbox.frames == [] and chat_kit.services.hub.of_licensee(session.licensee_id)
    await chat_kit.say(session, {"type": "hello", "visitor": None, "locale": "en"})
    welcome = welcome_of(outbox)
    assert welcome.conversation is None and welcome.history == []
    assert welcome.config.ai_label == "AI-generated"
    secret = chat_kit.services.settings.secret()
    visitor = visitor_tokens.visitor_of(secret, chat_kit.licensee.id, welcome.visitor)
    assert visitor == session.visitor_id
    assert chat_kit.count(Conversation) == 0  # opening the widget starts nothing


async def test_a_suspended_licence_is_told_and_closed_with_4403(chat_kit: ChatKit) -> None:
    with chat_kit.db.session() as s:
        set_status(s, chat_kit.licensee.id, LicenceStatus.SUSPENDED, chat_kit.clock())
        s.commit()
    session, outbox = await chat_kit.connect()
    [notice] = outbox.frames
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.SUSPENDED
    assert outbox.closed == (CloseCode.SUSPENDED, "suspended") and session.closed
    assert len(chat_kit.services.hub) == 0


async def test_during_maintenance_a_new_socket_is_told_and_closed_with_4503(
    chat_kit: ChatKit,
) -> None:
    now = chat_kit.clock()
    window = Window("mw_1", None, now - timedelta(minutes=1), now + timedelta(hours=1), "升级")
    chat_kit.services.maintenance = [window]
    _session, outbox = await chat_kit.connect()
    [notice] = outbox.frames
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.MAINTENANCE
    assert notice.text == "升级" and outbox.closed == (CloseCode.MAINTENANCE, "maintenance")


async def test_an_upcoming_window_is_announced_in_the_welcome(chat_kit: ChatKit) -> None:
    now = chat_kit.clock()
    window = Window(
        "mw_1", chat_kit.licensee.id, now + timedelta(days=1), now + timedelta(days=2), ""
    )
    chat_kit.services.maintenance = [window]
    _session, outbox = await chat_kit.connect()
    await chat_kit.say(_session, {"type": "hello", "visitor": None, "locale": "en"})
    notice = welcome_of(outbox).notice
    assert notice is not None and notice.starts_at == window.starts_at
    assert notice.text  # the product's own sentence when the window has none


async def test_frames_before_hello_get_hello_required(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.connect()
    await chat_kit.say(session, {"type": "message", "id": "early", "text": "hi"})
    error = error_of(outbox)
    assert (error.code, error.id) == (ErrorCode.HELLO_REQUIRED, "early")
    await chat_kit.say(session, {"type": "close"})
    assert error_of(outbox).code == ErrorCode.HELLO_REQUIRED
    assert chat_kit.count(Message) == 0


async def test_a_second_hello_is_a_bad_frame(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "hello", "visitor": None})
    assert outbox.types() == ["welcome", "error"] and error_of(outbox).code == ErrorCode.BAD_FRAME


# ------------------------------------------------------------------ messages


async def test_a_message_is_stored_acked_then_answered_in_order(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    outbox.take()
    await chat_kit.say(session, {"type": "message", "id": "m1", "text": "where is my order"})
    await session.answering.wait()
    ack, start, *deltas, end = outbox.frames
    assert isinstance(ack, Ack) and ack.id == "m1" and ack.conversation is not None
    assert isinstance(start, ReplyStart) and start.to == "m1"
    assert isinstance(end, ReplyEnd) and end.reply == start.reply
    assert all(isinstance(d, ReplyDelta) and d.reply == start.reply for d in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, ReplyDelta)) == end.text
    assert end.text == "echo: where is my order"
    assert (end.ai.label, end.ai.model, end.ai.content_id) == ("AI-generated", "echo-1", end.reply)
    assert session.conversation is not None and session.conversation.id == ack.conversation.id
    assert chat_kit.count(Message, role="visitor") == chat_kit.count(Message, role="robot") == 1


@pytest.mark.parametrize(
    ("locale", "question", "label"),
    [
        ("zh-CN", "where is my order", "AI-generated"),  # the question's language wins
        ("en", "我的订单在哪里", "内容由AI生成"),
        ("zh-CN", "12345", "内容由AI生成"),  # no language of its own: the widget's
    ],
)
async def test_the_ai_label_follows_the_question_language(
    chat_kit: ChatKit, locale: str, question: str, label: str
) -> None:
    session, outbox = await chat_kit.greeted(locale=locale)
    outbox.take()
    await chat_kit.say(session, {"type": "message", "id": "m1", "text": question})
    await session.answering.wait()
    end = outbox.frames[-1]
    assert isinstance(end, ReplyEnd) and end.ai.label == label


async def test_the_answerer_is_given_the_turns_before_the_question(chat_kit: ChatKit) -> None:
    session, _outbox = await chat_kit.greeted()
    for n, text in enumerate(["first", "second"]):
        await chat_kit.say(session, {"type": "message", "id": f"m{n}", "text": text})
    await session.answering.wait()
    last = chat_kit.answerer.requests[-1]
    assert [t.text for t in last.history] == ["first", "echo: first"]


async def test_a_duplicate_id_is_acked_again_and_not_answered_again(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    for _ in range(2):
        await chat_kit.say(session, {"type": "message", "id": "same", "text": "hello"})
        await session.answering.wait()
    acks = [f for f in outbox.frames if isinstance(f, Ack)]
    assert len(acks) == 2 and acks[0] == acks[1]
    assert outbox.types().count("reply.end") == 1 and chat_kit.answerer.calls == 1
    assert chat_kit.count(Message, role="visitor") == 1


async def test_a_message_after_the_idle_time_ends_the_unit_and_starts_another(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "hi"})
    await session.answering.wait()
    first = session.conversation
    assert first is not None
    outbox.take()
    chat_kit.clock.advance(minutes=31)
    await chat_kit.say(session, {"type": "message", "id": "2", "text": "back"})
    ended, ack = outbox.frames[:2]
    assert isinstance(ended, Ended) and ended.reason == EndReason.IDLE
    assert ended.conversation.id == first.id
    assert isinstance(ack, Ack) and ack.conversation is not None
    assert ack.conversation.id != first.id
    assert chat_kit.count(Conversation) == 2


async def test_a_message_when_the_store_fails_is_unavailable_and_not_answered(
    chat_kit: ChatKit,
) -> None:
    class Broken(DatabaseStore):
        async def record_message(
            self, who: units.Speaker, client_id: str, text: str, now: datetime, hold: bool = False
        ) -> units.Recorded:
            raise OSError("disk full")

    chat_kit.services.store = Broken(chat_kit.db)
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "m", "text": "hi"})
    await session.answering.wait()
    assert outbox.types() == ["welcome", "error"]
    assert (error_of(outbox).code, error_of(outbox).id) == (ErrorCode.UNAVAILABLE, "m")
    assert chat_kit.answerer.calls == 0
    assert len(chat_kit.services.claims) == 0  # the claim was let go


async def test_a_licence_suspended_meanwhile_closes_on_the_next_message(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    with chat_kit.db.session() as s:
        session.licensee = set_status(
            s, chat_kit.licensee.id, LicenceStatus.SUSPENDED, chat_kit.clock()
        )
        s.commit()
    await chat_kit.say(session, {"type": "message", "id": "m", "text": "hi"})
    assert outbox.types() == ["welcome", "notice"] and outbox.closed == (4403, "suspended")
    assert chat_kit.count(Message) == 0


async def test_a_flooding_visitor_is_rate_limited_with_a_retry_time(chat_kit: ChatKit) -> None:
    ticks = [100.0]
    chat_kit.services.limiter = MemoryRateLimiter(clock=lambda: ticks[0])
    chat_kit.services.limits = Limits(
        visitor_messages=Rate(2, 10),
        key_messages=Rate(100, 1),
        visitor_conversations=Rate(100, 1),
        key_conversations=Rate(100, 1),
        visitor_hellos=Rate(100, 1),
        address_hellos=Rate(100, 1),
    )
    session, outbox = await chat_kit.greeted()
    for n in range(3):
        await chat_kit.say(session, {"type": "message", "id": f"f{n}", "text": "spam"})
    await session.answering.wait()
    [error] = [f for f in outbox.take() if isinstance(f, Error)]
    assert (error.code, error.id, error.retry_after) == (ErrorCode.RATE_LIMITED, "f2", 5.0)
    assert chat_kit.count(Message, role="visitor") == 2
    other, other_outbox = await chat_kit.greeted()  # another end user is unaffected
    await chat_kit.say(other, {"type": "message", "id": "c", "text": "calm"})
    ticks[0] += 5  # the bucket has room again
    await chat_kit.say(session, {"type": "message", "id": "f3", "text": "later"})
    await session.answering.wait()
    assert isinstance(other_outbox.frames[1], Ack) and isinstance(outbox.frames[0], Ack)
    assert chat_kit.count(Message, role="visitor") == 4


# ------------------------------------------------------------------ bad input


async def test_ten_bad_frames_in_a_row_close_with_1008_and_a_too_long_one_resets(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    for _ in range(9):
        await session.receive_text("{not json")
    await session.receive_text(json.dumps({"type": "message", "id": "x", "text": "字" * 2001}))
    assert error_of(outbox).code == ErrorCode.MESSAGE_TOO_LONG and outbox.closed is None
    for _ in range(9):
        await session.receive_bytes()
    assert outbox.closed is None
    await session.receive_text(json.dumps({"type": "teleport"}))
    assert outbox.closed == (CloseCode.POLICY_VIOLATION, "too many bad frames")
    assert session.closed


async def test_a_good_frame_resets_the_bad_frame_count(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    for _ in range(9):
        await session.receive_text("nope")
    await chat_kit.say(session, {"type": "rating", "score": 5})
    for _ in range(9):
        await session.receive_text("nope")
    assert outbox.closed is None


async def test_a_frame_over_16_kib_closes_with_1009(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    await session.receive_text(json.dumps({"type": "message", "id": "b", "text": "x" * 17_000}))
    assert outbox.closed == (CloseCode.MESSAGE_TOO_BIG, "frame too big")
    assert error_of(outbox).code == ErrorCode.BAD_FRAME and chat_kit.count(Message) == 0


# ------------------------------------------------------------------ close, rating


async def test_close_ends_the_unit_for_every_tab_and_rating_rates_it(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "rating", "score": 5})
    assert error_of(outbox).code == ErrorCode.NO_CONVERSATION
    await chat_kit.say(session, {"type": "close"})
    assert error_of(outbox).code == ErrorCode.NO_CONVERSATION
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "hi"})
    await session.answering.wait()
    token = welcome_of(outbox).visitor
    tab, tab_outbox = await chat_kit.greeted(token)
    assert tab.conversation == session.conversation is not None
    conv_id = session.conversation.id
    await chat_kit.say(session, {"type": "close"})
    for box in (outbox, tab_outbox):
        ended = box.frames[-1]
        assert isinstance(ended, Ended) and ended.reason == EndReason.CLOSED
        assert ended.conversation.id == conv_id
    assert session.conversation is None and tab.conversation is None
    await chat_kit.say(session, {"type": "rating", "score": 4, "comment": "好"})
    rated = outbox.frames[-1]
    assert isinstance(rated, Ack) and rated.id is None
    assert rated.conversation is not None and rated.conversation.id == conv_id


# ------------------------------------------------------------------ identity


async def test_a_token_resumes_the_unit_and_a_forged_one_is_a_new_visitor(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "a", "text": "<b>bold</b>"})
    await session.answering.wait()
    token = welcome_of(outbox).visitor
    _again, again_outbox = await chat_kit.greeted(token)
    welcome = welcome_of(again_outbox)
    assert welcome.conversation is not None and welcome.visitor == token
    first = welcome.history[0]
    assert (first.role, first.text) == ("visitor", "<b>bold</b>")
    assert welcome.history[1].ai is not None and welcome.history[1].ai.model == "echo-1"
    forged = token.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    _new, new_outbox = await chat_kit.greeted(forged)
    assert welcome_of(new_outbox).conversation is None
    assert welcome_of(new_outbox).visitor != token


# ------------------------------------------------------------------ resuming


async def stored_but_unanswered(kit: ChatKit, session: ChatSession, *client_ids: str) -> None:
    """Questions of ``session``'s visitor stored and acknowledged, then the server stopped
    before answering them."""
    assert session.visitor_id is not None
    who = units.Speaker(
        kit.licensee.id, session.visitor_id, session.key_id, False, False, units.UnitPolicy()
    )
    for cid in client_ids:
        await kit.services.store.record_message(who, cid, f"lost {cid}", kit.clock())


async def test_questions_never_answered_are_answered_after_the_next_welcome(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "m1", "text": "first"})
    await session.answering.wait()
    token = welcome_of(outbox).visitor
    await stored_but_unanswered(chat_kit, session, "m2", "m3")
    back, back_outbox = await chat_kit.greeted(token)
    await back.answering.wait()
    starts = [f.to for f in back_outbox.frames if isinstance(f, ReplyStart)]
    ends = [f.text for f in back_outbox.frames if isinstance(f, ReplyEnd)]
    assert (starts, ends) == (["m2", "m3"], ["echo: lost m2", "echo: lost m3"])
    resumed = chat_kit.answerer.requests[-2:]
    assert [t.text for t in resumed[0].history] == ["first", "echo: first"]
    # Answered once: the next hello finds nothing waiting.
    _again, again_outbox = await chat_kit.greeted(token)
    await _again.answering.wait()
    assert again_outbox.types() == ["welcome"] and chat_kit.answerer.calls == 3


async def test_a_question_claimed_elsewhere_is_not_answered_by_a_hello(chat_kit: ChatKit) -> None:
    session, outbox = await chat_kit.greeted()
    token = welcome_of(outbox).visitor
    await stored_but_unanswered(chat_kit, session, "q")
    key = MessageKey(chat_kit.licensee.id, token.split(".")[0], "q")
    with chat_kit.services.claims.claim(key):  # another tab is answering it
        tab, tab_outbox = await chat_kit.greeted(token)
        await tab.answering.wait()
    assert tab_outbox.types() == ["welcome"] and chat_kit.answerer.calls == 0


# ------------------------------------------------------------------ content filter


async def test_a_blocked_question_is_refused_logged_and_kept_from_memory(
    chat_kit: ChatKit,
) -> None:
    chat_kit.services.content_filter = Matcher(WordList(("gambling",)))
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "q", "text": "best gambling site?"})
    await chat_kit.say(session, {"type": "message", "id": "r", "text": "ok then"})
    await session.answering.wait()
    ends = [f for f in outbox.frames if isinstance(f, ReplyEnd)]
    assert ends[0].ai.model == "kefu-filter" and "gambling" not in ends[0].text
    assert chat_kit.answerer.calls == 1  # the blocked question never reached the answerer
    assert all("gambling" not in t.text for t in chat_kit.answerer.requests[0].history)
    assert chat_kit.count(ContentBlock, direction="question") == 1


async def test_after_stop_running_answers_are_stored_but_nothing_is_sent(
    chat_kit: ChatKit,
) -> None:
    chat_kit.answerer.delay = 0.01
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "q", "text": "slow"})
    await session.stop()
    assert "reply.end" not in outbox.types()
    assert chat_kit.count(Message, role="robot") == 1
    assert len(chat_kit.services.hub) == 0 and len(chat_kit.services.claims) == 0


# ------------------------------------------------------------------ bounded work (issue 11)


def use_settings(chat_kit: ChatKit, **changes: object) -> None:
    chat_kit.services.settings = chat_kit.services.settings.model_copy(update=changes)


async def hello(chat_kit: ChatKit, session: ChatSession, visitor: str | None) -> None:
    await chat_kit.say(session, {"type": "hello", "visitor": visitor, "locale": "en"})


async def test_alternating_a_live_and_a_test_socket_cannot_skip_the_conversation_limit(
    chat_kit: ChatKit,
) -> None:
    limits = chat_kit.services.limits
    chat_kit.services.limits = replace(limits, visitor_conversations=Rate(3, 3600))
    live, live_out = await chat_kit.greeted()
    token = welcome_of(live_out).visitor
    trial, trial_out = await chat_kit.connect(chat_kit.keys.test_site_key)
    await hello(chat_kit, trial, token)
    for n in range(10):  # each socket believes the other's unit is open and its own goes on
        session = live if n % 2 == 0 else trial
        await chat_kit.say(session, {"type": "message", "id": f"m{n}", "text": "hi"})
        await session.answering.wait()
    assert chat_kit.count(Conversation) == 3
    limited = [
        f
        for f in live_out.frames + trial_out.frames
        if isinstance(f, Error) and f.code == ErrorCode.RATE_LIMITED
    ]
    assert len(limited) == 7 and all(f.retry_after and f.retry_after > 0 for f in limited)


async def test_test_keys_start_at_most_the_daily_allowance_and_the_widget_is_told(
    chat_kit: ChatKit,
) -> None:
    use_settings(chat_kit, test_conversations_per_day=2)
    live, live_out = await chat_kit.greeted()
    assert welcome_of(live_out).config.test is False
    for _ in range(3):
        session, outbox = await chat_kit.connect(chat_kit.keys.test_site_key)
        await hello(chat_kit, session, None)
        assert welcome_of(outbox).config.test is True
        await chat_kit.say(session, {"type": "message", "id": "m", "text": "hi"})
        await session.answering.wait()
    error = error_of(outbox)
    assert (error.code, error.id) == (ErrorCode.RATE_LIMITED, "m")
    assert error.retry_after is not None and 0 < error.retry_after <= 24 * 3600
    assert chat_kit.count(Conversation, test=True) == 2
    await chat_kit.say(live, {"type": "message", "id": "m", "text": "hi"})  # live keys go on
    assert chat_kit.count(Conversation, test=False) == 1


async def test_the_welcome_carries_the_latest_messages_and_earlier_ones_come_by_page(
    chat_kit: ChatKit,
) -> None:
    use_settings(chat_kit, welcome_history=3)
    first, first_out = await chat_kit.greeted()
    for n in range(4):  # four questions, four answers
        await chat_kit.say(first, {"type": "message", "id": f"m{n}", "text": f"q{n}"})
        await first.answering.wait()
    again, again_out = await chat_kit.connect()
    await hello(chat_kit, again, welcome_of(first_out).visitor)
    welcome = welcome_of(again_out)
    assert len(welcome.history) == 3 and welcome.more_history is True
    assert [item.text for item in welcome.history] == ["echo: q2", "q3", "echo: q3"]
    await chat_kit.say(again, {"type": "history", "before": welcome.history[0].id, "limit": 10})
    page = again_out.frames[-1]
    assert isinstance(page, HistoryPage) and page.more is False
    assert [item.text for item in page.items] == ["q0", "echo: q0", "q1", "echo: q1", "q2"]


async def test_a_history_page_of_someone_elses_message_is_empty(chat_kit: ChatKit) -> None:
    owner, _ = await chat_kit.greeted()
    await chat_kit.say(owner, {"type": "message", "id": "m", "text": "secret"})
    await owner.answering.wait()
    theirs = chat_kit.db.read(lambda c: c.execute(select(Message.id)).scalars().first())
    stranger, outbox = await chat_kit.greeted()
    await chat_kit.say(stranger, {"type": "history", "before": theirs, "limit": 5})
    assert outbox.frames[-1] == HistoryPage(items=[], more=False)


async def test_hellos_are_limited_per_end_user_and_per_address(chat_kit: ChatKit) -> None:
    chat_kit.services.limits = replace(
        chat_kit.services.limits, visitor_hellos=Rate(2, 60), address_hellos=Rate(3, 60)
    )
    _, outbox = await chat_kit.greeted()
    token = welcome_of(outbox).visitor
    outcomes = []
    for _ in range(2):
        again, again_out = await chat_kit.connect()
        await hello(chat_kit, again, token)
        outcomes.append(again_out.types())
    assert outcomes == [["welcome"], ["error"]]
    assert error_of(again_out).code == ErrorCode.RATE_LIMITED and again.visitor_id is None

    with chat_kit.db.read_session() as s:
        ctx = authenticate_chat(s, chat_kit.keys.site_key, ORIGIN, None)
    seen = []
    for address in ["203.0.113.5"] * 4 + ["198.51.100.7"]:
        session = ChatSession(chat_kit.services, ctx, Outbox(), address)
        chat_kit.sessions.append(session)
        box = session.sink
        assert isinstance(box, Outbox)
        await hello(chat_kit, session, None)
        seen.append(box.types())
    assert seen == [["welcome"]] * 3 + [["error"], ["welcome"]]


async def test_a_suspension_the_socket_has_not_heard_of_starts_nothing_and_closes_at_once(
    chat_kit: ChatKit,
) -> None:
    _, other_out = await chat_kit.greeted()
    session, outbox = await chat_kit.greeted()
    with chat_kit.db.session() as s:  # made elsewhere: these sessions still hold the old row
        suspend(s, chat_kit.licensee.id, chat_kit.clock())
        s.commit()
    assert session.licensee.status == LicenceStatus.ACTIVE
    await chat_kit.say(session, {"type": "message", "id": "m", "text": "hi"})
    assert outbox.types() == ["welcome", "notice"] and outbox.closed == (4403, "suspended")
    assert other_out.closed == (4403, "suspended")  # told now, not at the next watch
    assert chat_kit.count(Conversation) == 0 and chat_kit.count(Message) == 0


async def test_a_suspension_ends_an_open_unit_and_the_next_message_starts_none(
    chat_kit: ChatKit,
) -> None:
    session, outbox = await chat_kit.greeted()
    await chat_kit.say(session, {"type": "message", "id": "m1", "text": "hi"})
    await session.answering.wait()
    with chat_kit.db.session() as s:
        suspend(s, chat_kit.licensee.id, chat_kit.clock())
        s.commit()
    await chat_kit.say(session, {"type": "message", "id": "m2", "text": "again"})
    assert outbox.types()[-2:] == ["ended", "notice"] and outbox.closed == (4403, "suspended")
    assert chat_kit.count(Conversation) == 1 and chat_kit.count(Message, role="visitor") == 1
