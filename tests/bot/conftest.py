"""Chat sessions without a server: a recording sink, a settable clock and a real SQLite database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.chat.services import ChatServices, build_services
from bot.chat.session import ChatSession
from core.chat.frames import ServerFrame, parse_client_frame
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing.licensees import CreatedKeys, authenticate_chat, create_licensee
from core.types import utcnow
from tests.conftest import ORIGIN, settings_for
from tests.fakes import EchoAnswerer, KeywordIndex


class Outbox:
    """A session's ``Sink`` that keeps what it was given."""

    def __init__(self) -> None:
        self.frames: list[ServerFrame] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, frame: ServerFrame) -> None:
        assert self.closed is None, f"{frame.type} sent after the close"
        self.frames.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def types(self) -> list[str]:
        return [frame.type for frame in self.frames]

    def take(self) -> list[ServerFrame]:
        """The frames so far, forgetting them."""
        frames, self.frames = self.frames, []
        return frames


class Clock:
    """``services.clock``, moved by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class ChatKit:
    """One licensee on a real SQLite database, and sessions for it as the socket would open."""

    db: Database
    services: ChatServices
    answerer: EchoAnswerer
    clock: Clock
    licensee: Licensee
    keys: CreatedKeys
    site_key_id: str
    sessions: list[ChatSession] = field(default_factory=list)

    async def connect(self, key: str | None = None) -> tuple[ChatSession, Outbox]:
        """A started session on ``key`` (the live site key by default) and its outbox."""
        with self.db.read_session() as s:
            ctx = authenticate_chat(s, key or self.keys.site_key, ORIGIN, None)
        outbox = Outbox()
        session = ChatSession(self.services, ctx, outbox)
        self.sessions.append(session)
        await session.start()
        return session, outbox

    async def greeted(
        self, visitor: str | None = None, locale: str = "en"
    ) -> tuple[ChatSession, Outbox]:
        """A session past its hello (the welcome is taken out of its outbox)."""
        session, outbox = await self.connect()
        await self.say(session, {"type": "hello", "visitor": visitor, "locale": locale})
        assert outbox.types() == ["welcome"], outbox.frames
        return session, outbox

    @staticmethod
    async def say(session: ChatSession, frame: dict[str, Any]) -> None:
        """Hand ``session`` one client frame, parsed as the socket's text would be."""
        await session.receive(parse_client_frame(json.dumps(frame)))

    def count(self, model: type, /, **where: object) -> int:
        table = model.__table__  # type: ignore[attr-defined]
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        return int(self.db.read(lambda conn: conn.execute(query).scalar_one()))


@pytest.fixture
async def chat_kit(tmp_path: Path) -> AsyncIterator[ChatKit]:
    db = Database(f"sqlite:///{tmp_path}/kefu.db", sqlite_synchronous="NORMAL")
    db.migrate()
    clock = Clock()
    with db.session() as s:
        licensee, keys = create_licensee(s, name="Shop", origins=[ORIGIN], now=clock())
        s.commit()
    answerer = EchoAnswerer()
    services = build_services(
        settings_for(db.url), db, answerer=answerer, index_builder=KeywordIndex.build
    )
    services.clock = clock
    with db.read_session() as s:
        key_id = authenticate_chat(s, keys.site_key, ORIGIN, None).key_id
    kit = ChatKit(db, services, answerer, clock, licensee, keys, key_id)
    yield kit
    for session in kit.sessions:  # as the socket layer does: answers finish storing first
        await session.stop()
    db.close()
