"""Chat sessions without a server: a recording sink, a settable clock and a real SQLite database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.chat.services import ChatServices
from bot.chat.session import ChatSession
from core.chat.frames import ServerFrame, parse_client_frame
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing.licensees import CreatedKeys, authenticate_chat
from core.types import utcnow
from testkit.answerers import EchoAnswerer
from testkit.tenants import ORIGIN


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
