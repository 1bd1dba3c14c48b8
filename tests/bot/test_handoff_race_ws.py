"""Two tabs of one end user ask for a person at the same instant: both join the one request.

On PostgreSQL the production write path runs writes in parallel transactions (the pooled
writer), so both tabs' requests can be in flight at once; on SQLite the group commit runs them
one after the other. Either way: one queue entry, and both tabs see it queued."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from bot.chat.services import build_services
from core.db.engine import Database
from core.db.tables import Handoff
from testkit.agent_console import open_console, recv, sign_in_as
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.chat_client import Chat
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import make_tenant

pytestmark = pytest.mark.anyio


@pytest.fixture
def pooled(db_url: str) -> Iterator[LiveServer]:
    """A real server whose database writes as production's does (PostgreSQL: parallel
    transactions on pooled connections)."""
    database = Database(db_url, sqlite_synchronous="NORMAL", write_threads=4)
    database.migrate()
    settings = settings_for(db_url, ws_ping_interval_seconds=0.3)
    answerer = EchoAnswerer()
    services = build_services(
        settings, database, answerer=answerer, index_builder=KeywordIndex.build
    )
    try:
        for address in run_server(services):
            yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)
    finally:
        database.close()


async def handoff_of(chat: Chat) -> dict[str, Any]:
    while True:
        frame = await chat.recv()
        if frame["type"] == "handoff":
            return frame


async def test_two_tabs_asking_at_once_join_one_request(pooled: LiveServer) -> None:
    tenant = make_tenant(pooled.services.db)
    sign_in_as(pooled, tenant)
    console = await open_console(pooled)
    await recv(console, "queue")
    first = await Chat.start(pooled.ws_url, tenant.keys.site_key, locale="en")
    assert first.welcome is not None
    token = first.welcome["visitor"]
    second = await Chat.start(pooled.ws_url, tenant.keys.site_key, token, locale="en")
    tabs = (first, second)
    try:
        for round_ in range(5):
            await asyncio.gather(*(tab.send({"type": "handoff"}) for tab in tabs))
            # Each tab hears its own request's outcome and its twin's (both are the visitor's).
            seen = [[await handoff_of(tab) for _ in range(2)] for tab in tabs]
            statuses = {f["status"] for frames in seen for f in frames}
            assert statuses == {"queued"}, (round_, seen)
            with pooled.services.db.read_session() as s:
                live = s.exec(select(Handoff).where(col(Handoff.status) == "queued")).all()
            assert len(live) == 1
            conv = live[0].conversation_id
            await console.send(f'{{"type": "accept", "conversation": "{conv}"}}')
            await recv(console, "assigned")
            for tab in tabs:
                assert (await handoff_of(tab))["status"] == "assigned"
            await console.send(f'{{"type": "release", "conversation": "{conv}"}}')
            await recv(console, "released")
            for tab in tabs:  # the release, told to both tabs
                assert (await handoff_of(tab))["status"] == "returned"
    finally:
        for tab in tabs:
            await tab.close()
        await console.close()
