"""Protocol v1 over a real uvicorn server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from websockets.exceptions import InvalidStatus

from bot.answerers.contract import AnswerEvent, AnswerRequest, Delta
from core.chat import conversations as units
from core.chat.frames import EndReason
from core.db.tables import Conversation, LicenceStatus, Message
from core.licensing.licensees import revoke_key, set_status
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio


def count(live: LiveServer, model: type, **where: object) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    return int(live.services.db.read(lambda conn: conn.execute(query).scalar_one()))


async def refused(live: LiveServer, key: str | None, **kw: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        await Chat.open(live.ws_url, key, **kw)  # type: ignore[arg-type]
    return info.value.response.status_code


# ------------------------------------------------------------------ handshake


async def test_unknown_and_revoked_keys_get_401_before_upgrade(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    assert await refused(live, "pk_live_nope") == 401
    assert await refused(live, None) == 401
    assert await refused(live, t.keys.secret_key) == 401  # a secret key is not a site key
    with live.services.db.session() as s:
        revoke_key(s, t.keys.site_key, utcnow())
        s.commit()
    assert await refused(live, t.keys.site_key) == 401
    assert count(live, Conversation) == 0


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example.evil.com",
        "https://shop.example.com.evil.com",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "null",
        None,
    ],
)
async def test_origins_not_allowed_get_403(
    live: LiveServer, make_tenant: MakeTenant, origin: str | None
) -> None:
    t = make_tenant()
    assert await refused(live, t.keys.site_key, origin=origin) == 403
    assert count(live, Conversation) == 0


async def test_wildcard_origin_and_server_side_secret_key(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant(origins=["https://*.example.com"])
    chat = await Chat.start(live.ws_url, t.keys.site_key, origin="https://a.b.example.com")
    await chat.close()
    assert await refused(live, t.keys.site_key, origin="https://example.com") == 403
    # A server-side client without an Origin authenticates with its secret key.
    server = await Chat.open(
        live.ws_url, None, origin=None, headers={"Authorization": f"Bearer {t.keys.secret_key}"}
    )
    await server.hello()
    _ack, frames = await server.ask("s1", "hi")
    assert frames[-1]["type"] == "reply.end"
    await server.close()


# ------------------------------------------------------------------ conversation


async def test_message_is_acked_then_streamed_with_ai_metadata(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    welcome = await chat.hello(locale="en")
    config = welcome["config"]
    assert "技术支持：Kefu" in config["attribution"]
    assert config["ai_label"] == "AI-generated"
    assert config["disclaimer"]
    assert welcome["conversation"] is None and welcome["history"] == []
    assert count(live, Conversation) == 0  # opening the widget starts nothing

    ack, frames = await chat.ask("m1", "where is my order")
    assert ack["id"] == "m1" and ack["conversation"]["id"].startswith("conv_")
    assert "+00:00" in ack["conversation"]["started_at"] or ack["conversation"][
        "started_at"
    ].endswith("Z")
    start, *deltas, end = frames
    assert start == {"type": "reply.start", "reply": end["reply"], "to": "m1"}
    assert deltas and all(d["type"] == "reply.delta" and d["reply"] == end["reply"] for d in deltas)
    assert "".join(d["text"] for d in deltas) == end["text"] == "echo: where is my order"
    assert end["ai"]["label"] == "AI-generated" and end["ai"]["model"] == "echo-1"
    assert end["ai"]["content_id"] and end["sources"] == []
    assert count(live, Conversation) == 1
    await chat.close()


async def test_reconnect_and_second_tab_continue_the_same_unit(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    first = await Chat.open(live.ws_url, t.keys.site_key)
    token = (await first.hello())["visitor"]
    ack, _ = await first.ask("a", "<b>bold</b> & <script>alert(1)</script>")
    conv = ack["conversation"]["id"]
    await first.close()

    again = await Chat.open(live.ws_url, t.keys.site_key)
    welcome = await again.hello(token)
    assert welcome["conversation"]["id"] == conv
    roles = [(h["role"], h["text"]) for h in welcome["history"]]
    assert roles[0] == ("visitor", "<b>bold</b> & <script>alert(1)</script>")  # plain text
    assert roles[1][0] == "robot" and welcome["history"][1]["ai"]["model"] == "echo-1"
    assert welcome["history"][0]["client_id"] == "a"
    tab2 = await Chat.start(live.ws_url, t.keys.site_key, token)
    ack2, _ = await tab2.ask("b", "second tab")
    ack3, _ = await again.ask("c", "first tab again")
    assert ack2["conversation"]["id"] == ack3["conversation"]["id"] == conv
    assert count(live, Conversation) == 1
    await again.close()
    await tab2.close()


async def test_unknown_or_forged_visitor_token_is_a_new_visitor(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t, other = make_tenant(), make_tenant(name="Other")
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    token = (await chat.hello())["visitor"]
    await chat.ask("x", "hi")
    await chat.close()
    visitor_id = token.split(".")[0]
    for forged in [f"{visitor_id}.AAAAAAAAAAAAAAAAAAAAAA", "garbage", visitor_id]:
        c = await Chat.open(live.ws_url, t.keys.site_key)
        welcome = await c.hello(forged)
        assert welcome["conversation"] is None and welcome["visitor"] != token
        await c.close()
    # A token is bound to its licensee: it does not resume anything at another licensee.
    c = await Chat.open(live.ws_url, other.keys.site_key)
    assert (await c.hello(token))["conversation"] is None
    await c.close()


async def test_duplicate_id_is_acked_again_and_answered_once(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    ack, _ = await chat.ask("same", "hello")
    await chat.send({"type": "message", "id": "same", "text": "hello"})
    assert await chat.expect("ack") == ack
    with pytest.raises(TimeoutError):
        await chat.recv(wait=0.5)
    assert count(live, Message, role="visitor") == 1
    await chat.close()


async def test_fifty_concurrent_sends_of_one_id_make_one_message_one_answer(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    first = await Chat.open(live.ws_url, t.keys.site_key)
    token = (await first.hello())["visitor"]
    tabs = [first]
    for _ in range(4):
        tab = await Chat.start(live.ws_url, t.keys.site_key, token)
        tabs.append(tab)
    frame = json.dumps({"type": "message", "id": "dup", "text": "once"})
    await asyncio.gather(*(tabs[i % 5].send(frame) for i in range(50)))
    frames = []
    for tab in tabs:
        while True:
            try:
                frames.append(await tab.recv(wait=1.0))
            except TimeoutError:
                break
    acks = [f for f in frames if f["type"] == "ack"]
    limited = [f for f in frames if f["type"] == "error" and f["code"] == "rate_limited"]
    # Every send is answered with an ack or, past the visitor's rate, a rate_limited error.
    assert len(acks) + len(limited) == 50 and acks
    assert len({a["conversation"]["id"] for a in acks}) == 1
    assert sum(f["type"] == "reply.end" for f in frames) == 1
    assert count(live, Message, role="visitor") == 1
    assert count(live, Message, role="robot") == 1
    assert live.answerer.calls == 1
    for tab in tabs:
        await tab.close()


async def test_close_then_message_starts_a_new_unit_and_rating(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    await chat.send({"type": "rating", "score": 5})
    assert (await chat.expect("error"))["code"] == "no_conversation"
    await chat.send({"type": "close"})
    assert (await chat.expect("error"))["code"] == "no_conversation"
    ack, _ = await chat.ask("1", "hi")
    await chat.send({"type": "close"})
    ended = await chat.expect("ended")
    assert ended["reason"] == "closed" and ended["conversation"]["id"] == ack["conversation"]["id"]
    await chat.send({"type": "rating", "score": 4, "comment": "好"})
    rated = await chat.expect("ack")
    assert rated["id"] is None and rated["conversation"]["id"] == ack["conversation"]["id"]
    ack2, _ = await chat.ask("2", "again")
    assert ack2["conversation"]["id"] != ack["conversation"]["id"]
    assert count(live, Conversation) == 2
    await chat.close()


async def test_test_key_units_are_marked_test(live: LiveServer, make_tenant: MakeTenant) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.test_site_key)
    ack, _ = await chat.ask("t", "trying the integration")
    assert ack["conversation"]["test"] is True
    assert count(live, Conversation, test=True) == 1
    await chat.close()


# ------------------------------------------------------------------ bad input


async def test_bad_frames_get_errors_and_the_socket_stays_open(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    await chat.send({"type": "message", "id": "early", "text": "before hello"})
    early = await chat.expect("error")
    assert early["code"] == "hello_required" and early["id"] == "early"
    await chat.hello()
    bad_frames: list[str | bytes] = [
        "{not json",
        b"\x00\x01binary",
        json.dumps({"type": "teleport"}),
        json.dumps({"type": "message", "text": "no id"}),
        json.dumps({"type": "message", "id": 5, "text": "id is a number"}),
        json.dumps({"type": "message", "id": "e", "text": "   "}),
        json.dumps({"type": "rating", "score": 9}),
        json.dumps({"type": "rating", "score": "5"}),
        json.dumps([1, 2]),
    ]
    for bad in bad_frames:
        await chat.send(bad)
        assert (await chat.expect("error"))["code"] == "bad_frame", bad
    await chat.send({"type": "message", "id": "long", "text": "字" * 2001})
    too_long = await chat.expect("error")
    assert too_long["code"] == "message_too_long" and too_long["id"] == "long"
    ack, _ = await chat.ask("ok", "字" * 2000)  # exactly the limit is fine, and we are still open
    assert ack["id"] == "ok"
    await chat.close()


async def test_ten_bad_frames_in_a_row_close_with_1008(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    for _ in range(10):
        await chat.send("nope")
    assert await chat.close_code() == 1008


async def test_frame_over_16_kib_closes_with_1009(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    await chat.send(json.dumps({"type": "message", "id": "big", "text": "x" * (17 * 1024)}))
    assert await chat.close_code() == 1009
    assert count(live, Message) == 0
    await chat.close()


async def test_flooding_visitor_is_rate_limited_others_are_not(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    flood = await Chat.start(live.ws_url, t.keys.site_key)
    calm = await Chat.start(live.ws_url, t.keys.site_key)
    limited = None
    for i in range(40):
        await flood.send({"type": "message", "id": f"f{i}", "text": "spam"})
    for _ in range(400):
        frame = await flood.recv()
        if frame["type"] == "error" and frame["code"] == "rate_limited":
            limited = frame
            break
    assert limited is not None and limited["retry_after"] > 0 and limited["id"].startswith("f")
    ack, _ = await calm.ask("c1", "hello")  # another end user is unaffected
    assert ack["id"] == "c1"
    await flood.close()
    await calm.close()


# ------------------------------------------------------------------ pushes


async def test_idle_sweeper_ends_the_unit_and_tells_the_widget(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    ack, _ = await chat.ask("1", "hi")
    started = utcnow()
    live.services.clock = lambda: started + timedelta(minutes=31)
    ended = await chat.expect("ended", wait=5)
    assert ended["reason"] == "idle" and ended["conversation"]["id"] == ack["conversation"]["id"]

    def ended_at(conn: Session) -> datetime:
        table = Conversation.__table__  # type: ignore[attr-defined]
        value: datetime = conn.execute(select(table.c.ended_at)).scalar_one()
        return value

    # The unit ended when the idle time ran out after the last message, not when swept.
    assert live.services.db.read(ended_at) <= started + timedelta(minutes=30, seconds=1)
    await chat.close()


async def test_suspension_ends_units_and_closes_sockets_with_4403(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    ack, _ = await chat.ask("1", "hi")
    now = utcnow()
    with live.services.db.session() as s:
        set_status(s, t.licensee.id, LicenceStatus.SUSPENDED, now)
        s.commit()
    live.services.db.writer.run(
        lambda conn: units.end_all_open(conn, t.licensee.id, EndReason.SUSPENDED, now)
    )
    ended = await chat.expect("ended", wait=5)
    assert (
        ended["reason"] == "suspended" and ended["conversation"]["id"] == ack["conversation"]["id"]
    )
    notice = await chat.expect("notice")
    assert notice["kind"] == "suspended" and notice["text"]
    assert await chat.close_code() == 4403
    await chat.close()

    # A new visit is upgraded so that the widget can say why, then closed the same way.
    again = await Chat.open(live.ws_url, t.keys.site_key)
    assert (await again.expect("notice"))["kind"] == "suspended"
    assert await again.close_code() == 4403


async def test_revoking_a_key_closes_its_open_sockets(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    with live.services.db.session() as s:
        revoke_key(s, t.keys.site_key, utcnow())
        s.commit()
    assert (await chat.expect("notice", wait=5))["kind"] == "suspended"
    assert await chat.close_code() == 4403


async def test_maintenance_is_announced_then_enforced(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    from core.licensing.maintenance import announce

    t, other = make_tenant(), make_tenant(name="Other")
    now = utcnow()
    with live.services.db.session() as s:
        with pytest.raises(Exception, match="at least 1 day"):
            announce(
                s,
                starts_at=now + timedelta(hours=23),
                ends_at=now + timedelta(days=1, hours=1),
                now=now,
            )
        window = announce(
            s,
            starts_at=now + timedelta(days=1, minutes=1),
            ends_at=now + timedelta(days=1, hours=2),
            now=now,
            text="升级维护",
            licensee_id=t.licensee.id,
        )
        s.commit()
    live.services.load_maintenance()
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    notice = (await chat.hello())["notice"]
    assert notice["kind"] == "maintenance" and notice["text"] == "升级维护"
    assert notice["starts_at"].startswith(window.starts_at.strftime("%Y-%m-%dT%H:%M"))
    bystander = await Chat.open(live.ws_url, other.keys.site_key)
    assert (await bystander.hello())["notice"] is None  # another licensee's window

    # When the window starts, open widgets get the notice and a 4503 close ...
    live.services.clock = lambda: window.starts_at + timedelta(minutes=1)
    assert (await chat.expect("notice", wait=5))["kind"] == "maintenance"
    assert await chat.close_code() == 4503
    # ... and a new visit during it is upgraded, told, and closed the same way.
    again = await Chat.open(live.ws_url, t.keys.site_key)
    assert (await again.expect("notice"))["kind"] == "maintenance"
    assert await again.close_code() == 4503
    await bystander.close()


async def test_no_compression_is_offered_and_the_server_pings(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    host, port = live.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"GET /v1/chat?key={t.keys.site_key} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            f"Origin: https://shop.example.com\r\n\r\n"
        ).encode()
    )
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode().lower()
    assert head.startswith("http/1.1 101")
    assert "sec-websocket-extensions" not in head  # per-message compression is not offered
    # The live server pings every 0.3 s: the first frame from it is a ping (opcode 0x9).
    first = await asyncio.wait_for(reader.readexactly(2), 5)
    assert first[0] & 0x0F == 0x9
    writer.close()
    await writer.wait_closed()


class BrokenAnswerer:
    name = "broken"

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        raise RuntimeError("the answerer fell over")
        yield Delta("never")  # pragma: no cover - makes this an async generator


async def test_a_failing_answerer_gives_one_safe_answer_and_the_unit_stands(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    live.services.answerers.fixed = BrokenAnswerer()
    chat = await Chat.start(live.ws_url, t.keys.site_key, locale="en")
    _ack, frames = await chat.ask("1", "hello?")
    end = frames[-1]
    deltas = [f["text"] for f in frames if f["type"] == "reply.delta"]
    assert "".join(deltas) == end["text"] and "person" in end["text"]
    assert end["ai"]["model"] == "kefu-safe-reply" and end["sources"] == []
    assert count(live, Conversation) == 1 and count(live, Message, role="robot") == 1
    await chat.close()


def lost_question(conn: Session, who: units.Speaker, client_id: str) -> units.Recorded:
    return units.record_visitor_message(conn, who, client_id, f"lost {client_id}", utcnow())


async def test_a_question_acknowledged_but_never_answered_is_answered_on_the_next_hello(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    """The server stopped between the ack and the answer (kill -9): the stored question is
    answered when the visitor comes back, once, and remembered as asked only once."""
    t = make_tenant()
    chat = await Chat.open(live.ws_url, t.keys.site_key)
    token = (await chat.hello())["visitor"]
    await chat.ask("m1", "first")
    await chat.close()
    row = live.services.db.read(
        lambda c: c.execute(select(Conversation.__table__)).one()  # type: ignore[attr-defined]
    )
    who = units.Speaker(t.licensee.id, row.visitor_id, row.key_id, False, False, units.UnitPolicy())
    for cid in ("m2", "m3"):  # two questions in a row, both cut off
        live.services.db.writer.run(partial(lost_question, who=who, client_id=cid))

    back = await Chat.open(live.ws_url, t.keys.site_key)
    welcome = await back.hello(token)
    assert [h.get("client_id") for h in welcome["history"]][-2:] == ["m2", "m3"]
    first, second = await back.answer(), await back.answer()
    assert (first[0]["type"], first[0]["to"]) == ("reply.start", "m2")
    assert first[-1]["text"] == "echo: lost m2"
    assert (second[0]["to"], second[-1]["text"]) == ("m3", "echo: lost m3")
    await back.close()
    assert count(live, Message, role="robot") == 3
    # Each resumed question reached the answerer once, with the turns before it as memory.
    resumed = live.answerer.requests[-2:]
    assert [r.question for r in resumed] == ["lost m2", "lost m3"]
    assert [turn.text for turn in resumed[0].history] == ["first", "echo: first"]
    assert [turn.text for turn in resumed[1].history][-2:] == ["lost m2", "echo: lost m2"]

    again = await Chat.open(live.ws_url, t.keys.site_key)
    await again.hello(token)  # the answers are stored: nothing is answered twice
    with pytest.raises(TimeoutError):
        await again.recv(wait=0.5)
    await again.close()
    assert live.answerer.calls == 3


async def test_a_question_still_being_answered_is_not_answered_again_by_another_tab(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    live.answerer.delay = 0.2  # each of three pieces: the answer takes 0.6 s
    tab1 = await Chat.open(live.ws_url, t.keys.site_key)
    token = (await tab1.hello())["visitor"]
    await tab1.send({"type": "message", "id": "q", "text": "slow one"})
    await tab1.expect("ack")
    tab2 = await Chat.open(live.ws_url, t.keys.site_key)
    welcome = await tab2.hello(token)  # tab 1 is still answering "q"
    assert welcome["history"][-1]["client_id"] == "q"
    await tab1.answer()
    with pytest.raises(TimeoutError):
        await tab2.recv(wait=0.8)
    await tab1.close()
    await tab2.close()
    assert live.answerer.calls == 1
    assert count(live, Message, role="robot") == 1
