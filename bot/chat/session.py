"""The chat engine: one ChatSession per socket turns client frames into server frames (no I/O).

The socket layer (bot/ws.py) hands it raw text and two callables, ``send`` and ``close``; every
rule of protocol v1 lives here, and every rule of usage units lives in core.chat.conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlmodel import Session

from bot.answerers import knowledge_base as kb_answerer
from bot.answerers.contract import (
    AnswerEvent,
    AnswerRequest,
    CallOutcome,
    CallRecord,
    Delta,
    Final,
    Restart,
    Turn,
)
from bot.chat.coalesce import DeltaCoalescer
from bot.chat.hub import Hub, Link
from bot.chat.services import ChatServices
from core.chat import branding
from core.chat import conversations as units
from core.chat.frames import (
    BAD_FRAMES_BEFORE_CLOSE,
    MAX_FRAME_BYTES,
    Ack,
    AiLabel,
    Close,
    CloseCode,
    ConversationRef,
    Ended,
    EndReason,
    Error,
    ErrorCode,
    FrameError,
    Hello,
    HistoryItem,
    Message,
    Notice,
    NoticeKind,
    Rating,
    ReplyDelta,
    ReplyEnd,
    ReplyRestart,
    ReplyStart,
    Role,
    ServerFrame,
    SourceRef,
    Welcome,
    WidgetConfig,
    parse_client_frame,
)
from core.errors import LicenceUnavailable
from core.ids import new_id, sign, verify
from core.ledger import tokens
from core.licensing import appearance, identity, maintenance
from core.licensing.licensees import KeyContext, licence_availability
from core.licensing.service_period import TermState
from core.moderation import blocks as moderation
from core.moderation.matcher import Matcher, StreamGuard, clean_cut

log = logging.getLogger("kefu.chat")
T = TypeVar("T")
MEMORY_TURNS = 10


def ref(conv: units.ConvRef) -> ConversationRef:
    return ConversationRef(id=conv.id, started_at=conv.started_at, test=conv.test)


def ended_frame(ending: units.Ending) -> Ended:
    return Ended(conversation=ref(ending.conversation), reason=ending.reason)


def history_item(row: units.HistoryRow) -> HistoryItem:
    return HistoryItem(
        id=row.id,
        role=row.role,
        text=row.text,
        at=row.at,
        client_id=row.client_id,
        ai=AiLabel(**row.ai) if row.ai else None,
    )


class BrokenAnswer(Exception):
    """An answerer did not keep its word (``Delta.whole``): the reply becomes the safe answer."""


class _Reply:
    """One answer on its way to the widget: coalesced pieces, restarts, the filter's guard."""

    def __init__(self, session: ChatSession, reply_id: str) -> None:
        self._session = session
        self.reply_id = reply_id
        self._parts: list[str] = []
        self._shown = False  # a piece has left for the widget
        self._deltas = DeltaCoalescer(self._send_delta)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def _send_delta(self, text: str) -> None:
        self._shown = True
        await self._session._send(ReplyDelta(reply=self.reply_id, text=text))

    async def add(self, text: str) -> None:
        if text:
            self._parts.append(text)
            await self._deltas.add(text)

    async def restart(self) -> None:
        """Forget the pieces so far; tell the widget if it has seen any."""
        self._deltas.discard()
        await self._deltas.close()
        self._parts.clear()
        if self._shown:
            self._shown = False
            await self._session._send(ReplyRestart(reply=self.reply_id))

    async def replace(self, text: str) -> None:
        if text != self.text:
            await self.restart()
            await self.add(text)

    async def close(self) -> None:
        await self._deltas.close()

    async def stream(
        self, events: AsyncIterator[AnswerEvent], matcher: Matcher | None
    ) -> tuple[Final | None, str | None]:
        """Pass an answerer's events on; returns its Final, or the blocked term."""
        guard = StreamGuard(matcher) if matcher is not None else None
        # An answer the answerer knew whole before its first piece is checked once, as a whole
        # (``Delta.whole``). Its pieces are then shown as they come, as far as a cut after a
        # separator (a prefix cut there holds no term the whole does not); ``at``: how far
        # they got, ``held``: pieces since the last such cut.
        checked: str | None = None
        at = 0
        held: list[str] = []
        final: Final | None = None
        async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
            async for event in stream:
                if isinstance(event, Delta):
                    if guard is None or matcher is None:
                        await self.add(event.text)
                        continue
                    if checked is None and event.whole and guard.fed == 0 and not self._parts:
                        found = matcher.find_known(event.whole)
                        if found is not None:
                            return None, found.term
                        checked, at = event.whole, 0
                    if checked is not None:
                        if event.whole is not checked or not checked.startswith(event.text, at):
                            raise BrokenAnswer("a piece left the whole answer it announced")
                        at += len(event.text)
                        held.append(event.text)
                        if at == len(checked) or clean_cut(checked, at):
                            await self.add("".join(held))
                            held.clear()
                        continue
                    safe = guard.feed(event.text)
                    if guard.blocked is not None:
                        return None, guard.blocked.term
                    await self.add(safe)
                elif isinstance(event, Restart):
                    guard = StreamGuard(matcher) if matcher is not None else None
                    checked, held = None, []
                    await self.restart()
                else:
                    final = event
        if checked is not None and at != len(checked):
            raise BrokenAnswer("the answer ended before the whole it announced")
        if guard is not None:
            rest = guard.finish()
            if guard.blocked is not None:
                return None, guard.blocked.term
            await self.add(rest)
        return final, None


class ChatSession:
    def __init__(
        self,
        services: ChatServices,
        ctx: KeyContext,
        send: Callable[[ServerFrame], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.s = services
        self.ctx = ctx
        self.licensee = ctx.licensee
        self.link = Link(ctx.licensee.id, ctx.key_id, send=send, close=close)
        self.link.extra["session"] = self
        self.lang = branding.language(ctx.licensee.locale)
        self.locale = ctx.licensee.locale
        self.bad_frames = 0
        self.closed = False
        self._answer_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # The last turns, each with whether the content filter lets it reach a model (decided
        # once, when the turn is remembered, not again on every answer).
        self._turns: deque[tuple[Turn, bool]] = deque(maxlen=MEMORY_TURNS)
        self._turns_of: str | None = None  # the conversation the turns belong to

    # ------------------------------------------------------------------ lifecycle

    @property
    def visitor_id(self) -> str | None:
        return self.link.visitor_id

    async def start(self) -> bool:
        """Right after the upgrade: refuse with a notice when the licence may not serve."""
        now = self.s.clock()
        try:
            licence_availability(self.licensee, now)
        except LicenceUnavailable as exc:
            await self.shut(exc.kind, [])
            return False
        active, _ = maintenance.for_licensee(self.s.maintenance, self.licensee.id, now)
        if active is not None:
            await self.shut("maintenance", [], active)
            return False
        self.s.hub.add(self.link)
        return True

    async def stop(self) -> None:
        """The socket is gone: forget it, let running answers finish storing their reply."""
        self.closed = True
        self.s.hub.remove(self.link)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shut(
        self, kind: str, frames: list[ServerFrame], window: maintenance.Window | None = None
    ) -> None:
        """Close with a reason the widget can show (suspended, revoked key, maintenance)."""
        notice = (
            self.maintenance_notice(window)
            if kind == "maintenance" and window
            else Notice(kind=NoticeKind.SUSPENDED, text=branding.UNAVAILABLE[self.lang])
        )
        for frame in [*frames, notice]:
            await self._send(frame)
        code = CloseCode.MAINTENANCE if kind == "maintenance" else CloseCode.SUSPENDED
        self.closed = True
        await self.link.close(code, kind)

    async def _send(self, frame: ServerFrame) -> None:
        if not self.closed:
            await self.link.send(frame)

    def maintenance_notice(self, window: maintenance.Window) -> Notice:
        return Notice(
            kind=NoticeKind.MAINTENANCE,
            text=window.text or branding.MAINTENANCE[self.lang],
            starts_at=window.starts_at,
            ends_at=window.ends_at,
        )

    # ------------------------------------------------------------------ frames in

    async def receive_bytes(self) -> None:
        await self._bad(FrameError(ErrorCode.BAD_FRAME, "binary frames are not accepted"))

    async def receive_text(self, raw: str) -> None:
        if len(raw) * 4 > MAX_FRAME_BYTES and len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
            await self._send(Error(code=ErrorCode.BAD_FRAME, message="frame over 16 KiB"))
            self.closed = True
            await self.link.close(CloseCode.MESSAGE_TOO_BIG, "frame too big")
            return
        try:
            frame = parse_client_frame(raw)
        except FrameError as exc:
            await self._bad(exc)
            return
        if self.visitor_id is None and not isinstance(frame, Hello):
            cid = frame.id if isinstance(frame, Message) else None
            await self._bad(FrameError(ErrorCode.HELLO_REQUIRED, "send hello first", cid))
            return
        self.bad_frames = 0
        if isinstance(frame, Hello):
            await self._hello(frame)
        elif isinstance(frame, Message):
            await self._message(frame)
        elif isinstance(frame, Close):
            await self._close()
        elif isinstance(frame, Rating):
            await self._rating(frame)

    async def _bad(self, exc: FrameError) -> None:
        # Only malformed frames count towards the 1008 close; an over-long but well-formed
        # message is the end user's mistake, not a broken client.
        if exc.code == ErrorCode.MESSAGE_TOO_LONG:
            self.bad_frames = 0
        else:
            self.bad_frames += 1
        await self._send(Error(code=exc.code, message=exc.message, id=exc.client_id))
        if self.bad_frames >= BAD_FRAMES_BEFORE_CLOSE:
            self.closed = True
            await self.link.close(CloseCode.POLICY_VIOLATION, "too many bad frames")

    # ------------------------------------------------------------------ hello

    def _visitor_token(self, visitor_id: str, user_id: str | None = None) -> str:
        # A verified user's visitor is signed in another domain: that token never resumes the
        # user's conversation on its own (a browser after log-out, or a rotated identity
        # secret); only a hello.user that verifies does.
        domain = "visitor" if user_id is None else "user-visitor"
        signature = sign(self.s.settings.secret(), f"{domain}:{self.licensee.id}:{visitor_id}")
        return f"{visitor_id}.{signature}"

    def _visitor_from(self, token: str | None) -> str | None:
        if not token or len(token) > 100 or "." not in token:
            return None
        visitor_id, _, signature = token.partition(".")
        message = f"visitor:{self.licensee.id}:{visitor_id}"
        if not visitor_id.startswith("v_") or not verify(
            self.s.settings.secret(), message, signature
        ):
            return None
        return visitor_id

    @property
    def policy(self) -> units.UnitPolicy:
        return units.UnitPolicy(idle=timedelta(minutes=self.licensee.idle_timeout_minutes))

    def widget_config(self) -> WidgetConfig:
        return appearance.widget_config(self.licensee, self.lang, self.s.settings.product_name)

    def _identify(self, frame: Hello) -> tuple[str, str | None]:
        """The visitor id and, when ``hello.user`` verifies, the user id behind it.

        A verified user is the same visitor on every device and ignores the anonymous token
        (no merging); an absent, malformed or unproven user leaves the hello as it always was.
        """
        secret = self.s.settings.secret()
        user_id = identity.verified_user(secret, self.licensee, frame.user)
        if user_id is not None:
            return identity.visitor_id_for(secret, self.licensee.id, user_id), user_id
        return self._visitor_from(frame.visitor) or new_id("v"), None

    async def _remember_user(self, visitor_id: str, user_id: str, now: datetime) -> None:
        try:
            await self.s.write(
                partial(
                    identity.record_end_user,
                    licensee_id=self.licensee.id,
                    visitor_id=visitor_id,
                    user_id=user_id,
                    now=now,
                )
            )
        except Exception:
            # The chat goes on; the next verified hello of this user tries again.
            log.exception("recording an identified end user failed")

    async def _hello(self, frame: Hello) -> None:
        if self.visitor_id is not None:
            await self._bad(FrameError(ErrorCode.BAD_FRAME, "hello was already received"))
            return
        if frame.locale:
            self.lang = branding.language(frame.locale)
        visitor_id, user_id = self._identify(frame)
        self.s.hub.bind_visitor(self.link, visitor_id)
        now = self.s.clock()

        def load(conn: Session) -> tuple[units.ConvRef | None, list[units.HistoryRow], bool]:
            conv = units.open_conversation(conn, self.licensee.id, visitor_id, self.policy, now)
            known = user_id is None or identity.is_recorded(conn, self.licensee.id, visitor_id)
            return conv, (units.history(conn, conv.id) if conv else []), known

        conv, rows, known = await asyncio.to_thread(self.s.db.read, load)
        # Questions stored and acknowledged but never answered (the server stopped between the
        # ack and the answer) are answered after the welcome, unless this process is storing or
        # answering them. Claimed at once, in the step that checked, so that no other tab's
        # hello can take them too.
        waiting = [
            r
            for r in units.unanswered(rows)
            if r.client_id and self._key(r.client_id) not in self.s.answering
        ]
        claims = [self._claim(r.client_id) for r in waiting if r.client_id]
        try:
            if user_id is not None and not known:
                await self._remember_user(visitor_id, user_id, now)
            _, upcoming = maintenance.for_licensee(self.s.maintenance, self.licensee.id, now)
            self.link.conversation = conv
            self._turns.clear()
            self._turns_of = conv.id if conv else None
            waiting_ids = {r.id for r in waiting}
            for row in [r for r in rows if r.id not in waiting_ids][-MEMORY_TURNS:]:
                self._remember(Turn(row.role, row.text))
            await self._send(
                Welcome(
                    visitor=self._visitor_token(visitor_id, user_id),
                    conversation=ref(conv) if conv else None,
                    history=[history_item(r) for r in rows],
                    config=self.widget_config(),
                    notice=self.maintenance_notice(upcoming) if upcoming else None,
                    user=user_id,
                )
            )
            if waiting and conv is not None:
                await self._resume(conv, waiting)
        finally:
            for key in claims:
                self._release(key)

    async def _resume(self, conv: units.ConvRef, waiting: list[units.HistoryRow]) -> None:
        """Answer ``waiting`` (claimed) in order, those still unanswered: read again now that
        they are claimed, in case another tab answered them while this hello was reading."""

        def still(conn: Session) -> set[str]:
            return {r.id for r in units.unanswered(units.history(conn, conv.id))}

        unanswered = await asyncio.to_thread(self.s.db.read, still)
        ready = asyncio.Event()
        ready.set()
        for row in waiting:
            if row.id in unanswered and row.client_id:
                self._start_answer(row.client_id, row.text, conv, ready)

    # ------------------------------------------------------------------ message

    async def _limited(self, frame: Message) -> float | None:
        lim, limits, lic = self.s.limiter, self.s.limits, self.licensee.id
        checks = [
            (f"vm:{lic}:{self.visitor_id}", limits.visitor_messages),
            (f"km:{self.ctx.key_id}", limits.key_messages),
        ]
        if self.link.conversation is None:
            checks += [
                (f"vc:{lic}:{self.visitor_id}", limits.visitor_conversations),
                (f"kc:{self.ctx.key_id}", limits.key_conversations),
            ]
        for bucket, rate in checks:
            wait = await lim.hit(bucket, rate)
            if wait is not None:
                return wait
        return None

    async def _message(self, frame: Message) -> None:
        assert self.visitor_id is not None
        wait = await self._limited(frame)
        if wait is not None:
            await self._send(
                Error(
                    code=ErrorCode.RATE_LIMITED,
                    message="too many messages, please wait",
                    id=frame.id,
                    retry_after=math.ceil(wait * 10) / 10,
                )
            )
            return
        now = self.s.clock()
        try:
            term = licence_availability(self.licensee, now)
        except LicenceUnavailable as exc:
            await self.shut(exc.kind, [])
            return
        who = units.Speaker(
            licensee_id=self.licensee.id,
            visitor_id=self.visitor_id,
            key_id=self.ctx.key_id,
            test=self.ctx.test,
            beyond_term=term == TermState.BEYOND_TERM,
            policy=self.policy,
        )
        key = self._claim(frame.id)  # held until its answer holds its own claim
        try:
            await self._store_and_ack(frame, who, now)
        finally:
            self._release(key)

    async def _store_and_ack(self, frame: Message, who: units.Speaker, now: datetime) -> None:
        assert self.visitor_id is not None
        try:
            rec = await self.s.write(
                partial(
                    units.record_visitor_message,
                    who=who,
                    client_id=frame.id,
                    text=frame.text,
                    now=now,
                )
            )
        except Exception:
            log.exception("storing a message failed")
            await self._send(
                Error(code=ErrorCode.UNAVAILABLE, message="not stored, please resend", id=frame.id)
            )
            return
        acked = asyncio.Event()
        if not rec.duplicate:
            # Started before the ack is sent, so that its first frames (reply.start and, from
            # the knowledge base, the answer) can leave in the ack's write, after the ack.
            self._start_answer(frame.id, frame.text, rec.conversation, acked)
        try:
            if rec.ended is not None:
                await self.push_ended(rec.ended)
            if not rec.duplicate:
                for link in self.s.hub.of_visitor(self.licensee.id, self.visitor_id):
                    link.conversation = rec.conversation
            await self._send(Ack(id=frame.id, conversation=ref(rec.conversation)))
        finally:
            acked.set()

    def _key(self, client_id: str) -> tuple[str, str, str]:
        """Which of this visitor's messages, in ``ChatServices.answering``."""
        assert self.visitor_id is not None
        return (self.licensee.id, self.visitor_id, client_id)

    def _claim(self, client_id: str) -> tuple[str, str, str]:
        key = self._key(client_id)
        self.s.answering[key] += 1
        return key

    def _release(self, key: tuple[str, str, str]) -> None:
        self.s.answering[key] -= 1
        if self.s.answering[key] <= 0:
            del self.s.answering[key]

    def _start_answer(
        self, client_id: str, text: str, conv: units.ConvRef, acked: asyncio.Event
    ) -> None:
        task = asyncio.create_task(self._answer(client_id, text, conv, acked))
        key = self._claim(client_id)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _task: self._release(key))

    async def _answer(
        self, client_id: str, text: str, conv: units.ConvRef, acked: asyncio.Event
    ) -> None:
        await acked.wait()  # reply.start never overtakes the ack
        async with self._answer_lock:
            reply_id = new_id("msg")
            calls: list[CallRecord] = []
            reply = _Reply(self, reply_id)
            final: Final | None = None
            blocked: tuple[str, str] | None = None  # (direction, term)
            matcher = self.s.content_filter
            if self._turns_of != conv.id:  # a new conversation remembers nothing of the last
                self._turns.clear()
                self._turns_of = conv.id
            try:
                await self._send(ReplyStart(reply=reply_id, to=client_id))
                index = await self.s.index_cache.get(self.licensee.id, self.licensee.kb_version)
                request = AnswerRequest(
                    licensee_id=self.licensee.id,
                    question=text,
                    locale="zh-CN" if self.lang == "zh" else "en",
                    # A turn the filter would stop never reaches a model, not even as memory.
                    history=tuple(turn for turn, allowed in self._turns if allowed),
                    index=index,
                    conversation_id=conv.id,
                    business=self.licensee.title or self.licensee.name,
                    report=calls.append,
                )
                hit = matcher.find(text) if matcher is not None else None
                if hit is not None:
                    blocked = ("question", hit.term)
                else:
                    answerer = await self.s.answerers.for_licensee(self.licensee)
                    final, term = await reply.stream(answerer.stream(request), matcher)
                    if term is not None:
                        blocked, final = ("answer", term), None
            except Exception:
                log.exception("answering failed; sending the safe answer")
                final = None
            try:
                await self._finish(reply, conv, text, blocked, final)
            finally:
                await self._account(conv.id, reply_id, calls, blocked)

    def _remember(self, turn: Turn, allowed: bool | None = None) -> None:
        """Keep ``turn`` as memory; ``allowed`` when already known, else the filter decides
        (remembering its verdict: the server's own sentences recur verbatim)."""
        if allowed is None:
            matcher = self.s.content_filter
            allowed = matcher is None or matcher.find_known(turn.text) is None
        self._turns.append((turn, allowed))

    async def _finish(
        self,
        reply: _Reply,
        conv: units.ConvRef,
        question: str,
        blocked: tuple[str, str] | None,
        final: Final | None,
    ) -> None:
        """The answer's last pieces, its record and reply.end; a socket gone meanwhile only
        stops the sending."""
        streamed = blocked is None and final is not None
        if blocked is not None or final is None:
            if blocked is None:
                text, model = branding.SORRY[self.lang], branding.SAFE_MODEL
            else:
                refusal = branding.REFUSAL if blocked[0] == "question" else branding.WITHHELD
                text, model = refusal[self.lang], branding.FILTER_MODEL
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
            label=branding.AI_LABEL[self.lang],
            producer=final.producer,
            model=final.model,
            content_id=reply.reply_id,
        )
        sources = [SourceRef(id=e.id, question=e.question) for e in final.sources]
        asked_blocked = blocked is not None and blocked[0] == "question"
        self._remember(Turn(Role.VISITOR, question), allowed=not asked_blocked)
        # An answer that streamed through the filter unblocked is allowed as it stands; the
        # server's own replacement sentences are checked like any text.
        self._remember(Turn(Role.ROBOT, full), allowed=True if streamed else None)
        assert self.visitor_id is not None
        try:
            await self.s.write(
                partial(
                    units.record_reply,
                    conversation_id=conv.id,
                    licensee_id=self.licensee.id,
                    visitor_id=self.visitor_id,
                    message_id=reply.reply_id,
                    text=full,
                    ai=ai.model_dump(),
                    sources=[s.model_dump() for s in sources],
                    now=self.s.clock(),
                )
            )
        except Exception:
            log.exception("storing a reply failed")
        with contextlib.suppress(Exception):  # the end user left: the answer is stored anyway
            await self._send(ReplyEnd(reply=reply.reply_id, text=full, ai=ai, sources=sources))

    async def _account(
        self,
        conversation_id: str,
        reply_id: str,
        calls: list[CallRecord],
        blocked: tuple[str, str] | None,
    ) -> None:
        """The token ledger and the filter's log, after the answer is out; one failure does not
        lose the other records."""
        now = self.s.clock()
        for call in calls:
            try:
                await self.s.write(
                    partial(
                        tokens.record_call,
                        licensee_id=self.licensee.id,
                        conversation_id=conversation_id,
                        reply_id=reply_id,
                        provider=call.provider,
                        model=call.model,
                        input_tokens=call.input_tokens,
                        output_tokens=call.output_tokens,
                        cache_hit_tokens=min(call.cache_hit_tokens, call.input_tokens),
                        latency_ms=call.latency_ms,
                        first_token_ms=call.first_token_ms,
                        outcome=call.outcome.value,
                        now=now,
                    )
                )
            except Exception:
                log.exception("recording a model call in the token ledger failed")
        if blocked is None:
            return
        log.warning(
            "content filter stopped a %s of licensee %s (term %r)",
            blocked[0],
            self.licensee.id,
            blocked[1],
        )
        # Who wrote a blocked answer: the model that was streaming it (its call was ok or cut
        # by the block), else the built-in answerer (every model had failed before it).
        last = calls[-1] if calls and blocked[0] == "answer" else None
        if last is not None and last.outcome not in (CallOutcome.OK, CallOutcome.CANCELLED):
            last = None
        try:
            await self.s.write(
                partial(
                    moderation.record_block,
                    licensee_id=self.licensee.id,
                    conversation_id=conversation_id,
                    reply_id=reply_id,
                    direction=blocked[0],
                    term=blocked[1],
                    producer=last.provider if last else kb_answerer.PRODUCER,
                    model=last.model if last else kb_answerer.MODEL,
                    now=now,
                )
            )
        except Exception:
            log.exception("recording a content-filter block failed")

    # ------------------------------------------------------------------ close, rating

    async def _close(self) -> None:
        assert self.visitor_id is not None
        ending = await self.s.write(
            partial(
                units.end_open,
                licensee_id=self.licensee.id,
                visitor_id=self.visitor_id,
                reason=EndReason.CLOSED,
                now=self.s.clock(),
                policy=self.policy,
            )
        )
        if ending is None:
            await self._send(Error(code=ErrorCode.NO_CONVERSATION, message="no open conversation"))
            return
        await self.push_ended(ending)

    async def push_ended(self, ending: units.Ending) -> None:
        await push_ended(self.s.hub, ending, also=self.link)

    async def _rating(self, frame: Rating) -> None:
        assert self.visitor_id is not None
        rated = await self.s.write(
            partial(
                units.record_rating,
                licensee_id=self.licensee.id,
                visitor_id=self.visitor_id,
                score=frame.score,
                comment=frame.comment,
                now=self.s.clock(),
            )
        )
        if rated is None:
            await self._send(Error(code=ErrorCode.NO_CONVERSATION, message="nothing to rate yet"))
            return
        await self._send(Ack(id=None, conversation=ref(rated)))


async def push_ended(hub: Hub, ending: units.Ending, also: Link | None = None) -> None:
    """Tell every socket of the end user (and ``also``, when given) that their unit is over."""
    frame = ended_frame(ending)
    links = set(hub.of_visitor(ending.licensee_id, ending.visitor_id))
    if also is not None:
        links.add(also)
    for link in links:
        link.conversation = None
        try:
            await link.send(frame)
        except Exception:
            log.debug("push to a closing socket failed", exc_info=True)
