"""Bounded connections over a real server: half-sent handshakes and silent sockets are closed,
and one address has a cap on open sockets and on messages per licensee."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from bot.chat.services import build_services
from core.db.engine import Database
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.chat_client import Chat
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

DEADLINE = 0.5


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/kefu.db", sqlite_synchronous="NORMAL")
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def strict(db: Database) -> Iterator[LiveServer]:
    """A server with short deadlines and small per-address limits, trusting a local proxy."""
    settings = settings_for(
        db.url,
        handshake_timeout_seconds=DEADLINE,
        hello_timeout_seconds=DEADLINE,
        max_sockets_per_address=3,
        rate_address_messages="4/10s",
    )
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services, forwarded_allow_ips="127.0.0.1"):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)


def tenant(db: Database, name: str = "Shop") -> Tenant:
    return make_tenant(db, name=name)


async def open_chat(live: LiveServer, key: str, via: str | None = None, **kw: Any) -> Chat:
    headers = {"X-Forwarded-For": via} if via else None
    return await Chat.open(live.ws_url, key, headers=headers, **kw)


async def test_half_sent_handshakes_and_idle_connections_are_closed(
    strict: LiveServer, db: Database
) -> None:
    t = tenant(db)
    host, port = strict.ws_url.removeprefix("ws://").split(":")
    streams = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
    for i, (_reader, writer) in enumerate(streams):
        if i % 2:  # half a WebSocket handshake; the others send nothing at all
            writer.write(f"GET /v1/chat?key={t.keys.site_key} HTTP/1.1\r\nHost: x\r\n".encode())
            await writer.drain()
    started = time.monotonic()
    # A chat that finished its handshake and said hello outlives the deadline.
    chat = await open_chat(strict, t.keys.site_key)
    await chat.hello()
    for reader, writer in streams:
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()
    assert time.monotonic() - started < 5
    await asyncio.sleep(DEADLINE * 2)
    _ack, frames = await chat.ask("m1", "still here")
    assert frames[-1]["type"] == "reply.end"
    await chat.close()


async def test_a_socket_that_never_says_hello_is_closed(strict: LiveServer, db: Database) -> None:
    t = tenant(db)
    silent = await open_chat(strict, t.keys.site_key)
    started = time.monotonic()
    assert await silent.close_code() == 1008
    assert DEADLINE * 0.9 <= time.monotonic() - started < 5


async def test_open_sockets_per_address_and_licensee_are_capped(
    strict: LiveServer, db: Database
) -> None:
    t, other = tenant(db), tenant(db, "Other")
    first = [await open_chat(strict, t.keys.site_key) for _ in range(3)]
    for chat in first:
        await chat.hello()
    with pytest.raises(InvalidStatus) as refused:
        await open_chat(strict, t.keys.site_key)
    assert refused.value.response.status_code == 429
    # Another licensee, another address behind the trusted proxy, and the licensee's own
    # server (secret key) are not counted against this address.
    bystander = await open_chat(strict, other.keys.site_key)
    behind_proxy = await open_chat(strict, t.keys.site_key, via="203.0.113.9")
    bearer = {"Authorization": f"Bearer {t.keys.secret_key}"}
    own_server = await Chat.open(strict.ws_url, None, origin=None, headers=bearer)
    for chat in (bystander, behind_proxy, own_server):
        await chat.hello()
    # A closed socket gives its place back.
    await first[0].close()
    for _ in range(50):
        try:
            again = await open_chat(strict, t.keys.site_key)
            break
        except InvalidStatus:
            await asyncio.sleep(0.05)
    await again.hello()
    for chat in (*first[1:], again, bystander, behind_proxy, own_server):
        await chat.close()


async def test_messages_per_address_are_limited_across_sockets(
    strict: LiveServer, db: Database
) -> None:
    t, other = tenant(db), tenant(db, "Other")
    chats = [await open_chat(strict, t.keys.site_key) for _ in range(3)]
    for chat in chats:
        await chat.hello()  # three end users, one address
    for i in range(4):
        _ack, frames = await chats[i % 3].ask(f"m{i}", f"question {i}")
        assert frames[-1]["type"] == "reply.end"
    await chats[1].send({"type": "message", "id": "over", "text": "one too many"})
    limited = await chats[1].expect("error")
    assert limited["code"] == "rate_limited" and limited["id"] == "over"
    assert limited["retry_after"] > 0
    # Other addresses and other licensees have their own budget.
    elsewhere = await open_chat(strict, t.keys.site_key, via="203.0.113.9")
    await elsewhere.hello()
    _ack, frames = await elsewhere.ask("e1", "from elsewhere")
    assert frames[-1]["type"] == "reply.end"
    bystander = await open_chat(strict, other.keys.site_key)
    await bystander.hello()
    _ack, frames = await bystander.ask("b1", "another shop")
    assert frames[-1]["type"] == "reply.end"
    for chat in (*chats, elsewhere, bystander):
        await chat.close()


@pytest.fixture
def touchy(db: Database) -> Iterator[LiveServer]:
    """A server whose addresses may be refused 5 times a minute."""
    settings = settings_for(db.url, rate_address_refusals="5/min", rate_visitor_hellos="1/min")
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services, forwarded_allow_ips="127.0.0.1"):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)


async def test_an_address_refused_too_often_is_closed_and_refused_before_the_key_is_checked(
    touchy: LiveServer, db: Database
) -> None:
    t = tenant(db)
    chat = await open_chat(touchy, t.keys.site_key, via="203.0.113.5")
    await chat.hello()
    for i in range(5):  # bad frames, each refused: within the address's rate
        await chat.send({"type": "message", "id": f"s{i}", "text": "\ud800"})
        assert (await chat.expect("error"))["code"] == "bad_frame"
    await chat.send({"type": "message", "id": "s5", "text": "\ud800"})
    assert (await chat.expect("error"))["code"] == "bad_frame"
    assert await chat.close_code() == 1008  # the sixth: over the rate, the socket is closed
    # Its next sockets are refused before any work: even with a key that does not exist (which
    # would be 401 once looked up), after a delay that slows a client looping on refusals.
    started = asyncio.get_running_loop().time()
    for key in (t.keys.site_key, "pk_live_unknown"):
        with pytest.raises(InvalidStatus) as refused:
            await open_chat(touchy, key, via="203.0.113.5")
        assert refused.value.response.status_code == 429
    assert asyncio.get_running_loop().time() - started >= 1.5
    # Another address is served as before, and so is one honest end user's pace.
    other = await open_chat(touchy, t.keys.site_key, via="203.0.113.6")
    await other.hello()
    _ack, frames = await other.ask("m1", "hello there")
    assert frames[-1]["type"] == "reply.end"
    await other.close()


async def test_refused_hellos_count_against_the_address_too(
    touchy: LiveServer, db: Database
) -> None:
    t = tenant(db)
    first = await open_chat(touchy, t.keys.site_key, via="203.0.113.7")
    token = (await first.hello())["visitor"]
    await first.close()
    chat = await open_chat(touchy, t.keys.site_key, via="203.0.113.7")
    for _ in range(5):  # the same end user's hellos, over its 1 a minute: refused, not closed
        await chat.send({"type": "hello", "visitor": token})
        assert (await chat.expect("error"))["code"] == "rate_limited"
    await chat.send({"type": "hello", "visitor": token})
    assert (await chat.expect("error"))["code"] == "rate_limited"
    assert await chat.close_code() == 1008
    with pytest.raises(InvalidStatus) as refused:
        await open_chat(touchy, t.keys.site_key, via="203.0.113.7")
    assert refused.value.response.status_code == 429
