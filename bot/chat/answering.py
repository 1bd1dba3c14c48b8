"""The answering pipeline of one session: question -> filter -> answerer -> reply -> records.

Answers run as tasks beside the session's frame loop, one at a time and in the order their
questions came, each after the frame it must not overtake (its question's ``ack``). Every
answer ends with exactly one ``reply.end`` and one stored reply: the answerer's, or the
server's own safe sentence when it failed or the content filter stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot import metrics
from bot.answerers.contract import AnswerRequest, CallRecord, Final, Turn
from bot.answerers.language import question_language
from bot.chat.accounting import Blocked, Direction, account
from bot.chat.claims import Claim
from bot.chat.memory import Memory
from bot.chat.prefetch import prefetch
from bot.chat.reply import Reply
from bot.chat.services import ChatServices
from bot.chat.store import ReplyRecord, attempt
from core.chat import branding
from core.chat import conversations as units
from core.chat.frames import AiLabel, ReplyEnd, ReplyStart, Role, ServerFrame, SourceRef
from core.db.tables import Licensee
from core.ids import new_id

log = logging.getLogger("kefu.chat")


@dataclass(frozen=True, slots=True)
class Question:
    """A stored visitor message to answer."""

    client_id: str
    text: str
    conversation: units.ConvRef


class Asker(Protocol):
    """Who is asked, read when the answer starts (the licence watcher may refresh the
    licensee meanwhile)."""

    @property
    def licensee(self) -> Licensee: ...

    @property
    def lang(self) -> str: ...

    @property
    def visitor_id(self) -> str | None: ...


class Answering:
    def __init__(
        self,
        services: ChatServices,
        asker: Asker,
        send: Callable[[ServerFrame], Awaitable[None]],
        memory: Memory,
    ) -> None:
        self.s = services
        self._asker = asker
        self._send = send
        self.memory = memory
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, question: Question, claim: Claim, after: asyncio.Event) -> None:
        """Answer ``question`` once ``after`` is set, holding ``claim`` until it is done."""
        task = asyncio.create_task(self.answer(question, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _task: claim.release())

    async def wait(self) -> None:
        """Until every answer started so far has stored its reply (a socket gone meanwhile only
        stops the sending)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def answer(self, question: Question, after: asyncio.Event) -> None:
        await after.wait()  # reply.start never overtakes the ack
        async with self._lock:
            asker = self._asker
            # The answer, its AI label and any fixed text follow the question's language.
            licensee, lang = asker.licensee, question_language(question.text, asker.lang)
            reply = Reply(self._send, new_id("msg"))
            calls: list[CallRecord] = []
            final: Final | None = None
            blocked: Blocked | None = None
            matcher = self.s.content_filter
            self.memory.follow(question.conversation.id)
            try:
                await self._send(ReplyStart(reply=reply.reply_id, to=question.client_id))
                index = await self.s.index_cache.get(licensee.id, licensee.kb_version)
                # Retrieval is CPU work: in the work pool, licensees taking turns.
                index = await prefetch(self.s.workpool, licensee.id, index, question.text)
                request = AnswerRequest(
                    licensee_id=licensee.id,
                    question=question.text,
                    locale="zh-CN" if lang == "zh" else "en",
                    history=self.memory.history(),
                    index=index,
                    conversation_id=question.conversation.id,
                    business=licensee.title or licensee.name,
                    report=calls.append,
                )
                hit = matcher.find(question.text) if matcher is not None else None
                if hit is not None:
                    blocked = Blocked(Direction.QUESTION, hit.term)
                else:
                    answerer = await self.s.answerers.for_licensee(licensee)
                    final, term = await reply.stream(answerer.stream(request), matcher)
                    if term is not None:
                        blocked, final = Blocked(Direction.ANSWER, term), None
            except Exception:
                log.exception("answering failed; sending the safe answer")
                final = None
            try:
                await self._finish(reply, question, licensee.id, lang, blocked, final)
            finally:
                await account(
                    self.s.store,
                    licensee_id=licensee.id,
                    conversation_id=question.conversation.id,
                    reply_id=reply.reply_id,
                    calls=calls,
                    blocked=blocked,
                    now=self.s.clock(),
                )

    async def _finish(
        self,
        reply: Reply,
        question: Question,
        licensee_id: str,
        lang: str,
        blocked: Blocked | None,
        final: Final | None,
    ) -> None:
        """The answer's last pieces, its record and reply.end."""
        streamed = blocked is None and final is not None
        if blocked is not None or final is None:
            if blocked is None:
                text, model = branding.SORRY[lang], branding.SAFE_MODEL
            else:
                asked = blocked.direction == Direction.QUESTION
                text = (branding.REFUSAL if asked else branding.WITHHELD)[lang]
                model = branding.FILTER_MODEL
            final = Final(
                producer=branding.AI_CONTENT_PRODUCER, model=model, sources=(), resolved=False
            )
            # Never a model's partial text under the server's own label.
            with contextlib.suppress(Exception):
                await reply.replace(text)
        with contextlib.suppress(Exception):
            await reply.close()
        full = reply.text
        ai = AiLabel(
            label=branding.AI_LABEL[lang],
            producer=final.producer,
            model=final.model,
            content_id=reply.reply_id,
        )
        sources = [SourceRef(id=e.id, question=e.question) for e in final.sources]
        asked_blocked = blocked is not None and blocked.direction == Direction.QUESTION
        self.memory.remember(Turn(Role.VISITOR, question.text), allowed=not asked_blocked)
        # An answer that streamed through the filter unblocked is allowed as it stands; the
        # server's own replacement sentences are checked like any text.
        self.memory.remember(Turn(Role.ROBOT, full), allowed=True if streamed else None)
        visitor_id = self._asker.visitor_id
        assert visitor_id is not None
        stored = ReplyRecord(
            licensee_id=licensee_id,
            visitor_id=visitor_id,
            conversation_id=question.conversation.id,
            message_id=reply.reply_id,
            text=full,
            ai=ai.model_dump(),
            sources=[s.model_dump() for s in sources],
            resolved=final.resolved,
        )
        await attempt("storing a reply", self.s.store.record_reply(stored, self.s.clock()))
        with contextlib.suppress(Exception):  # the end user left: the answer is stored anyway
            await self._send(ReplyEnd(reply=reply.reply_id, text=full, ai=ai, sources=sources))
            metrics.answer_sent()
