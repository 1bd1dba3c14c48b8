"""Fixtures of the chat-server tests: a licensee on a real SQLite database and sessions for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.chat.services import build_services
from core.db.engine import Database
from core.licensing.licensees import authenticate_chat, create_licensee
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.servers import settings_for
from testkit.sessions import ChatKit, Clock
from testkit.tenants import ORIGIN


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
