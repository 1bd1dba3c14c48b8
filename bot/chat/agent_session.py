"""One agent console's socket as a state machine, without the socket (as chat.session is for
end users): agent frames in, agent frames out through a sink, every rule in core.chat.handoff.

On start the console is given its state from the database: the queue, and every conversation
the agent holds (after a reload, another tab or a restart of the server alike).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.chat.desk import AgentSink
from bot.chat.wire import history_item
from core.chat import conversations as units
from core.chat import handoff
from core.chat.agent_frames import (
    Accept,
    AgentAck,
    AgentError,
    AgentErrorCode,
    AgentFrameError,
    AgentIn,
    AgentOut,
    AgentTypingIn,
    Assigned,
    CloseConversation,
    ConversationMessage,
    EndUser,
    Look,
    Release,
    Released,
    Say,
    Transcript,
    parse_agent_frame,
)
from core.chat.frames import (
    BAD_FRAMES_BEFORE_CLOSE,
    AgentMessage,
    AgentRef,
    AgentTyping,
    CloseCode,
    Handoff,
    HandoffStatus,
)
from core.chat.handoff_texts import assigned_text, returned_text

if TYPE_CHECKING:
    from bot.chat.services import ChatServices

log = logging.getLogger("kefu.handoff")

MAX_IN_FLIGHT = 32  # frames of one console being worked on at once
_REFUSAL_CODES = {
    handoff.Refusal.TAKEN: AgentErrorCode.TAKEN,
    handoff.Refusal.NOT_FOUND: AgentErrorCode.NOT_FOUND,
    handoff.Refusal.NOT_YOURS: AgentErrorCode.NOT_YOURS,
}


class AgentSession:
    def __init__(self, services: ChatServices, agent: handoff.Agent, sink: AgentSink) -> None:
        self.s = services
        self.desk = services.desk
        self.agent = agent
        self.sink = sink
        self.held: set[str] = set()
        self.queued: set[str] = set()
        self.closed = False
        self.bad_frames = 0
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last frame of each conversation
        self._running: set[asyncio.Task[None]] = set()

    def now(self) -> datetime:
        return self.s.clock()

    async def send(self, frame: AgentOut) -> None:
        if not self.closed:
            await self.sink.send(frame)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.desk.add(self)
        now = self.now()
        await self.s.db.write(lambda s: handoff.seen(s, [self.agent], now))
        self.desk.forget_rules(self.agent.licensee_id)  # the licensee has agents now
        queue = await self.desk.queue_frame(self.agent.licensee_id)
        self.queued = {item.conversation for item in queue.items}
        await self.send(queue)

        def mine(s: Any) -> list[tuple[handoff.Live, list[units.HistoryRow]]]:
            return [
                (h, units.history(s, h.conversation_id)) for h in handoff.held_by(s, self.agent.id)
            ]

        for held, rows in await asyncio.to_thread(self.s.db.read, mine):
            self.held.add(held.conversation_id)
            await self.send(_assigned(held, rows))

    async def stop(self) -> None:
        if self._running:  # what the agent sent before leaving is still done
            await asyncio.wait(set(self._running))
        self.closed = True
        if self.desk.remove(self):
            now = self.now()
            try:
                await self.s.db.write(lambda s: handoff.gone(s, self.agent.id, now))
            except Exception:
                log.warning("recording an agent's leaving failed", exc_info=True)

    # ------------------------------------------------------------------ frames in

    async def feed(self, raw: str) -> None:
        """One frame from the socket, without waiting for the frames before it unless they are
        about the same conversation: an agent holding ten conversations is not made to wait on
        one conversation's write for another's. Frames of one conversation keep their order."""
        try:
            frame = parse_agent_frame(raw)
        except AgentFrameError as exc:
            await self._bad(exc.code, exc.message, exc.frame_id)
            return
        self.bad_frames = 0
        key = frame.conversation
        before = self._tails.get(key)
        task = asyncio.create_task(self._in_turn(before, frame))
        self._tails[key] = task
        self._running.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._running.discard(finished)
            if self._tails.get(key) is finished:
                del self._tails[key]

        task.add_done_callback(done)
        if len(self._running) >= MAX_IN_FLIGHT:  # a flood waits for its own frames
            await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)

    async def _in_turn(self, before: asyncio.Task[None] | None, frame: AgentIn) -> None:
        if before is not None:
            await asyncio.wait({before})
        try:
            await self.receive(frame)
        except Exception:
            log.exception("an agent frame failed")
            await self.send(
                AgentError(code=AgentErrorCode.UNAVAILABLE, message="not done, please retry")
            )

    async def receive_text(self, raw: str) -> None:
        try:
            frame = parse_agent_frame(raw)
        except AgentFrameError as exc:
            await self._bad(exc.code, exc.message, exc.frame_id)
            return
        self.bad_frames = 0
        try:
            await self.receive(frame)
        except Exception:
            log.exception("an agent frame failed")
            await self.send(
                AgentError(code=AgentErrorCode.UNAVAILABLE, message="not done, please retry")
            )

    async def _bad(self, code: AgentErrorCode, message: str, frame_id: str | None = None) -> None:
        self.bad_frames += 1
        await self.send(AgentError(code=code, message=message, id=frame_id))
        if self.bad_frames >= BAD_FRAMES_BEFORE_CLOSE and not self.closed:
            self.closed = True
            await self.sink.close(CloseCode.POLICY_VIOLATION, "too many bad frames")

    async def receive(self, frame: AgentIn) -> None:
        if isinstance(frame, Accept):
            await self._accept(frame.conversation)
        elif isinstance(frame, Say):
            await self._say(frame)
        elif isinstance(frame, Release):
            await self._release(frame.conversation)
        elif isinstance(frame, CloseConversation):
            await self._close(frame.conversation)
        elif isinstance(frame, AgentTypingIn):
            await self._typing(frame)
        elif isinstance(frame, Look):
            await self._look(frame.conversation)

    async def _refused(
        self, refusal: handoff.Refusal, conversation: str, frame_id: str | None = None
    ) -> None:
        await self.send(
            AgentError(
                code=_REFUSAL_CODES[refusal],
                message=refusal.value.replace("_", " "),
                id=frame_id,
                conversation=conversation,
            )
        )

    async def _accept(self, conversation: str) -> None:
        now = self.now()
        result = await self.s.db.write(lambda s: handoff.accept(s, self.agent, conversation, now))
        if isinstance(result, handoff.Refusal):
            await self._refused(result, conversation)
            return
        rules = await self.desk.rules(self.agent.licensee_id)
        greeting = rules.greeting.strip()
        said: handoff.Said | handoff.Refusal | None = None
        if greeting:
            greeting_id = f"greeting-{result.id}"
            said = await self.s.db.write(
                lambda s: handoff.say(
                    s, self.agent, conversation, greeting_id, greeting, now, first=False
                )
            )
        rows = await asyncio.to_thread(self.s.db.read, lambda s: units.history(s, conversation))
        await self.desk.to_agent(self.agent.id, _assigned(result, rows))
        ref = AgentRef(name=self.agent.name)
        await self.desk.to_visitor(
            result.licensee_id,
            result.visitor_id,
            Handoff(
                status=HandoffStatus.ASSIGNED,
                text=assigned_text(result.locale, self.agent.name),
                agent=ref,
            ),
        )
        if isinstance(said, handoff.Said):
            await self.desk.to_visitor(
                result.licensee_id,
                result.visitor_id,
                AgentMessage(id=said.message.id, text=said.message.text, agent=ref, at=now),
            )
        await self.desk.queue_changed(self.agent.licensee_id)

    async def _say(self, frame: Say) -> None:
        now = self.now()
        result = await self.s.db.write(
            lambda s: handoff.say(s, self.agent, frame.conversation, frame.id, frame.text, now)
        )
        if isinstance(result, handoff.Refusal):
            await self._refused(result, frame.conversation, frame.id)
            return
        await self.send(AgentAck(id=frame.id, conversation=frame.conversation))
        if result.duplicate:
            return
        row = result.message
        await self.desk.to_visitor(
            result.held.licensee_id,
            result.held.visitor_id,
            AgentMessage(id=row.id, text=row.text, agent=AgentRef(name=self.agent.name), at=row.at),
        )
        await self.desk.to_holders(
            result.held.licensee_id,
            frame.conversation,
            ConversationMessage(conversation=frame.conversation, message=history_item(row)),
        )

    async def _release(self, conversation: str) -> None:
        now = self.now()
        result = await self.s.db.write(lambda s: handoff.release(s, self.agent, conversation, now))
        if isinstance(result, handoff.Refusal):
            await self._refused(result, conversation)
            return
        await self.desk.to_agent(self.agent.id, Released(conversation=conversation))
        await self.desk.to_visitor(
            result.licensee_id,
            result.visitor_id,
            Handoff(status=HandoffStatus.RETURNED, text=returned_text(result.locale)),
        )

    async def _close(self, conversation: str) -> None:
        now = self.now()
        result = await self.s.db.write(lambda s: handoff.close(s, self.agent, conversation, now))
        if isinstance(result, handoff.Refusal):
            await self._refused(result, conversation)
            return
        await self.s.tell_ended(result)

    async def _typing(self, frame: AgentTypingIn) -> None:
        if frame.conversation not in self.held:
            await self._refused(handoff.Refusal.NOT_YOURS, frame.conversation)
            return
        visitor = await asyncio.to_thread(
            self.s.db.read, lambda s: handoff.live(s, frame.conversation)
        )
        if visitor is None or visitor.agent_id != self.agent.id:
            return
        await self.desk.to_visitor(
            visitor.licensee_id, visitor.visitor_id, AgentTyping(on=frame.on)
        )

    async def _look(self, conversation: str) -> None:
        rows = await asyncio.to_thread(
            self.s.db.read, lambda s: handoff.transcript(s, self.agent, conversation)
        )
        if isinstance(rows, handoff.Refusal):
            await self._refused(rows, conversation)
            return
        await self.send(
            Transcript(conversation=conversation, history=[history_item(r) for r in rows])
        )


def _assigned(held: handoff.Live, rows: list[units.HistoryRow]) -> Assigned:
    return Assigned(
        conversation=held.conversation_id,
        history=[history_item(r) for r in rows],
        end_user=EndUser(page=held.page, locale=held.locale),
    )
