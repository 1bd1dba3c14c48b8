"""The chat session: protocol v1's state machine for one end user's socket, without the socket.

A session is fed client frames (``receive_text``, ``receive_bytes`` or an already typed frame
with ``receive``) and answers with server frames and a close through its ``Sink``; the socket
layer (bot/ws.py) only moves bytes. Storage is reached through ``ChatStore``, answers through the
answering pipeline; every rule of usage units lives in core.chat.conversations. A test drives a
session with plain frames, a recording sink and a real database, no server.

States: opened (``start``; refused with a notice when the licence may not serve) -> greeted
(``hello`` read: the visitor is known) -> closed (by the end user's socket, ``shut`` with a
reason, or the transport's limits). Messages, closes and ratings need a hello first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot import metrics
from bot.answerers.contract import Turn
from bot.chat import limits
from bot.chat.answering import Answering, Question
from bot.chat.claims import MessageKey
from bot.chat.memory import MEMORY_TURNS, Memory
from bot.chat.services import ChatServices
from bot.chat.store import attempt
from bot.chat.wire import history_item, ref
from core.chat import branding, handoff, left_messages
from core.chat import conversations as units
from core.chat.agent_frames import ConversationMessage, EndUserTyping
from core.chat.frames import (
    BAD_FRAMES_BEFORE_CLOSE,
    MAX_FRAME_BYTES,
    Ack,
    AgentRef,
    AnyClientFrame,
    Close,
    CloseCode,
    Ended,
    EndReason,
    Error,
    ErrorCode,
    FrameError,
    Handoff,
    HandoffRequest,
    HandoffStatus,
    Hello,
    HistoryPage,
    HistoryRequest,
    LeaveMessage,
    Message,
    Notice,
    NoticeKind,
    Rating,
    Role,
    ServerFrame,
    Typing,
    Welcome,
    WidgetConfig,
    parse_client_frame,
)
from core.chat.handoff_texts import (
    assigned_text,
    queued_text,
    request_text,
    unavailable_text,
)
from core.db.engine import unreachable
from core.db.tables import Licensee
from core.errors import InvalidInput, LicenceUnavailable
from core.ids import new_id
from core.licensing import appearance, identity, maintenance, visitor_tokens
from core.licensing.licensees import KeyContext, licence_availability
from core.licensing.service_period import TermState

log = logging.getLogger("kefu.chat")

ClientFrame = AnyClientFrame

# What a message refused at the start of a unit tells the end user.
_START_REFUSED = {
    units.Refusal.LIMITS: "too many new conversations, please wait",
    units.Refusal.TEST_DAY_FULL: "the test key's conversations for today are used up",
}


class Sink(Protocol):
    """Where a session's output goes: the socket, or a test's recorder."""

    async def send(self, frame: ServerFrame) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class ChatSession:
    def __init__(
        self, services: ChatServices, ctx: KeyContext, sink: Sink, address: str | None = None
    ) -> None:
        self.s = services
        self.ctx = ctx
        self.address = address  # the client's, for the per-address limits
        self.licensee: Licensee = ctx.licensee  # refreshed by the licence watcher
        self.sink = sink
        self.visitor_id: str | None = None
        self.conversation: units.ConvRef | None = None  # the unit this socket believes is open
        self.lang = branding.language(ctx.licensee.locale)
        self.bad_frames = 0
        self.closed = False
        self.memory = Memory(services.content_filter)
        self.locale: str | None = None  # the hello's, for the hand-off's texts
        self.page: str | None = None
        # Where the open unit's request for a person stands, as last told to this socket
        # ("queued", "assigned" or None): the end user's typing goes to an agent only then.
        self.person: HandoffStatus | None = None
        self.answering = Answering(services, self, self.send, self.memory)

    @property
    def licensee_id(self) -> str:
        return self.ctx.licensee.id

    @property
    def key_id(self) -> str:
        return self.ctx.key_id

    @property
    def credentials(self) -> tuple[str, ...]:
        return self.ctx.credentials

    # ------------------------------------------------------------------ lifecycle

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
        self.s.hub.add(self)
        return True

    async def stop(self) -> None:
        """The socket is gone: forget it, let running answers finish storing their reply."""
        self.closed = True
        self.s.hub.remove(self)
        await self.answering.wait()

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
            await self.send(frame)
        code = CloseCode.MAINTENANCE if kind == "maintenance" else CloseCode.SUSPENDED
        await self._close(code, kind)

    async def send(self, frame: ServerFrame) -> None:
        if isinstance(frame, Handoff):
            held = frame.status in (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)
            self.person = frame.status if held else None
        elif isinstance(frame, Ended):
            self.person = None
        if not self.closed:
            await self.sink.send(frame)

    async def _close(self, code: int, reason: str) -> None:
        self.closed = True
        await self.sink.close(code, reason)

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
            await self.send(Error(code=ErrorCode.BAD_FRAME, message="frame over 16 KiB"))
            await self._close(CloseCode.MESSAGE_TOO_BIG, "frame too big")
            return
        try:
            frame = parse_client_frame(raw)
        except FrameError as exc:
            await self._bad(exc)
            return
        await self.receive(frame)

    async def receive(self, frame: ClientFrame) -> None:
        """One well-formed client frame."""
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
            await self._end()
        elif isinstance(frame, HistoryRequest):
            await self._history(frame)
        elif isinstance(frame, HandoffRequest):
            await self._handoff(frame)
        elif isinstance(frame, Typing):
            await self._typing(frame)
        elif isinstance(frame, LeaveMessage):
            await self._leave(frame)
        else:
            await self._rating(frame)

    async def _bad(self, exc: FrameError) -> None:
        # Only malformed frames count towards the 1008 close; an over-long but well-formed
        # message is the end user's mistake, not a broken client.
        if exc.code == ErrorCode.MESSAGE_TOO_LONG:
            self.bad_frames = 0
        else:
            self.bad_frames += 1
        await self.send(Error(code=exc.code, message=exc.message, id=exc.client_id))
        await self._strike()
        if self.bad_frames >= BAD_FRAMES_BEFORE_CLOSE and not self.closed:
            await self._close(CloseCode.POLICY_VIOLATION, "too many bad frames")

    async def _strike(self) -> None:
        """One refusal against the client's address: past its rate, this socket is closed and
        the address's new ones are refused at the handshake (bot/chat/penalties.py)."""
        if await self.s.penalties.strike(self.address) and not self.closed:
            await self._close(CloseCode.POLICY_VIOLATION, "too many refused frames")

    # ------------------------------------------------------------------ hello

    @property
    def policy(self) -> units.UnitPolicy:
        return units.UnitPolicy(
            idle=timedelta(minutes=self.licensee.idle_timeout_minutes),
            max_messages=self.s.settings.max_conversation_messages,
            test_per_day=self.s.settings.test_conversations_per_day,
        )

    def widget_config(self) -> WidgetConfig:
        config = appearance.widget_config(self.licensee, self.lang, self.s.settings.product_name)
        return config.model_copy(update={"test": True}) if self.ctx.test else config

    async def _charged(self) -> bool:
        """Charge a request that is not a message (history, a left message) to the sender's
        buckets; False, with ``rate_limited`` sent, when they are spent."""
        assert self.visitor_id is not None
        sender = limits.Sender(self.licensee.id, self.visitor_id, self.key_id)
        wait = await limits.charge(self.s.limiter, limits.buckets(self.s.limits, sender, False))
        if wait is None:
            return True
        await self._limited(wait, "too many requests, please wait")
        return False

    async def _limited(
        self, wait: float, message: str, client_id: str | None = None, strike: bool = True
    ) -> None:
        await self.send(
            Error(
                code=ErrorCode.RATE_LIMITED,
                message=message,
                id=client_id,
                retry_after=limits.retry_after(wait),
            )
        )
        if strike:
            await self._strike()

    def _identify(self, frame: Hello) -> tuple[str, str | None]:
        """The visitor id and, when ``hello.user`` verifies, the user id behind it.

        A verified user is the same visitor on every device and ignores the anonymous token
        (no merging); an absent, malformed or unproven user leaves the hello as it always was.
        """
        secret = self.s.settings.secret()
        user_id = identity.verified_user(secret, self.licensee, frame.user)
        if user_id is not None:
            return identity.visitor_id_for(secret, self.licensee.id, user_id), user_id
        visitor = visitor_tokens.visitor_of(secret, self.licensee.id, frame.visitor)
        return visitor or new_id("v"), None

    def _key(self, client_id: str) -> MessageKey:
        assert self.visitor_id is not None
        return MessageKey(self.licensee.id, self.visitor_id, client_id)

    async def _hello(self, frame: Hello) -> None:
        if self.visitor_id is not None:
            await self._bad(FrameError(ErrorCode.BAD_FRAME, "hello was already received"))
            return
        if frame.locale:
            self.lang = branding.language(frame.locale)
        self.locale = (frame.locale or self.licensee.locale)[:35]
        self.page = frame.page[:2000] if frame.page else None
        visitor_id, user_id = self._identify(frame)
        # Each hello reads the unit and sends a welcome: bounded per end user and per address.
        hits = limits.hellos(self.s.limits, self.licensee.id, visitor_id, self.address)
        wait = await limits.charge(self.s.limiter, hits)
        if wait is not None:
            await self._limited(wait, "too many connections, please wait")
            return
        self.visitor_id = visitor_id
        self.s.hub.bind_visitor(self)
        now = self.s.clock()
        try:
            opening = await self.s.store.open(
                self.licensee.id,
                visitor_id,
                self.policy,
                now,
                user_id,
                limit=self.s.settings.welcome_history,
            )
        except Exception as exc:  # the database is down: the widget tries again later
            log.warning("a hello could not read the database: %r", exc)
            await self.send(Error(code=ErrorCode.UNAVAILABLE, message="unavailable, reconnecting"))
            await self._close(CloseCode.TRY_AGAIN_LATER, "unavailable")
            return
        conv, rows = opening.conversation, opening.history
        # Questions stored and acknowledged but never answered (the server stopped between the
        # ack and the answer) are answered after the welcome, unless this process is storing or
        # answering them. Claimed at once, in the step that checked, so that no other tab's
        # hello can take them too.
        claims = await self.s.claims.take_free(
            self._key(r.client_id) for r in opening.waiting if r.client_id
        )
        taken = {claim.key.client_id for claim in claims}
        waiting = [r for r in opening.waiting if r.client_id in taken]
        try:
            if user_id is not None and not opening.user_recorded:
                # On failure the chat goes on; the next verified hello of this user tries again.
                await attempt(
                    "recording an identified end user",
                    self.s.store.record_end_user(self.licensee.id, visitor_id, user_id, now),
                )
            _, upcoming = maintenance.for_licensee(self.s.maintenance, self.licensee.id, now)
            self.conversation = conv
            self.memory.start(conv.id if conv else None)
            waiting_ids = {r.id for r in waiting}
            for row in [r for r in rows if r.id not in waiting_ids][-MEMORY_TURNS:]:
                self.memory.remember(Turn(row.role, row.text))
            has_agents = await attempt(
                "reading the hand-off rules", self.s.desk.has_agents(self.licensee.id)
            )
            config = self.widget_config()
            if has_agents:
                config = config.model_copy(update={"handoff": True})
            token = visitor_tokens.issue(
                self.s.settings.secret(),
                self.licensee.id,
                visitor_id,
                verified_user=user_id is not None,
            )
            await self.send(
                Welcome(
                    visitor=token,
                    conversation=ref(conv) if conv else None,
                    history=[history_item(r) for r in rows],
                    config=config,
                    notice=self.maintenance_notice(upcoming) if upcoming else None,
                    user=user_id,
                    more_history=opening.more,
                    handoff=self._status(opening.handoff) if opening.handoff else None,
                )
            )
            if waiting and conv is not None:
                await self._resume(conv, waiting)
        finally:
            for claim in claims:
                claim.release()

    async def attend(
        self, visitor_id: str, user_id: str, leave_out: str | None = None
    ) -> units.ConvRef | None:
        """Greet without a hello, for a caller that names its end user itself (chat over HTTP):
        the visitor's open unit and the robot's memory of it, as a hello would find them
        (without the message ``leave_out``: a stored question about to be answered)."""
        self.visitor_id = visitor_id
        self.s.hub.bind_visitor(self)
        now = self.s.clock()
        opening = await self.s.store.open(
            self.licensee.id, visitor_id, self.policy, now, user_id, limit=MEMORY_TURNS
        )
        if not opening.user_recorded:
            await attempt(
                "recording an identified end user",
                self.s.store.record_end_user(self.licensee.id, visitor_id, user_id, now),
            )
        self.conversation = opening.conversation
        self.memory.start(opening.conversation.id if opening.conversation else None)
        for row in [r for r in opening.history if r.id != leave_out][-MEMORY_TURNS:]:
            self.memory.remember(Turn(row.role, row.text))
        return opening.conversation

    async def answer_stored(self, conv: units.ConvRef, row: units.HistoryRow) -> bool:
        """Answer a stored question whose first answerer died (chat over HTTP, retried), as a
        hello resumes one: False when this process is storing or answering it already, or it
        has been answered meanwhile."""
        assert row.client_id is not None
        if self.s.claims.held(self._key(row.client_id)):
            return False
        with self.s.claims.claim(self._key(row.client_id)):
            if row.id not in await self.s.store.unanswered(conv.id):
                return False
            ready = asyncio.Event()
            ready.set()
            self._start_answer(Question(row.client_id, row.text, conv), ready)
        return True

    async def _resume(self, conv: units.ConvRef, waiting: list[units.HistoryRow]) -> None:
        """Answer ``waiting`` (claimed) in order, those still unanswered: read again now that
        they are claimed, in case another tab answered them while this hello was reading."""
        unanswered = await self.s.store.unanswered(conv.id)
        ready = asyncio.Event()
        ready.set()
        for row in waiting:
            if row.id in unanswered and row.client_id:
                self._start_answer(Question(row.client_id, row.text, conv), ready)

    # ------------------------------------------------------------------ message

    async def _message(self, frame: Message, asks: bool = False) -> None:
        """A visitor message; ``asks``: it is a request for a person (the widget's button)."""
        metrics.message_received()
        assert self.visitor_id is not None
        sender = limits.Sender(self.licensee.id, self.visitor_id, self.key_id)
        opens = self.conversation is None
        # The address's bucket too (one address with many sockets must not spend the key's
        # whole budget), in the same round trip to Redis as the others.
        wait = await limits.wait_for(self.s.limiter, self.s.limits, sender, opens, self.address)
        if wait is not None:
            await self._limited(wait, "too many messages, please wait", frame.id)
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
            key_id=self.key_id,
            test=self.ctx.test,
            beyond_term=term == TermState.BEYOND_TERM,
            policy=self.policy,
            credentials=self.ctx.credentials,
            may_start=opens,  # the conversation limits were charged above
        )
        # Held before the store, in every process's view: a hello on another worker that reads
        # the stored question meanwhile leaves it to this socket.
        if not asks:
            rules = await attempt("reading the hand-off rules", self.s.desk.rules(self.licensee.id))
            asks = rules is not None and rules.asks_for_person(frame.text)
        with await self.s.claims.acquire(self._key(frame.id)):  # until its answer holds its own
            await self._store_and_ack(frame, who, sender, now, asks)

    async def _record(
        self,
        frame: Message,
        who: units.Speaker,
        sender: limits.Sender,
        now: datetime,
        hold: bool = False,
    ) -> units.Recorded | units.Refused:
        """Store the message; when it would start a unit that the socket thought was open (it
        lapsed, or another key's socket of this end user took it), charge the conversation
        limits first: they hold where a unit starts, whatever the socket believed."""
        rec = await self.s.store.record_message(who, frame.id, frame.text, now, hold)
        if not (isinstance(rec, units.Refused) and rec.reason == units.Refusal.LIMITS):
            return rec
        if rec.ended is not None:
            await self.s.tell_ended(rec.ended)
        wait = await limits.charge(self.s.limiter, limits.starts(self.s.limits, sender))
        if wait is not None:
            await self._limited(wait, _START_REFUSED[units.Refusal.LIMITS], frame.id)
            return units.Refused(units.Refusal.LIMITS)
        started = replace(who, may_start=True)
        return await self.s.store.record_message(started, frame.id, frame.text, now, hold)

    async def _refused(self, frame: Message, refused: units.Refused) -> None:
        if refused.ended is not None:
            await self.s.tell_ended(refused.ended)
        if refused.reason in (units.Refusal.SUSPENDED, units.Refusal.REVOKED):
            # The database knew before this process's watcher: every socket of the licence here
            # is told now, not at the next watch.
            for session in {self, *self.s.hub.of_licensee(self.licensee.id)}:
                conv = session.conversation
                ended = [Ended(conversation=ref(conv), reason=EndReason.SUSPENDED)] if conv else []
                if not session.closed:
                    await session.shut(refused.reason.value, list(ended))
        elif refused.reason == units.Refusal.TEST_DAY_FULL:
            tz = self.licensee.timezone
            renews = units.test_day_start(self.s.clock(), tz) + timedelta(days=1)
            wait = (renews - self.s.clock()).total_seconds()
            # The day's allowance, not a flood: no strike against the address.
            await self._limited(wait, _START_REFUSED[refused.reason], frame.id, strike=False)

    async def _store_and_ack(
        self,
        frame: Message,
        who: units.Speaker,
        sender: limits.Sender,
        now: datetime,
        asks: bool = False,
    ) -> None:
        assert self.visitor_id is not None
        try:
            rec = await self._record(frame, who, sender, now, asks)
        except LicenceUnavailable as exc:  # a key revoked since the watcher last looked
            await self.shut(exc.kind, [])
            return
        except Exception as exc:
            if unreachable(exc):
                log.warning("storing a message failed: database unreachable (%r)", exc)
            else:
                log.exception("storing a message failed")
            await self.send(
                Error(code=ErrorCode.UNAVAILABLE, message="not stored, please resend", id=frame.id)
            )
            return
        if isinstance(rec, units.Refused):
            await self._refused(frame, rec)
            return
        acked = asyncio.Event()
        if not rec.duplicate and not rec.held:
            # Started before the ack is sent, so that its first frames (reply.start and, from
            # the knowledge base, the answer) can leave in the ack's write, after the ack.
            self._start_answer(Question(frame.id, frame.text, rec.conversation), acked)
        try:
            if rec.ended is not None:
                await self.s.tell_ended(rec.ended)
            if not rec.duplicate:
                for session in self.s.hub.of_visitor(self.licensee.id, self.visitor_id):
                    session.conversation = rec.conversation
            await self.send(Ack(id=frame.id, conversation=ref(rec.conversation)))
        finally:
            acked.set()
        if rec.duplicate:
            return
        if asks:
            await self._ask_person(rec.conversation, None)
        elif rec.held:  # for the person who holds it (or will): the robot stays silent
            row = units.HistoryRow(rec.message_id, Role.VISITOR, frame.text, now, frame.id)
            message = ConversationMessage(
                conversation=rec.conversation.id, message=history_item(row)
            )
            await attempt(
                "telling the agent",
                self.s.desk.to_holders(self.licensee.id, rec.conversation.id, message),
            )

    def _start_answer(self, question: Question, after: asyncio.Event) -> None:
        claim = self.s.claims.claim(self._key(question.client_id))
        self.answering.start(question, claim, after)

    # ------------------------------------------------------------------ close, rating

    async def _end(self) -> None:
        assert self.visitor_id is not None
        ending = await self.s.store.end_open(
            self.licensee.id, self.visitor_id, EndReason.CLOSED, self.s.clock(), self.policy
        )
        if ending is None:
            await self.send(Error(code=ErrorCode.NO_CONVERSATION, message="no open conversation"))
            return
        await self.s.tell_ended(ending)

    async def _history(self, frame: HistoryRequest) -> None:
        """A page of earlier messages (the welcome carries only the latest)."""
        assert self.visitor_id is not None
        if not await self._charged():
            return
        page = await self.s.store.history_before(
            self.licensee.id, self.visitor_id, frame.before, frame.limit
        )
        await self.send(HistoryPage(items=[history_item(r) for r in page.rows], more=page.more))

    async def _rating(self, frame: Rating) -> None:
        assert self.visitor_id is not None
        rated = await self.s.store.record_rating(
            self.licensee.id, self.visitor_id, frame.score, frame.comment, self.s.clock()
        )
        if rated is None:
            await self.send(Error(code=ErrorCode.NO_CONVERSATION, message="nothing to rate yet"))
            return
        await self.send(Ack(id=None, conversation=ref(rated)))

    # ------------------------------------------------------------------ hand-off

    def _status(self, live: handoff.Live) -> Handoff:
        if live.state == handoff.State.ASSIGNED:
            name = live.agent_name or ""
            return Handoff(
                status=HandoffStatus.ASSIGNED,
                text=assigned_text(self.locale, name),
                agent=AgentRef(name=name),
            )
        position = live.position or 1
        return Handoff(
            status=HandoffStatus.QUEUED,
            text=queued_text(self.locale, position),
            position=position,
            wait=live.wait_seconds,
        )

    async def _handoff(self, frame: HandoffRequest) -> None:
        """The end user asks for a person: stored as their message (it starts a unit when none
        is open, and the transcript shows it), then queued."""
        text = (frame.note or "").strip() or request_text(self.locale)
        await self._message(Message(type="message", id=new_id("ask"), text=text), asks=True)

    async def _ask_person(self, conv: units.ConvRef, note: str | None) -> None:
        assert self.visitor_id is not None
        visitor_id, now, ttl = self.visitor_id, self.s.clock(), self.s.desk.presence_ttl

        def ask(conn: Any) -> handoff.Live | None:
            return handoff.request(
                conn,
                conversation_id=conv.id,
                licensee_id=self.licensee.id,
                visitor_id=visitor_id,
                note=note,
                page=self.page,
                locale=self.locale,
                now=now,
                ttl=ttl,
            )

        try:
            live = await self.s.db.write(ask)
        except Exception:
            log.exception("a request for a person failed")
            await self.send(Error(code=ErrorCode.UNAVAILABLE, message="please try again"))
            return
        if live is None:
            frame = Handoff(status=HandoffStatus.UNAVAILABLE, text=unavailable_text(self.locale))
        else:
            frame = self._status(live)
        await self.s.desk.to_visitor(self.licensee.id, visitor_id, frame)
        if live is not None and live.state == handoff.State.QUEUED:
            await self.s.desk.queue_changed(self.licensee.id)

    async def _typing(self, frame: Typing) -> None:
        conv = self.conversation
        if conv is None or self.person != HandoffStatus.ASSIGNED:
            return  # nobody to tell: the robot does not watch typing
        typing = EndUserTyping(conversation=conv.id, on=frame.on)
        await self.s.desk.to_holders(self.licensee.id, conv.id, typing)

    async def _leave(self, frame: LeaveMessage) -> None:
        """A message left for agents to answer later (nobody could take the chat)."""
        assert self.visitor_id is not None
        if not await self._charged():
            return
        visitor_id, now, conv = self.visitor_id, self.s.clock(), self.conversation

        def leave(conn: Any) -> str:
            return left_messages.leave(
                conn,
                licensee_id=self.licensee.id,
                visitor_id=visitor_id,
                conversation_id=conv.id if conv else None,
                contact=frame.contact,
                text=frame.text,
                locale=self.locale,
                page=self.page,
                now=now,
            )

        try:
            await self.s.db.write(leave)
        except InvalidInput as exc:
            await self.send(Error(code=ErrorCode.BAD_FRAME, message=str(exc)))
            return
        await self.send(Ack(id=None, conversation=ref(conv) if conv else None))
