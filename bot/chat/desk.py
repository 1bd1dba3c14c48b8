"""The hand-off desk of one process: its agent consoles, and delivery between end users and
agents, here directly and to other processes through the bus (topics ``visitor`` and ``agent``).

The bus carries frames as hints; who holds what is always read from the database
(core.chat.handoff), and a console or widget that reconnects is given its state from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter

from core.bus import Bus, Data, Topic
from core.chat import conversations as units
from core.chat import handoff
from core.chat.agent_frames import (
    AgentOut,
    Assigned,
    ConversationEnded,
    Queue,
    QueueEntry,
    Released,
    load_agent_out,
)
from core.chat.frames import AgentMessage, AgentTyping, Handoff, HandoffStatus, ServerFrame
from core.chat.handoff_rules import Rules, rules_for
from core.chat.handoff_texts import queued_text
from core.db.engine import Database

if TYPE_CHECKING:
    from bot.chat.hub import Hub

log = logging.getLogger("kefu.handoff")

RULES_TTL = 10.0  # seconds a licensee's hand-off rules are cached in a process
_visitor_frames: TypeAdapter[Handoff | AgentMessage | AgentTyping] = TypeAdapter(
    Handoff | AgentMessage | AgentTyping
)


class AgentSink(Protocol):
    async def send(self, frame: AgentOut) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Console(Protocol):
    """An agent's open console as the desk sees it (bot.chat.agent_session.AgentSession)."""

    agent: handoff.Agent
    held: set[str]
    queued: set[str]

    async def send(self, frame: AgentOut) -> None: ...


@dataclass
class _Cached:
    rules: Rules
    has_agents: bool
    at: float


class Desk:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        hub: Hub,
        clock: Callable[[], datetime],
        heartbeat_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.hub = hub
        self.clock = clock
        self.heartbeat = heartbeat_seconds
        self._by_licensee: dict[str, set[Console]] = defaultdict(set)
        self._by_agent: dict[str, set[Console]] = defaultdict(set)
        self._cache: dict[str, _Cached] = {}

    @property
    def presence_ttl(self) -> timedelta:
        """How long a console counts as open without a heartbeat (a crashed server's agents)."""
        return timedelta(seconds=self.heartbeat * 3)

    # ------------------------------------------------------------------ consoles

    def add(self, console: Console) -> None:
        self._by_licensee[console.agent.licensee_id].add(console)
        self._by_agent[console.agent.id].add(console)

    def remove(self, console: Console) -> bool:
        """Forget ``console``; True when it was the agent's last one in this process."""
        for index, key in (
            (self._by_licensee, console.agent.licensee_id),
            (self._by_agent, console.agent.id),
        ):
            sessions = index.get(key)
            if sessions is not None:
                sessions.discard(console)
                if not sessions:
                    del index[key]
        return console.agent.id not in self._by_agent

    def consoles(self) -> list[Console]:
        return [c for group in self._by_agent.values() for c in group]

    def agents_here(self) -> list[handoff.Agent]:
        return [next(iter(group)).agent for group in self._by_agent.values() if group]

    # ------------------------------------------------------------------ rules (cached)

    async def _load(self, licensee_id: str) -> _Cached:
        def read(session: Any) -> _Cached:
            rules = rules_for(session, licensee_id)
            return _Cached(rules, handoff.has_agents(session, licensee_id), time.monotonic())

        cached = await asyncio.to_thread(self.db.read, read)
        self._cache[licensee_id] = cached
        return cached

    async def rules(self, licensee_id: str) -> Rules:
        cached = self._cache.get(licensee_id)
        if cached is None or time.monotonic() - cached.at > RULES_TTL:
            cached = await self._load(licensee_id)
        return cached.rules

    async def has_agents(self, licensee_id: str) -> bool:
        await self.rules(licensee_id)
        return self._cache[licensee_id].has_agents

    def offers_person(self, licensee_id: str) -> bool:
        """Whether the robot's "don't know" offers a person (as last read; no waiting)."""
        cached = self._cache.get(licensee_id)
        return cached is not None and cached.has_agents and cached.rules.offer_on_dont_know

    def forget_rules(self, licensee_id: str) -> None:
        self._cache.pop(licensee_id, None)

    # ------------------------------------------------------------------ delivery

    async def to_visitor(
        self, licensee_id: str, visitor_id: str, frame: Handoff | AgentMessage | AgentTyping
    ) -> None:
        """A frame for every socket of one end user, here and on other processes."""
        await self._visitor_here(licensee_id, visitor_id, frame)
        await self.bus.publish(
            Topic.VISITOR,
            {
                "licensee_id": licensee_id,
                "visitor_id": visitor_id,
                "frame": frame.model_dump(mode="json"),
            },
        )

    async def _visitor_here(self, licensee_id: str, visitor_id: str, frame: ServerFrame) -> None:
        for session in self.hub.of_visitor(licensee_id, visitor_id):
            try:
                await session.send(frame)
            except Exception:
                log.debug("push to a closing socket failed", exc_info=True)

    async def to_agent(self, agent_id: str, frame: AgentOut) -> None:
        """A frame for every console of one agent."""
        await self._agent_here(agent_id, frame)
        await self.bus.publish(
            Topic.AGENT,
            {"licensee_id": None, "agent_id": agent_id, "frame": frame.model_dump(mode="json")},
        )

    async def _agent_here(self, agent_id: str, frame: AgentOut) -> None:
        for console in list(self._by_agent.get(agent_id, ())):
            # Every console of the agent, on every process, holds what the agent holds.
            if isinstance(frame, Released):
                console.held.discard(frame.conversation)
            elif isinstance(frame, Assigned):
                console.held.add(frame.conversation)
            await _send(console, frame)

    async def to_holders(self, licensee_id: str, conversation_id: str, frame: AgentOut) -> None:
        """A frame for the consoles holding one conversation."""
        await self._holders_here(licensee_id, conversation_id, frame)
        await self.bus.publish(
            Topic.AGENT,
            {
                "licensee_id": licensee_id,
                "conversation_id": conversation_id,
                "frame": frame.model_dump(mode="json"),
            },
        )

    async def _holders_here(self, licensee_id: str, conversation_id: str, frame: AgentOut) -> None:
        for console in list(self._by_licensee.get(licensee_id, ())):
            if conversation_id in console.held:
                await _send(console, frame)

    async def queue_changed(self, licensee_id: str) -> None:
        await self.refresh_queue(licensee_id)
        await self.bus.publish(Topic.AGENT, {"licensee_id": licensee_id, "queue": True})

    async def refresh_queue(self, licensee_id: str) -> None:
        """Read the licensee's queue once and send it to its consoles here."""
        consoles = list(self._by_licensee.get(licensee_id, ()))
        if not consoles:
            return
        frame = await self.queue_frame(licensee_id)
        ids = {item.conversation for item in frame.items}
        for console in consoles:
            console.queued = set(ids)
            await _send(console, frame)

    async def queue_frame(self, licensee_id: str) -> Queue:
        items = await asyncio.to_thread(self.db.read, lambda s: handoff.queue(s, licensee_id))
        return Queue(
            items=[
                QueueEntry(
                    conversation=i.conversation_id,
                    waiting_since=i.waiting_since,
                    preview=i.preview,
                    page=i.page,
                    locale=i.locale,
                )
                for i in items
            ]
        )

    async def ended(self, ending: units.Ending) -> None:
        """A unit ended (here or elsewhere): tell the consoles holding it, drop it from queues."""
        conv = ending.conversation.id
        frame = ConversationEnded(conversation=conv, reason=ending.reason)
        queued = False
        for console in list(self._by_licensee.get(ending.licensee_id, ())):
            if conv in console.held:
                console.held.discard(conv)
                await _send(console, frame)
            queued = queued or conv in console.queued
        if queued:
            await self.refresh_queue(ending.licensee_id)

    async def returned(self, back: list[handoff.Returned]) -> None:
        """Conversations of agents gone past the grace period are waiting again."""
        for item in back:
            await self.to_agent(item.agent_id, Released(conversation=item.conversation_id))
            read = partial(handoff.live, conversation_id=item.conversation_id)
            live = await asyncio.to_thread(self.db.read, read)
            if live is not None and live.position is not None:
                text = queued_text(live.locale, live.position)
                frame = Handoff(
                    status=HandoffStatus.QUEUED,
                    text=text,
                    position=live.position,
                    wait=live.wait_seconds,
                )
                await self.to_visitor(item.licensee_id, item.visitor_id, frame)
        for licensee_id in {item.licensee_id for item in back}:
            await self.queue_changed(licensee_id)

    # ------------------------------------------------------------------ the bus

    async def __call__(self, topic: Topic, data: Data) -> None:
        if topic == Topic.VISITOR:
            frame = _visitor_frames.validate_python(data["frame"])
            await self._visitor_here(str(data["licensee_id"]), str(data["visitor_id"]), frame)
        elif topic == Topic.AGENT:
            if data.get("queue"):
                await self.refresh_queue(str(data["licensee_id"]))
                return
            agent_frame = load_agent_out(data["frame"])
            if data.get("agent_id"):
                await self._agent_here(str(data["agent_id"]), agent_frame)
            else:
                await self._holders_here(
                    str(data["licensee_id"]), str(data["conversation_id"]), agent_frame
                )
        elif topic == Topic.ENDED:
            from bot.chat.signals import ending_of

            await self.ended(ending_of(data))
        elif topic == Topic.LICENCE and data.get("licensee_id"):
            self.forget_rules(str(data["licensee_id"]))  # its hand-off rules may have changed
        elif topic == Topic.RESYNC:
            for licensee_id in list(self._by_licensee):
                await self.refresh_queue(licensee_id)


async def _send(console: Console, frame: AgentOut) -> None:
    try:
        await console.send(frame)
    except Exception:
        log.debug("push to a closing console failed", exc_info=True)
