"""The console on the real server: what an operator does there reaches open widgets at once
(through the bus, no restart)."""

from __future__ import annotations

import re
from datetime import timedelta

import anyio
import httpx
import pytest

from core.accounts import Role
from core.types import utcnow
from testkit.admin import PASSWORD, make_user
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def signed_in(live: LiveServer, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=live.url, follow_redirects=False)
    page = await client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = await client.post(
        "/admin/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert done.status_code == 303
    form = await client.get("/admin/password")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


async def test_maintenance_and_suspension_from_the_console_reach_open_widgets(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    owner = make_user(live.services.db, Role.OWNER)
    console = await signed_in(live, owner.email)
    try:
        soon = utcnow() + timedelta(hours=2)
        made = await console.post(
            "/admin/api/maintenance",
            json={
                "starts_at": soon.isoformat(),
                "ends_at": (soon + timedelta(hours=1)).isoformat(),
                "text": "数据库升级",
                "licensee_id": t.licensee.id,
                "forced_reason": "security patch",
            },
        )
        assert made.status_code == 201, made.text
        # The bus tells the watcher, which reads the windows again in the background.
        deadline = utcnow() + timedelta(seconds=5)
        while True:
            chat = await Chat.open(live.ws_url, t.keys.site_key)
            notice = (await chat.hello())["notice"]
            if notice is not None or utcnow() > deadline:
                break
            await chat.close()
            await anyio.sleep(0.1)
        assert notice is not None
        assert notice["kind"] == "maintenance" and notice["text"] == "数据库升级"

        suspended = await console.post(f"/admin/api/licensees/{t.licensee.id}/suspend")
        assert suspended.status_code == 200, suspended.text
        assert (await chat.expect("notice", wait=5))["kind"] == "suspended"
        assert await chat.close_code() == 4403
    finally:
        await console.aclose()


async def test_hand_off_rules_saved_in_the_console_reach_a_running_server(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    admin = make_user(live.services.db, Role.ADMIN, licensee_id=t.licensee.id)
    console = await signed_in(live, admin.email)
    chat = await Chat.start(live.ws_url, t.keys.site_key, locale="en")
    try:
        # Before: not a hand-off phrase, so the robot answers it (and the rules are cached).
        _ack, frames = await chat.ask("m1", "找客服")
        assert frames[-1]["type"] == "reply.end"
        saved = await console.post(
            f"/admin/licensees/{t.licensee.id}/handoff",
            data={"phrases": "找客服", "grace": "60"},
        )
        assert saved.status_code == 303, saved.text
        await chat.send({"type": "message", "id": "m2", "text": "找客服！"})
        assert (await chat.expect("ack"))["id"] == "m2"
        told = await chat.expect("handoff")  # no agent signed in: a message can be left
        assert told["status"] == "unavailable"
    finally:
        await chat.close()
        await console.aclose()
