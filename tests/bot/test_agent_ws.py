"""/v1/agent over a real server: refused before the upgrade without a session or from a foreign
origin; an end user and an agent talking over real sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from testkit.agent_console import open_console, recv, sign_in_as
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio


async def status_of(live: LiveServer, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        await open_console(live, **kw)
    return info.value.response.status_code


async def test_refused_before_the_upgrade(live: LiveServer, make_tenant: MakeTenant) -> None:
    sign_in_as(live, make_tenant())
    assert await status_of(live, cookie=None) == 403
    assert await status_of(live, cookie="forged") == 403
    assert await status_of(live, origin="https://evil.example.com") == 403
    assert await status_of(live, origin="https://shop.example.com") == 403
    conn = await open_console(live)  # the server's own origin and a session: accepted
    queue = await recv(conn, "queue")
    assert queue["items"] == []
    await conn.close()


async def test_an_end_user_and_an_agent_over_real_sockets(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    sign_in_as(live, tenant)
    console = await open_console(live)
    chat = await Chat.start(live.ws_url, tenant.keys.site_key, locale="zh-CN")
    try:
        await talk(console, chat)
    finally:
        await chat.close()
        await console.close()


async def talk(console: ClientConnection, chat: Chat) -> None:
    await recv(console, "queue")
    assert chat.welcome is not None and chat.welcome["config"]["handoff"] is True
    await chat.send({"type": "handoff"})
    await chat.expect("ack")
    queued = await chat.expect("handoff")
    assert queued["status"] == "queued" and queued["position"] == 1
    queue = await recv(console, "queue")
    conv = queue["items"][0]["conversation"]
    await console.send(json.dumps({"type": "accept", "conversation": conv}))
    assigned = await recv(console, "assigned")
    assert [h["text"] for h in assigned["history"]] == ["转人工"]
    told = await chat.expect("handoff")
    assert told["status"] == "assigned" and told["agent"] == {"name": "小王"}
    await console.send(
        json.dumps({"type": "message", "conversation": conv, "id": "a1", "text": "<b>您好</b>"})
    )
    said = await chat.expect("agent.message")
    assert said["text"] == "<b>您好</b>" and "ai" not in said
    await chat.send({"type": "message", "id": "m1", "text": "我的快递到哪了"})
    await chat.expect("ack")
    # The agent's own message (to all its tabs) and the end user's, in either order.
    both = [(await recv(console, "conversation.message"))["message"] for _ in range(2)]
    by_role = {m["role"]: m["text"] for m in both}
    assert by_role == {"agent": "<b>您好</b>", "visitor": "我的快递到哪了"}
    # A visitor cannot speak the agent protocol.
    await chat.send({"type": "accept", "conversation": conv})
    error = await chat.expect("error")
    assert error["code"] == "bad_frame"
    await console.send(json.dumps({"type": "close", "conversation": conv}))
    ended = await chat.expect("ended")
    assert ended["reason"] == "agent"


async def test_a_real_agent_session_opens_the_console_and_an_admins_does_not(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    from core.accounts import Role, start_session
    from core.types import utcnow
    from testkit.admin import make_user

    lic = make_tenant().licensee.id
    db = live.services.db
    tokens = {}
    for role in (Role.AGENT, Role.ADMIN):
        user = make_user(db, role, licensee_id=lic, name="小李")
        with db.session() as s:
            tokens[role] = start_session(s, user, utcnow())
            s.commit()
    assert await status_of(live, cookie=tokens[Role.ADMIN]) == 403
    assert await status_of(live, cookie="not-a-session") == 403
    conn = await open_console(live, cookie=tokens[Role.AGENT])
    assert (await recv(conn, "queue"))["items"] == []
    await conn.close()
