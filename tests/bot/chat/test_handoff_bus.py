"""Hand-off across processes: two servers' services on one database with a Redis bus between
them; the agent's console on one, the end user's socket on the other."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat.agent_session import AgentSession
from bot.chat.services import ChatServices, build_services
from bot.chat.session import ChatSession
from core.bus import RedisBus
from core.chat import handoff
from core.chat.agent_frames import Assigned, ConversationMessage, Queue
from core.chat.frames import AgentMessage, Handoff, HandoffStatus, parse_client_frame
from core.db.engine import Database
from core.licensing.licensees import authenticate_chat, create_licensee
from core.types import utcnow
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.servers import settings_for
from testkit.sessions import Outbox
from testkit.tenants import ORIGIN
from testkit.workers import REDIS_URL

pytestmark = pytest.mark.anyio


class Sink:
    def __init__(self) -> None:
        self.frames: list[Any] = []

    async def send(self, frame: Any) -> None:
        self.frames.append(frame)

    async def close(self, code: int, reason: str) -> None:
        pass


async def until(predicate: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not delivered in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[ChatServices, ChatServices, str, str]]:
    url = f"sqlite:///{tmp_path}/kefu.db"
    first_db = Database(url, sqlite_synchronous="NORMAL")
    first_db.migrate()
    with first_db.session() as s:
        licensee, keys = create_licensee(s, name="Shop", origins=[ORIGIN], now=utcnow())
        s.commit()
    second_db = Database(url, sqlite_synchronous="NORMAL")
    prefix = f"t{secrets.token_hex(4)}:"
    made = []
    for db in (first_db, second_db):
        settings = settings_for(url, redis_url=REDIS_URL, redis_prefix=prefix)
        services = build_services(
            settings, db, answerer=EchoAnswerer(), index_builder=KeywordIndex.build
        )
        assert isinstance(services.bus, RedisBus)  # as `kefu serve` builds it with Redis
        services.bus.subscribe(services.desk)
        await services.bus.start()
        made.append(services)
    yield made[0], made[1], licensee.id, keys.site_key
    for services in made:
        await services.bus.aclose()
        await services.limiter.aclose()
        await services.claims.aclose()
        services.workpool.close()
        services.db.close()


async def test_an_agent_on_one_process_and_an_end_user_on_another(
    two: tuple[ChatServices, ChatServices, str, str],
) -> None:
    agents_side, users_side, licensee_id, site_key = two
    sink = Sink()
    agent = AgentSession(agents_side, handoff.Agent("u_a", "Ann", licensee_id), sink)
    await agent.start()
    with users_side.db.read_session() as s:
        ctx = authenticate_chat(s, site_key, ORIGIN, None)
    outbox = Outbox()
    user = ChatSession(users_side, ctx, outbox)
    await user.start()
    await user.receive(parse_client_frame('{"type": "hello", "visitor": null, "locale": "en"}'))
    await user.receive(parse_client_frame('{"type": "handoff"}'))
    queued = [f for f in outbox.frames if isinstance(f, Handoff)]
    assert queued and queued[0].status == HandoffStatus.QUEUED
    # The queue reaches the console on the other process through the bus.
    await until(lambda: any(isinstance(f, Queue) and f.items for f in sink.frames))
    assert user.conversation is not None
    conv = user.conversation.id
    await agent.receive_text(f'{{"type": "accept", "conversation": "{conv}"}}')
    assert any(isinstance(f, Assigned) for f in sink.frames)
    await until(
        lambda: any(
            isinstance(f, Handoff) and f.status == HandoffStatus.ASSIGNED for f in outbox.frames
        )
    )
    await agent.receive_text(
        f'{{"type": "message", "conversation": "{conv}", "id": "a1", "text": "Hello from Ann"}}'
    )
    await until(lambda: any(isinstance(f, AgentMessage) for f in outbox.frames))
    await user.receive(parse_client_frame('{"type": "message", "id": "m1", "text": "hi Ann"}'))
    await until(
        lambda: any(
            isinstance(f, ConversationMessage) and f.message.text == "hi Ann" for f in sink.frames
        )
    )
    await user.stop()
    await agent.stop()
