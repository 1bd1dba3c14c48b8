"""The answering pipeline: one reply.end and one stored reply per question, whatever happens."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from bot.answerers.contract import (
    Answerer,
    AnswerEvent,
    AnswerRequest,
    CallOutcome,
    CallRecord,
    Delta,
)
from bot.answerers.contract import Final as AnswerFinal
from bot.chat.answering import Answering, Question
from bot.chat.claims import MessageKey
from bot.chat.memory import Memory
from bot.chat.workpool import WorkPool
from core.chat import branding
from core.chat import conversations as units
from core.chat.frames import ReplyDelta, ReplyEnd, ReplyRestart, ReplyStart, ServerFrame
from core.db.tables import ContentBlock, Licensee, Message, ModelCall
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows
from core.moderation.matcher import Matcher, WordList
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio
T = TypeVar("T")


@dataclass
class Asker:
    licensee: Licensee
    lang: str = "en"
    visitor_id: str | None = "v_1"


class Scripted:
    """Streams the given events once, reporting one model call."""

    name = "scripted"

    def __init__(self, *events: AnswerEvent, fail: bool = False) -> None:
        self.events = events
        self.fail = fail

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        request.report(CallRecord("openai-compatible", "m-1", 10, 5, 0, 50, 10, CallOutcome.OK))
        for event in self.events:
            yield event
        if self.fail:
            raise RuntimeError("the stream broke")


FINAL = AnswerFinal(producer="openai-compatible", model="m-1", sources=(), resolved=True)


async def answer(
    kit: ChatKit, answerer: Answerer, question: str = "hi", send_fails: bool = False
) -> list[ServerFrame]:
    """Answer ``question`` in a stored unit with ``answerer``; the frames sent."""
    kit.services.answerers.fixed = answerer
    who = units.Speaker(kit.licensee.id, "v_1", kit.site_key_id, False, False, units.UnitPolicy())
    rec = await kit.services.store.record_message(who, "q", question, kit.clock())
    assert isinstance(rec, units.Recorded)
    frames: list[ServerFrame] = []

    async def send(frame: ServerFrame) -> None:
        if send_fails and isinstance(frame, ReplyEnd):
            raise ConnectionResetError("the end user left")
        frames.append(frame)

    answering = Answering(
        kit.services, Asker(kit.licensee), send, Memory(kit.services.content_filter)
    )
    done = asyncio.Event()
    done.set()
    claim = kit.services.claims.claim(MessageKey(kit.licensee.id, "v_1", "q"))
    answering.start(Question("q", question, rec.conversation), claim, done)
    await answering.wait()
    assert len(kit.services.claims) == 0
    return frames


def shown(frames: list[ServerFrame]) -> str:
    text = ""
    for frame in frames:
        if isinstance(frame, ReplyRestart):
            text = ""
        elif isinstance(frame, ReplyDelta):
            text += frame.text
    return text


async def test_an_answer_is_streamed_stored_and_its_call_recorded(chat_kit: ChatKit) -> None:
    frames = await answer(chat_kit, Scripted(Delta("Hello "), Delta("there."), FINAL))
    start, end = frames[0], frames[-1]
    assert isinstance(start, ReplyStart) and start.to == "q"
    assert isinstance(end, ReplyEnd) and end.text == shown(frames) == "Hello there."
    assert (end.ai.producer, end.ai.model) == ("openai-compatible", "m-1")
    assert chat_kit.count(Message, role="robot", text="Hello there.") == 1
    assert chat_kit.count(ModelCall, model="m-1") == 1


async def test_a_broken_stream_becomes_the_safe_answer_never_a_partial_one(
    chat_kit: ChatKit,
) -> None:
    frames = await answer(chat_kit, Scripted(Delta("Half an ans"), fail=True))
    end = frames[-1]
    assert isinstance(end, ReplyEnd) and end.text == branding.SORRY["en"]
    assert end.ai.model == branding.SAFE_MODEL and shown(frames) == end.text
    assert chat_kit.count(Message, role="robot", text=branding.SORRY["en"]) == 1
    assert chat_kit.count(ModelCall) == 1  # the call is on the ledger all the same


async def test_a_blocked_answer_is_withheld_and_logged_under_its_model(chat_kit: ChatKit) -> None:
    chat_kit.services.content_filter = Matcher(WordList(("gambling",)))
    frames = await answer(chat_kit, Scripted(Delta("Try a gam"), Delta("bling site."), FINAL))
    end = frames[-1]
    assert isinstance(end, ReplyEnd) and end.text == branding.WITHHELD["en"]
    assert end.ai.model == branding.FILTER_MODEL and "gam" not in shown(frames)
    assert chat_kit.count(ContentBlock, direction="answer", model="m-1") == 1


async def test_a_reply_is_stored_even_when_the_end_user_left(chat_kit: ChatKit) -> None:
    await answer(chat_kit, Scripted(Delta("Stored anyway."), FINAL), send_fails=True)
    assert chat_kit.count(Message, role="robot", text="Stored anyway.") == 1


async def test_a_new_knowledge_base_reaches_the_next_answer(chat_kit: ChatKit) -> None:
    """The licence watcher hands sessions the licensee's new row; its kb_version moves."""
    from bot.jobs.licence_watcher import LicenceWatcher

    watcher = LicenceWatcher(chat_kit.services)
    session, outbox = await chat_kit.greeted()
    await watcher.check_once()
    chat_kit.clock.advance(seconds=1)
    with chat_kit.db.session() as s:
        row = KbRow(question="how do I get a refund", answer="Open the order, choose Refund.")
        import_rows(s, chat_kit.licensee.id, [row], chat_kit.clock())
        s.commit()
    await watcher.check_once()
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "refund please"})
    await session.answering.wait()
    end = outbox.frames[-1]
    assert isinstance(end, ReplyEnd) and end.text == "Open the order, choose Refund."


async def test_retrieval_runs_in_the_work_pool_under_the_licensee(chat_kit: ChatKit) -> None:
    """A question's retrieval never runs on the event loop, and queues as its licensee's."""
    from bot.answerers.knowledge_base import KnowledgeBaseAnswerer

    with chat_kit.db.session() as s:
        row = KbRow(question="how do I get a refund", answer="Open the order, choose Refund.")
        import_rows(s, chat_kit.licensee.id, [row], chat_kit.clock())
        s.commit()
    seen: list[tuple[str, int]] = []

    class Recording(WorkPool):
        async def run(self, licensee_id: str, fn: Callable[[], T]) -> T:
            def noted() -> T:
                seen.append((licensee_id, threading.get_ident()))
                return fn()

            return await super().run(licensee_id, noted)

    chat_kit.services.workpool = Recording()
    frames = await answer(chat_kit, KnowledgeBaseAnswerer(), "refund please")
    chat_kit.services.workpool.close()
    end = frames[-1]
    assert isinstance(end, ReplyEnd) and end.text == "Open the order, choose Refund."
    assert [who for who, _ in seen] == [chat_kit.licensee.id]
    assert seen[0][1] != threading.get_ident()
